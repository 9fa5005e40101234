"""A run: fit a method on data, write everything about it to one folder; predict, evaluate and report from it.

A run folder holds

- ``labels.csv``: one row per input row: the user's ``id``, ``cluster``, ``confidence``
  (how clearly the row belongs to its cluster, in [0, 1]) and ``outlier`` (1 when the row
  is unusually far from its cluster's centre: beyond the cluster's fence from
  :func:`deepclust.embed.outlier_fences`, kept in the model folder for ``predict``); an image
  file that could not be read has cluster -1 (``UNREADABLE``), confidence 0 and outlier 1;
- ``embedding.npy``: the learned embedding, one row per input row;
- ``metrics.json``: what was run and how well it clustered (internal scores, external ones
  when the data carries labels or ``evaluate`` was given them);
- ``model/``: the fitted front end and method (:func:`deepclust.io.models.save`);
- ``report.html``: the self-contained report (:mod:`deepclust.report`).

Every file is written atomically. The command line is a thin layer over these functions.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline

from deepclust.checkpoint import CheckpointOfAnotherFit
from deepclust.embed import outlier_fences
from deepclust.errors import InputError
from deepclust.io.models import CONFIG, STATE, WEIGHTS, load_model, read_config, save
from deepclust.io.write import is_temporary_of, write_atomic, write_json, write_labels
from deepclust.metrics import external_scores, internal_scores
from deepclust.objectives import soft_assignment
from deepclust.registry import get_method

logger = logging.getLogger("deepclust")

LABELS, EMBEDDING, METRICS, MODEL, REPORT = "labels.csv", "embedding.npy", "metrics.json", "model", "report.html"
#: The cluster of a row whose file could not be read (an image): it is in labels.csv, never clustered.
UNREADABLE = -1
RUN_FILES = (LABELS, EMBEDDING, METRICS, MODEL, REPORT)
#: A deep method's pretraining state while ``fit`` runs (deepclust.checkpoint); removed when it completes.
CHECKPOINT_FILE = "pretraining.ckpt"
BUILTIN_DIGITS = "digits (built in)"


@dataclass
class Run:
    """A fitted run: where it was written, the model, and what it found."""

    path: Path
    model: Any
    labels: np.ndarray
    embedding: np.ndarray
    metrics: dict[str, Any]


# ---------------------------------------------------------------------- fitting
def fit_run(
    loaded: Any,
    out: str | os.PathLike,
    *,
    method: str = "idec",
    n_clusters: int | str = "auto",
    seed: int = 0,
    device: str = "auto",
    epochs: int | None = None,
    params: dict[str, Any] | None = None,
    verbose: bool = True,
    overwrite: bool = False,
    source: str | None = None,
    source_options: dict[str, Any] | None = None,
    report: bool = True,
    report_data: Any = None,
    map_method: str = "umap",
) -> Run:
    """Fit ``method`` on ``loaded`` (a :class:`deepclust.embed.LoadedData`) and write the run folder ``out``.

    ``epochs`` sets every ``*_epochs`` parameter of the method; ``params`` sets any other.
    ``source`` and ``source_options`` (what :func:`deepclust.load` was given besides the path) are
    recorded, with a checksum of a source file, so that ``report`` can read the same rows again; ``report_data``
    replaces ``loaded.data`` for the report's examples (the demo shows its flat digit rows as images).
    """
    estimator = build_method(method, n_clusters, seed=seed, device=device, epochs=epochs, params=params, verbose=verbose, modality_params=loaded.method_params)
    out = prepare_run_folder(out, overwrite)
    front_end = loaded.front_end
    if front_end is not None:
        _set_if_present(front_end, random_state=seed, device=device)
    n = len(loaded.ids)
    start = time.perf_counter()
    if front_end is not None:
        logger.info("embedding %d %s rows with %s", n, loaded.modality, type(front_end).__name__)
        features = front_end.fit_transform(loaded.data)
    else:
        features = loaded.data
    readable = _readable_rows(front_end, n)  # an image file that could not be read is not clustered
    fitted = _take(features, readable)
    logger.info("fitting %s on %d rows of %d features", type(estimator).__name__, len(fitted), np.shape(fitted)[1])
    _fit_in_run_folder(estimator, fitted, out, overwrite)
    seconds = time.perf_counter() - start
    model = estimator if front_end is None else Pipeline([("embed", front_end), ("cluster", estimator)])

    embedding = estimator.transform(features)  # every row, so that embedding.npy lines up with labels.csv
    assigned, clustered_embedding = np.asarray(estimator.labels_), embedding[readable]
    distance = _distance_to_centre(estimator, clustered_embedding, assigned)
    fences = outlier_fences(distance, assigned)
    far = _is_outlier(distance, assigned, fences)
    scale = float(np.median(distance)) or 1.0
    sure = assignment_confidence(estimator, fitted, clustered_embedding, scale)

    metrics: dict[str, Any] = {
        "method": method,
        "class": type(estimator).__name__,
        "data": source,
        "modality": loaded.modality,
        "n_samples": n,
        "n_clusters": int(len(np.unique(assigned))),
        "n_clusters_requested": n_clusters,
        "seed": seed,
        "seconds": round(seconds, 2),
        "cluster_sizes": {str(c): int(s) for c, s in zip(*np.unique(assigned, return_counts=True))},
        "outliers": int(far.sum()),
        "mean_confidence": float(sure.mean()),
        "internal": internal_scores(clustered_embedding, assigned, random_state=seed),
    }
    if source_options:
        metrics["data_options"] = source_options
    if source is not None and Path(source).is_file():
        metrics["data_sha256"] = file_sha256(Path(source))
    if not readable.all():
        metrics["unreadable"] = int((~readable).sum())
    if loaded.labels is not None:
        metrics["external"] = external_scores(_take(loaded.labels, readable), assigned)
    labels, outlier, confidence = _on_rows(assigned, readable, UNREADABLE), _on_rows(far, readable, True), _on_rows(sure, readable, 0.0)
    from deepclust import __version__

    metrics["deepclust_version"] = __version__

    write_labels(out / LABELS, loaded.ids, labels, confidence, outlier)
    _write_npy(out / EMBEDDING, embedding)
    write_json(out / METRICS, _json_safe(metrics))
    metadata = {"modality": loaded.modality, "source": source, "outlier_fences": _json_safe(fences.tolist()), "distance_scale": scale}
    save(model, out / MODEL, metadata=metadata)
    run = Run(out, model, labels, embedding, metrics)
    if report:
        from deepclust.report import write_report

        logger.info("writing the report")
        write_report(
            out / REPORT,
            embedding[readable],
            labels[readable],
            model=model,
            metrics=metrics,
            ids=_take(loaded.ids, readable),
            confidence=confidence[readable],
            outlier=outlier[readable],
            truth=_take(loaded.labels, readable),
            modality=loaded.modality,
            data=_take(loaded.data if report_data is None else report_data, readable),
            title=f"deepclust: {type(estimator).__name__} on {Path(source).name if source else 'data'}",
            map_method=map_method,
            random_state=seed,
        )
    return run


def _readable_rows(front_end: Any, n: int) -> np.ndarray:
    """Boolean mask of the rows the front end could read: all but an image encoder's ``skipped_`` files."""
    readable = np.ones(n, dtype=bool)
    readable[list(getattr(front_end, "skipped_", {}))] = False
    return readable


