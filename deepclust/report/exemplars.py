"""What each cluster looks like in the data's own terms, per modality.

Images: thumbnails of the most central members. Text: the terms that set a cluster apart
(class-based TF-IDF) and its most central documents. Series: mean and medoid curves.
Text and series use the front ends' own summaries (``describe_clusters``, ``cluster_profiles``).
Tables: each cluster's mean of every numeric column in standard deviations, and the most
common value of categorical columns. "Central" means closest to the cluster's mean in the
learned embedding.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.report import figures


def central_rows(embedding: np.ndarray, labels: np.ndarray, n: int) -> dict[int, np.ndarray]:
    """For each cluster, its ``n`` rows closest to the cluster's mean embedding, closest first."""
    rows = {}
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        distance = np.linalg.norm(embedding[members] - embedding[members].mean(axis=0), axis=1)
        rows[int(cluster)] = members[np.argsort(distance, kind="stable")[:n]]
    return rows


# ------------------------------------------------------------------------ images
def image_thumbnails(data: Any, rows: dict[int, np.ndarray], image_shape: Sequence[int] | None = None, size: int = 64) -> dict[int, list[str]]:
    """``data:`` URIs of PNG thumbnails of the given rows: image files, or an array of images.

    An array may be (n, H, W), (n, H, W, C), or flat (n, H*W*C) with ``image_shape`` given as
    (H, W) or (C, H, W) — the ``input_shape`` of the conv architecture.
    """
    return {cluster: [_thumbnail(_image(data, int(i), image_shape), size) for i in members] for cluster, members in rows.items()}


def _image(data: Any, i: int, image_shape: Sequence[int] | None) -> Any:
    from PIL import Image

    if not isinstance(data, np.ndarray):
        with Image.open(Path(data[i])) as image:
            return image.convert("RGB")
    pixels = np.asarray(data[i])
    if pixels.dtype == np.uint8 and pixels.ndim in (2, 3):
        return Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels)
    pixels = pixels.astype(np.float64)
    if pixels.ndim == 1 and image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        pixels = pixels.reshape(shape)
        if len(shape) == 3:  # (C, H, W) -> (H, W, C)
            pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    low, high = pixels.min(), pixels.max()
    scaled = np.zeros_like(pixels) if high == low else (pixels - low) / (high - low)
    return Image.fromarray((scaled * 255).round().astype(np.uint8))


def _thumbnail(image: Any, size: int) -> str:
    from PIL import Image

    image = image.copy()
    if max(image.size) < size:  # small images (8x8 digits) are enlarged without blurring
        scale = size // max(image.size)
        image = image.resize((image.size[0] * scale, image.size[1] * scale), Image.NEAREST)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# -------------------------------------------------------------------------- text
def text_summary(docs: Sequence[str], labels: np.ndarray, embedding: np.ndarray, n_terms: int = 8, n_docs: int = 5, chars: int = 240) -> dict[int, dict[str, list[str]]]:
    """Per cluster: top terms (class-based TF-IDF) and its most central documents, shortened.

    The work is :func:`deepclust.embed.describe_clusters`'; this only orders and trims it for the page.
    """
    from deepclust.embed import describe_clusters

    described = {d.cluster: d for d in describe_clusters(docs, labels, embedding, n_terms=n_terms, n_docs=n_docs)}
    return {
        cluster: {"terms": [term for term, _ in d.terms], "documents": [_shorten(str(docs[int(i)]), chars) for i in d.central_docs]}
        for cluster, d in sorted(described.items())
    }


def _shorten(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


# ------------------------------------------------------------------------ series
def rows_per_cluster(labels: np.ndarray, cap: int, random_state: int = 0) -> np.ndarray:
    """Sorted rows: all rows of a cluster with at most ``cap`` of them, a uniform sample of ``cap`` of a larger one.

    A sample per cluster, not of all rows, so that a small cluster keeps its rows next to large ones.
    """
    rng = np.random.default_rng(random_state)
    kept = []
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        kept.append(members if len(members) <= cap else rng.choice(members, cap, replace=False))
    return np.sort(np.concatenate(kept))


def series_curves(series: Any, labels: np.ndarray, encoder: Any = None) -> dict[int, dict[str, np.ndarray]]:
    """Per cluster: mean and medoid of its prepared series (first channel), from :func:`deepclust.embed.cluster_profiles`.

    ``encoder`` is the fitted :class:`~deepclust.embed.SeriesEncoder` of the run, so the
    curves are resampled, normalised and aligned as the clustering saw them.
    """
    from deepclust.embed import cluster_profiles

    def first_channel(curve: np.ndarray) -> np.ndarray:
        return curve if curve.ndim == 1 else curve[:, 0]

    return {
        cluster: {"mean": first_channel(p.mean), "medoid": first_channel(p.medoid)}
        for cluster, p in sorted(cluster_profiles(series, labels, encoder=encoder).items())
    }


# ------------------------------------------------------------------------ tables
def table_profile(table: Any, labels: np.ndarray, max_features: int = 30, max_categorical: int = 10) -> dict[str, Any]:
    """Cluster means of numeric columns as z-scores (the columns that differ most first) and the modes of
    the first ``max_categorical`` categorical columns."""
    import pandas as pd

    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(np.asarray(table)).rename(columns=lambda c: f"feature {c}")
    numeric = frame.select_dtypes("number")
    clusters = np.unique(labels)
    profile = {"clusters": [int(c) for c in clusters], "figure": None, "categorical": []}
    if numeric.shape[1]:
        std = numeric.std(ddof=0).replace(0, np.nan)
        z = numeric.groupby(labels).mean().sub(numeric.mean()).div(std).fillna(0.0)
        order = z.abs().max(axis=0).sort_values(ascending=False).index[:max_features]
        profile["figure"] = figures.profile_figure(z[order].to_numpy(), [str(c) for c in order], profile["clusters"])
        profile["n_numeric"] = numeric.shape[1]
        profile["n_shown"] = len(order)
    categorical = frame.drop(columns=numeric.columns)
    profile["n_categorical"] = categorical.shape[1]
    for column in categorical.columns[:max_categorical]:
        modes = categorical[column].groupby(labels).agg(lambda v: v.value_counts().index[0] if v.notna().any() else "")
        profile["categorical"].append({"column": str(column), "modes": [str(modes.get(c, "")) for c in clusters]})
    return profile
