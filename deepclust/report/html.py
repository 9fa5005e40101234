"""One self-contained HTML file about a clustering: opens offline, plotly.js is inside it."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import plotly.io as pio
import plotly.offline
from sklearn.pipeline import Pipeline

from deepclust.errors import InputError
from deepclust.io.write import write_atomic
from deepclust.report import exemplars, figures
from deepclust.report.projection import MIN_ROWS_PER_CLUSTER, map_2d

METRIC_NAMES = {
    "silhouette": ("silhouette", "in [-1, 1], higher is better"),
    "calinski_harabasz": ("Calinski-Harabasz", "higher is better"),
    "davies_bouldin": ("Davies-Bouldin", "lower is better"),
    "acc": ("accuracy (ACC)", "best one-to-one matching of clusters to classes"),
    "nmi": ("normalized mutual information (NMI)", "in [0, 1]"),
    "ari": ("adjusted Rand index (ARI)", "1 identical, about 0 random"),
    "purity": ("purity", "share of rows in their cluster's majority class"),
}
N_EXEMPLARS = 8
#: Each cluster's series profile (mean and medoid) comes from at most this many of its rows:
#: the medoid compares every pair of them.
MAX_SERIES_PER_CLUSTER = 1000


def render_report(
    embedding: np.ndarray,
    labels: np.ndarray,
    *,
    model: Any = None,
    metrics: Mapping[str, Any] | None = None,
    ids: Sequence[Any] | None = None,
    confidence: np.ndarray | None = None,
    outlier: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    modality: str | None = None,
    data: Any = None,
    image_shape: Sequence[int] | None = None,
    title: str = "deepclust report",
    map_method: str = "umap",
    max_points: int = 5000,
    random_state: int = 0,
) -> str:
    """The report as an HTML string.

    ``embedding`` and ``labels`` are required; everything else adds a section when given:
    ``model`` (the fitted method: loss curves, k-selection, dendrogram), ``metrics`` (the run's
    metrics.json), ``truth`` (known classes), ``modality`` and ``data`` (exemplars: ``"images"``
    with file paths or an image array, ``"text"`` with documents, ``"series"``, ``"tabular"``).
    """
    embedding, labels = _checked(embedding, labels, ids=ids, confidence=confidence, outlier=outlier, truth=truth, data=data)
    n = len(labels)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    metrics = dict(metrics or {})
    front_end = None
    if isinstance(model, Pipeline):
        front_end, model = model[0], model[-1]
    clusters, sizes = np.unique(labels, return_counts=True)

    projection = map_2d(embedding, labels=labels, method=map_method, max_points=max_points, random_state=random_state)
    hover = _hover(projection.rows, ids, labels, confidence, outlier, truth, data if modality == "text" else None)
    plots = {
        "map": figures.map_figure(projection, labels, hover, outlier),
        "sizes": figures.sizes_figure(dict(zip(clusters.tolist(), sizes.tolist()))),
    }
    history = getattr(model, "history_", None)
    if history:
        plots["losses"] = figures.loss_figure(history)
    k_scores = getattr(model, "k_scores_", None)
    if k_scores:
        plots["k_selection"] = figures.k_selection_figure(k_scores, int(model.n_clusters_), getattr(model, "k_criterion_", "score"))
    tree = getattr(model, "hierarchical_", model)
    if getattr(tree, "linkage_matrix_", None) is not None and len(tree.linkage_matrix_):
        plots["dendrogram"] = figures.dendrogram_figure(tree.linkage_matrix_, int(tree.n_clusters_))

    section = _exemplars(modality, data, embedding, labels, image_shape, front_end, plots)
    table = _cluster_table(clusters, sizes, labels, confidence, outlier, truth, section)
    rendered = {name: _to_html(fig, name) for name, fig in plots.items()}
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        summary=_summary(metrics, n, len(clusters), modality),
        projection=projection,
        min_rows_per_cluster=MIN_ROWS_PER_CLUSTER,
        clusters=table,
        metric_rows=_metric_rows(metrics),
        plots=rendered,
        exemplars=section,
        modality=modality,
        color=figures.cluster_color,
        plotly_js=plotly.offline.get_plotlyjs(),
    )


def write_report(path: str | os.PathLike, embedding: np.ndarray, labels: np.ndarray, **options: Any) -> Path:
    """Render the report (see :func:`render_report`) and write it atomically to ``path``."""
    return write_atomic(path, render_report(embedding, labels, **options))


# ----------------------------------------------------------------------- pieces
def _checked(embedding: Any, labels: Any, **per_row: Any) -> tuple[np.ndarray, np.ndarray]:
    """``embedding`` and ``labels`` as arrays, after checking that they (and each given ``per_row``
    input) describe the same rows; a clear InputError here instead of a traceback from a figure."""
    embedding, labels = np.asarray(embedding), np.asarray(labels)
    if embedding.ndim != 2 or embedding.shape[1] == 0:
        raise InputError(f"embedding must be a 2-D array (rows, dimensions), got shape {embedding.shape}")
    if len(embedding) < 2:
        raise InputError(f"the report needs at least 2 rows, got an embedding of {len(embedding)}")
    if embedding.dtype.kind not in "iuf":
        raise InputError(f"embedding must hold real numbers, got dtype {embedding.dtype}")
    if not np.isfinite(embedding).all():
        raise InputError(f"embedding has {int((~np.isfinite(embedding)).any(axis=1).sum())} row(s) with NaN or infinite values")
    if labels.shape != (len(embedding),):
        raise InputError(f"labels must have one entry per embedding row ({len(embedding)}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be integer cluster numbers, got dtype {labels.dtype}")
    for name, values in per_row.items():
        if values is not None and len(values) != len(embedding):
            raise InputError(f"{name} must have one entry per embedding row ({len(embedding)}), got {len(values)}")
    return embedding, labels


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("deepclust.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _to_html(fig: Any, name: str) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"plot-{name}", config={"displaylogo": False, "responsive": True})


def _hover(rows: np.ndarray, ids: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None, outlier: np.ndarray | None, truth: np.ndarray | None, docs: Any) -> list[str]:
    lines = []
    for i in rows:
        parts = [f"id: {figures.plotly_text(ids[i])}", f"cluster: {labels[i]}"]
        if confidence is not None:
            parts.append(f"confidence: {confidence[i]:.2f}")
        if outlier is not None and outlier[i]:
            parts.append("outlier")
        if truth is not None:
            parts.append(f"class: {figures.plotly_text(truth[i])}")
        if docs is not None:
            parts.append(figures.plotly_text(exemplars._shorten(str(docs[i]), 80)))
        lines.append("<br>".join(parts))
    return lines


def _exemplars(
    modality: str | None, data: Any, embedding: np.ndarray, labels: np.ndarray, image_shape: Sequence[int] | None, front_end: Any, plots: dict
) -> dict[str, Any]:
    """What the exemplar section shows; ``{"kind": None, "note": ...}`` when there is nothing to show."""
    if modality is None or data is None:
        return {"kind": None, "note": "The data were not available to the report, so no examples are shown."}
    if modality == "images":
        rows = exemplars.central_rows(embedding, labels, N_EXEMPLARS)
        return {"kind": "images", "thumbnails": exemplars.image_thumbnails(data, rows, image_shape)}
    if modality == "text":
        return {"kind": "text", "text": exemplars.text_summary(data, labels, embedding)}
    if modality == "series":
        rows = exemplars.rows_per_cluster(labels, MAX_SERIES_PER_CLUSTER)
        sample = data[rows] if isinstance(data, np.ndarray) else [data[i] for i in rows]
        clusters, counts = np.unique(labels, return_counts=True)
        sizes = dict(zip(clusters.tolist(), counts.tolist()))
        plots["series"] = figures.series_figure(exemplars.series_curves(sample, labels[rows], front_end), sizes)
        return {"kind": "series", "sampled": len(rows), "total": len(labels), "per_cluster": MAX_SERIES_PER_CLUSTER}
    if modality == "tabular":
        profile = exemplars.table_profile(data, labels)
        if profile["figure"] is not None:
            plots["profile"] = profile.pop("figure")
        return {"kind": "tabular", **profile}
    return {"kind": None, "note": f"No examples are shown for modality {modality!r}."}


def _cluster_table(clusters, sizes, labels, confidence, outlier, truth, section) -> list[dict[str, Any]]:  # noqa: ANN001
    rows = []
    for cluster, size in zip(clusters.tolist(), sizes.tolist()):
        members = labels == cluster
        row: dict[str, Any] = {"cluster": cluster, "color": figures.cluster_color(cluster), "size": size, "share": size / len(labels)}
        if confidence is not None:
            row["confidence"] = float(np.mean(confidence[members]))
        if outlier is not None:
            row["outliers"] = int(np.sum(outlier[members]))
        if truth is not None:
            values, counts = np.unique(truth[members], return_counts=True)
            row["majority"] = f"{values[counts.argmax()]} ({counts.max() / size:.0%})"
        if section.get("kind") == "text":
            row["terms"] = ", ".join(section["text"].get(cluster, {}).get("terms", []))
        rows.append(row)
    return rows


def _summary(metrics: Mapping[str, Any], n: int, k: int, modality: str | None) -> list[tuple[str, str]]:
    items = [("rows", f"{n:,}"), ("clusters", str(k))]
    if metrics.get("unreadable"):  # image files that could not be read were not clustered and are not shown
        items.insert(1, ("unreadable files (skipped)", str(metrics["unreadable"])))
    for key, label in (("method", "method"), ("data", "data"), ("seconds", "fit time (s)"), ("seed", "seed"), ("deepclust_version", "deepclust")):
        if metrics.get(key) is not None:
            items.append((label, str(metrics[key])))
    if modality:
        items.insert(0, ("modality", modality))
    if metrics.get("n_clusters_requested") == "auto":
        items.append(("number of clusters", "chosen automatically"))
    return items


def _metric_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for group, caption in (("internal", "internal (geometry of the embedding)"), ("external", "external (against the given labels)")):
        for key, value in (metrics.get(group) or {}).items():
            name, meaning = METRIC_NAMES.get(key, (key, ""))
            rows.append({"group": caption, "name": name, "value": _metric_value(value), "meaning": meaning})
    return rows


def _metric_value(value: Any) -> str:
    """A metric as shown: a number to 4 significant digits, "undefined" for None or NaN, anything else as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:.4g}"
    return str(value)