def _on_rows(values: np.ndarray, readable: np.ndarray, fill: Any) -> np.ndarray:
    """``values`` of the readable rows spread over all rows, ``fill`` in the others."""
    spread = np.full(len(readable), fill, dtype=np.asarray(values).dtype)
    spread[readable] = values
    return spread


def _take(data: Any, rows: np.ndarray) -> Any:
    """The ``rows`` (a boolean mask or positions) of ``data``: an array, a DataFrame or a list; None stays None."""
    if data is None:
        return None
    if rows.dtype == bool:
        if rows.all():
            return data
        rows = np.flatnonzero(rows)
    if isinstance(data, pd.DataFrame):
        return data.iloc[rows]
    if isinstance(data, np.ndarray):
        return data[rows]
    return [data[i] for i in rows]


def _fit_in_run_folder(estimator: Any, X: Any, out: Path, overwrite: bool) -> None:
    """``estimator.fit(X)``; a deep method given no checkpoint of the user's saves its pretraining in the
    run folder ``out``, so that the same command run again after a stop resumes it. A checkpoint of
    another fit there (another command stopped) is replaced with ``overwrite`` and refused, saying so,
    without. The fitted model does not point into the folder."""
    if "checkpoint" not in estimator.get_params(deep=False) or estimator.checkpoint is not None:
        estimator.fit(X)
        return
    estimator.set_params(checkpoint=out / CHECKPOINT_FILE)
    try:
        try:
            estimator.fit(X)
        except CheckpointOfAnotherFit as err:
            if not overwrite:
                raise InputError(
                    f"{estimator.checkpoint}: the pretraining of another fit, stopped in this run folder; run that command "
                    "again to resume it, or pass --overwrite to start this one afresh"
                ) from err
            logger.warning("%s held the pretraining of another fit; starting afresh (--overwrite)", estimator.checkpoint)
            estimator.checkpoint.unlink()
            estimator.fit(X)
    except KeyboardInterrupt:
        if estimator.checkpoint.exists():
            logger.warning("stopped: training is saved in %s; run the same command again to resume it", estimator.checkpoint)
        raise
    estimator.set_params(checkpoint=None)


def prepare_run_folder(out: str | os.PathLike, overwrite: bool) -> Path:
    """``out``, created if needed; refuses a folder that already holds files unless ``overwrite``,
    but for a stopped fit's checkpoint, which the fit resumes."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file; choose a folder for the run")
    if out.is_dir() and any(not _of_checkpoint(path.name) for path in out.iterdir()) and not overwrite:
        raise InputError(f"output folder {out} is not empty; choose another, or pass --overwrite to replace the run in it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".deepclust-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write to output folder {out}: {err.strerror}") from err
    return out


def _of_checkpoint(name: str) -> bool:
    """Whether a run folder's file ``name`` is a stopped fit's checkpoint, or a temporary file of one that was being written."""
    return name == CHECKPOINT_FILE or is_temporary_of(name, CHECKPOINT_FILE)


def check_predict_output(out: str | os.PathLike, *, data: str | os.PathLike, run: str | os.PathLike, overwrite: bool) -> Path:
    """``predict``'s ``--out``, refused before any work when writing it would lose something.

    Never the input data or a file of the run folder (its labels.csv is the fit's); an existing
    file only with ``overwrite``; never a folder.
    """
    out = Path(out).expanduser()
    if str(out) in ("", ".") or out.is_dir():
        raise InputError(f"--out {out} is a folder; predict writes one CSV file, e.g. --out {Path(out) / 'labels.csv'}")
    if out.suffix.lower() in (".parquet", ".pq", ".npy", ".npz", ".json", ".tsv", ".xlsx"):
        raise InputError(f"--out {out}: predict writes CSV (id,cluster,confidence,outlier); name the file .csv")
    target = out.resolve()
    if target == Path(data).expanduser().resolve():
        raise InputError(f"--out {out} is the data being assigned; choose another file")
    run_folder = Path(run).expanduser().resolve()
    if run_folder.name == MODEL:
        run_folder = run_folder.parent
    if target.parent in (run_folder, run_folder / MODEL) and target.name in (*RUN_FILES, CONFIG, STATE, WEIGHTS):
        raise InputError(f"--out {out} is a file of the run {run_folder}; write the new labels outside it")
    if out.exists() and not overwrite:
        raise InputError(f"--out {out} already exists; choose another file, or pass --overwrite to replace it")
    return out


def build_method(
    name: str,
    n_clusters: int | str,
    *,
    seed: int,
    device: str,
    epochs: int | None,
    params: dict[str, Any] | None,
    verbose: bool,
    modality_params: dict[str, Any] | None = None,
) -> Any:
    """The registered method ``name`` with the run's settings; unknown parameters are an InputError."""
    cls = get_method(name)
    accepted = cls().get_params(deep=False)
    settings: dict[str, Any] = {**(modality_params or {}), "n_clusters": n_clusters, "random_state": seed, "device": device, "verbose": verbose}
    if epochs is not None:
        settings.update({key: epochs for key in accepted if key.endswith("epochs")})
    for key, value in (params or {}).items():
        if key not in accepted:
            raise InputError(f"method {name!r} has no parameter {key!r}; its parameters: {', '.join(sorted(accepted))}")
        settings[key] = tuple(value) if isinstance(value, list) else value
    estimator = cls(**{key: value for key, value in settings.items() if key in accepted})
    estimator.check_parameters()
    return estimator


def _set_if_present(estimator: Any, **values: Any) -> None:
    """Set the parameters ``estimator`` has among ``values`` (a front end's seed and device)."""
    accepted = estimator.get_params(deep=False)
    estimator.set_params(**{k: v for k, v in values.items() if k in accepted})


# ------------------------------------------------------ confidence and outliers
def assignment_confidence(estimator: Any, features: Any, embedding: np.ndarray, scale: float) -> np.ndarray:
    """How clearly each row belongs to its cluster, in [0, 1].

    The largest ``predict_proba`` where the method has one (DEC and IDEC: their Student's t soft
    assignment). Otherwise the largest Student's t soft assignment to ``cluster_centers_`` after
    dividing distances by ``scale`` (the median distance of a training row to its centre), so the
    value does not depend on the scale of the embedding: near 1 for a row close to one centre and
    far from the others, ``1 / n_clusters`` for a row midway between all.
    """
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(features), dtype=np.float64).max(axis=1)
    z = torch.as_tensor(np.asarray(embedding, dtype=np.float32) / scale)
    centres = torch.as_tensor(np.asarray(estimator.cluster_centers_, dtype=np.float32) / scale)
    return soft_assignment(z, centres, 1.0).max(dim=1).values.double().numpy()


def _distance_to_centre(estimator: Any, embedding: np.ndarray, labels: np.ndarray) -> np.ndarray:
    centres = np.asarray(estimator.cluster_centers_, dtype=np.float64)
    return np.linalg.norm(embedding - centres[labels], axis=1)


def _is_outlier(distance: np.ndarray, labels: np.ndarray, fences: np.ndarray) -> np.ndarray:
    limit = fences[labels]
    return np.isfinite(limit) & (distance > limit)


# ---------------------------------------------------------------- predict, evaluate
def predict_run(model_path: str | os.PathLike, loaded: Any, out_file: str | os.PathLike) -> np.ndarray:
    """Assign the rows of ``loaded`` with the saved model and write ``id,cluster,confidence,outlier`` to ``out_file``.

    ``model_path`` is a run folder or its ``model/`` folder.
    """
    folder = model_folder(model_path)
    metadata = read_config(folder).get("metadata", {})
    model = load_model(folder)
    front_end, estimator = (model[0], model[-1]) if isinstance(model, Pipeline) else (None, model)
    features = loaded.data if front_end is None else front_end.transform(loaded.data)
    readable = _readable_rows(front_end, len(loaded.ids))
    clustered = _take(features, readable)
    assigned = np.asarray(estimator.predict(clustered))
    clustered_embedding = estimator.transform(clustered)
    try:  # what fit_run kept beside the model; a model saved from Python has neither
        fences = np.array([np.nan if f is None else f for f in metadata.get("outlier_fences", [])], dtype=np.float64)
        scale = float(metadata.get("distance_scale") or 1.0)
    except (TypeError, ValueError) as err:
        raise InputError(f"{folder / 'config.json'}: its outlier fences or distance scale are not numbers ({err})") from err
    if len(fences) <= assigned.max(initial=-1):
        fences = np.full(int(assigned.max()) + 1, np.nan)
    far = _is_outlier(_distance_to_centre(estimator, clustered_embedding, assigned), assigned, fences)
    sure = assignment_confidence(estimator, clustered, clustered_embedding, scale)
    labels = _on_rows(assigned, readable, UNREADABLE)
    write_labels(out_file, loaded.ids, labels, _on_rows(sure, readable, 0.0), _on_rows(far, readable, True))
    return labels


def model_folder(path: str | os.PathLike) -> Path:
    """The model folder itself, or the ``model/`` folder of a run folder."""
    path = Path(path).expanduser()
    return path / MODEL if (path / MODEL / "config.json").exists() or (path / METRICS).exists() else path


def load_data_for(model_path: str | os.PathLike, data: str | os.PathLike, modality: str | None = None, **options: Any) -> Any:
    """Read ``data`` as the modality the saved model was fitted on; ``modality``, when given, must be that one."""
    from deepclust.embed import load

    saved = read_config(model_folder(model_path)).get("metadata", {}).get("modality")
    if modality is not None and saved is not None and modality != saved:
        raise InputError(f"the model in {model_path} was fitted on {saved} data, so it cannot assign {modality} data; drop --modality {modality}")
    return load(data, modality=modality or saved, **options)


def evaluate_run(run_path: str | os.PathLike, labels_file: str | os.PathLike) -> dict[str, float]:
    """Score the run's clusters against known classes; adds them to ``metrics.json`` and returns them.

    ``labels_file``: a ``.npy`` array, or a CSV/text file with one class per line (in the
    run's row order) or two columns ``id,class`` (matched to the run's ids). A header line is allowed.
    """
    run = Path(run_path).expanduser()
    ids, clusters, _, _ = read_labels_csv(run / LABELS)
    truth = read_truth(labels_file, ids)
    clustered = clusters != UNREADABLE  # unreadable files were not clustered, so they are not scored
    scores = external_scores(truth[clustered], clusters[clustered])
    metrics = _read_metrics(run)
    metrics["external"] = scores
    write_json(run / METRICS, _json_safe(metrics))
    return scores


def read_truth(path: str | os.PathLike, ids: np.ndarray) -> np.ndarray:
    """Known classes for the rows ``ids`` from ``path`` (see :func:`evaluate_run`)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"labels file {file} does not exist")
    if file.suffix.lower() == ".npy":
        try:
            values = np.load(file, allow_pickle=False)
        except ValueError as err:
            raise InputError(f"cannot read {file} as a NumPy array: {err}") from err
        if values.ndim != 1 or len(values) != len(ids):
            raise InputError(f"{file} must hold a 1-D array of {len(ids)} labels (one per row), got shape {values.shape}")
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise InputError(f"{file}: label {int(np.flatnonzero(~np.isfinite(values))[0])} is NaN or infinite; every row needs a class")
        return values
    try:
        rows = [row for row in csv.reader(io.StringIO(file.read_text())) if row]
    except UnicodeDecodeError as err:
        raise InputError(f"{file} is not a text file ({err})") from err
    by_id = {str(i): k for k, i in enumerate(ids)}
    if rows and all(len(row) >= 2 for row in rows):
        first = 1
        if rows[0][0] not in by_id:  # a header
            rows, first = rows[1:], 2
        truth = np.empty(len(ids), dtype=object)
        seen = np.zeros(len(ids), bool)
        for line, row in enumerate(rows, start=first):
            if row[0] not in by_id:
                raise InputError(f"{file}, line {line}: id {row[0]!r} is not a row of the run")
            if seen[by_id[row[0]]]:
                raise InputError(f"{file}, line {line}: id {row[0]!r} was given a label before; give each id once")
            if not row[-1].strip():
                raise InputError(f"{file}, line {line}: id {row[0]!r} has an empty label")
            truth[by_id[row[0]]], seen[by_id[row[0]]] = row[-1], True
        if not seen.all():
            raise InputError(f"{file} gives no label for {int((~seen).sum())} of the run's {len(ids)} rows (e.g. id {str(ids[~seen][0])!r})")
        return truth.astype(str)
    values = [row[0] for row in rows]
    separated = next((sep for sep in (";", "\t", "|") if all(sep in v for v in values[:20])), None)
    if values and separated:
        raise InputError(f"{file}: its lines are separated by {separated!r}; give id,label pairs separated by commas, or one label per line")
    if len(values) == len(ids) + 1 and values[0] not in values[1:]:
        values = values[1:]  # a header line: a value that no row has
    if len(values) != len(ids):
        raise InputError(f"{file} has {len(values)} labels but the run has {len(ids)} rows; give one label per row, or id,label pairs")
    return np.array(values)


# ---------------------------------------------------------------------- report
def report_run(run_path: str | os.PathLike, *, map_method: str = "umap") -> Path:
    """Write ``report.html`` of a run folder again from its files (and its data, if still readable)."""
    from deepclust.report import write_report

    run = Path(run_path).expanduser()
    metrics = _read_metrics(run)
    ids, labels, confidence, outlier = read_labels_csv(run / LABELS)
    try:
        embedding = np.load(run / EMBEDDING, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {run / EMBEDDING}: {err}") from err
    if len(embedding) != len(labels):
        raise InputError(
            f"{run / LABELS} has {len(labels)} rows but {run / EMBEDDING} has {len(embedding)}; "
            "these files are not from the same fit (fit the run again)"
        )
    model = load_model(run / MODEL)
    data, truth, note_source = None, None, metrics.get("data")
    if note_source == BUILTIN_DIGITS:
        from deepclust.datasets import load_digits

        digits, truth = load_digits()
        data = digits.reshape(-1, 8, 8)
    elif note_source is not None:
        try:
            loaded = load_data_for(run, note_source, metrics.get("modality"), **(metrics.get("data_options") or {}))
            rows = _rows_of_run(loaded, ids, metrics)
            data, truth = _take(loaded.data, rows), _take(loaded.labels, rows)
        except InputError as err:
            logger.warning("the report shows no examples: %s", err)
    clustered = labels != UNREADABLE
    return write_report(
        run / REPORT,
        embedding[clustered],
        labels[clustered],
        model=model,
        metrics=metrics,
        ids=_take(ids, clustered),
        confidence=confidence[clustered],
        outlier=outlier[clustered],
        truth=_take(truth, clustered),
        modality=metrics.get("modality"),
        data=_take(data, clustered),
        title=f"deepclust: {metrics.get('class', 'run')} on {Path(note_source).name if note_source else 'data'}",
        map_method=map_method,
        random_state=int(metrics.get("seed") or 0),
    )


def _rows_of_run(loaded: Any, ids: np.ndarray, metrics: dict[str, Any]) -> np.ndarray:
    """Positions in the data read again of the run's rows, in the run's order.

    Rows with ids of their own (an id column, image paths) are matched by id, so the source may
    have been reordered or grown; rows known only by position must be the same file, unchanged.
    """
    source, found = metrics["data"], np.asarray(loaded.ids).astype(str)
    if (metrics.get("data_options") or {}).get("id_column") or loaded.modality == "images":
        position = {name: k for k, name in enumerate(found)}
        if len(position) < len(found):
            raise InputError(f"{source} now repeats ids, so its rows cannot be matched to the run's")
        missing = [str(name) for name in ids if name not in position]
        if missing:
            raise InputError(f"{source} no longer holds {len(missing)} of the run's rows (e.g. id {missing[0]!r})")
        return np.array([position[name] for name in ids], dtype=np.int64)
    if len(found) != len(ids):
        raise InputError(f"{source} now has {len(found)} rows, the run {len(ids)}")
    if "data_sha256" in metrics and file_sha256(Path(source)) != metrics["data_sha256"]:
        raise InputError(f"{source} has changed since the fit, and its rows have no ids to match them by (fit with --id-column to keep them)")
    return np.arange(len(ids))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (a run records its source's, to notice a changed file)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ------------------------------------------------------------------ run files
def read_labels_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids as str, clusters as int, confidence, outlier flags)`` of a run's ``labels.csv``."""
    table = _read_labels_table(path)
    try:
        return (
            np.array([r["id"] for r in table]),
            np.array([int(r["cluster"]) for r in table]),
            np.array([float(r["confidence"]) for r in table]),
            np.array([r["outlier"] == "1" for r in table]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path} is not a deepclust labels file (id,cluster,confidence,outlier): {err}") from err


def _read_labels_table(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path} not found; is {path.parent} a folder written by `deepclust fit`?")
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _read_metrics(run: Path) -> dict[str, Any]:
    if not (run / METRICS).is_file():
        raise InputError(f"{run / METRICS} not found; is {run} a folder written by `deepclust fit`?")
    try:
        metrics = json.loads((run / METRICS).read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{run / METRICS} is not valid JSON ({err})") from err
    if not isinstance(metrics, dict):
        raise InputError(f"{run / METRICS} is not a deepclust metrics file: it holds a {type(metrics).__name__}, not an object")
    return metrics


def _write_npy(path: Path, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return write_atomic(path, buffer.getvalue())


def _json_safe(value: Any) -> Any:
    """NaN and infinity become null, so the files are strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
