"""The ``deepclust`` command line: parses arguments, calls the library, prints results.

Exit codes: 0 done; 2 bad input or usage (one line on stderr, no traceback); 1 an
unexpected failure (with its traceback, to report as a bug).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from deepclust.embed.loading import MODALITIES
from deepclust.errors import InputError

app = typer.Typer(
    help="Deep clustering: learn a representation of your data (tables, images, text, time series) and cluster it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


Modality = StrEnum("Modality", {name: name for name in MODALITIES})


class MapMethod(StrEnum):
    umap = "umap"
    tsne = "tsne"
    pca = "pca"


MethodOption = Annotated[str, typer.Option("--method", "-m", help="Clustering method; `deepclust methods` lists them.")]
SeedOption = Annotated[int, typer.Option(help="Random seed: the same seed gives the same clusters.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or progress lines.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace the run in a folder that is not empty.")]
MapOption = Annotated[MapMethod, typer.Option("--map", help="How the report draws the embedding in 2-D.")]
ModalityOption = Annotated[
    Modality | None, typer.Option(help="Kind of data; detected from the path when left out (folder: images, .txt: text, .csv/.parquet/.npy: a table).")
]
DataOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--data-option",
        "-d",
        help="Option of the reader or front end as NAME=VALUE, e.g. -d method=tfidf (fast text embedding), -d column=body (text in a table); repeatable.",
    ),
]
IdColumnOption = Annotated[str | None, typer.Option("--id-column", help="Column of a table that identifies rows; it is not clustered and labels.csv uses it.")]


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="Data file or folder: a table (.csv .tsv .parquet .npy), text (.txt, one document per line), series, or a folder of images.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the run: labels.csv, embedding.npy, metrics.json, model/, report.html.", show_default=False)],
    method: MethodOption = "idec",
    clusters: Annotated[str, typer.Option("--clusters", "-k", help="Number of clusters, or 'auto' to choose it from 2 to 20 on the embedding (silhouette where it finds clear structure, else dense groups of a UMAP layout).")] = "auto",
    modality: ModalityOption = None,
    id_column: IdColumnOption = None,
    data_option: DataOptions = None,
    seed: SeedOption = 0,
    device: Annotated[str, typer.Option(help="'auto' (a GPU when there is one), 'cpu', 'cuda' or 'cuda:N'.")] = "auto",
    epochs: Annotated[int | None, typer.Option(min=0, help="Epochs of every training phase (pretraining and clustering); default: the method's own.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Any other method parameter as NAME=VALUE, e.g. -p hidden_dims=[256,64]; repeatable.")] = None,
    map_method: MapOption = MapMethod.umap,
    quiet: QuietOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Cluster DATA and write a run folder with labels, embedding, metrics, the model and an HTML report."""
    from deepclust.embed import load
    from deepclust.registry import get_method
    from deepclust.runs import fit_run

    get_method(method)  # an unknown name fails before any data is read
    n_clusters = _parse_clusters(clusters)
    params = _parse_pairs(param or [], "--param")
    options = _data_options(data_option, id_column)
    loaded = load(data, modality=modality.value if modality else None, **options)
    run = fit_run(
        loaded, out, method=method, n_clusters=n_clusters, seed=seed, device=device, epochs=epochs, params=params,
        verbose=not quiet, overwrite=overwrite, source=str(data.expanduser().resolve()), source_options=options, map_method=map_method.value,
    )
    m = run.metrics
    silhouette = m["internal"].get("silhouette")
    typer.echo(
        f"{m['class']} found {m['n_clusters']} clusters in {m['n_samples']:,} rows ({m['modality']}) in {m['seconds']:.1f} s"
        + (f" (silhouette {silhouette:.3f})" if silhouette == silhouette else "")
    )
    if "external" in m:
        typer.echo("against the labels in the data: " + _scores(m["external"]))
    typer.echo(f"run written to {run.path}")
    typer.echo(f"report: {run.path / 'report.html'}")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A run folder from `deepclust fit`, or its model/ folder.", show_default=False)],
    data: Annotated[Path, typer.Argument(help="New data of the same kind and columns as the model was fitted on.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write: id, cluster, confidence, outlier.", show_default=False)],
    modality: ModalityOption = None,
    id_column: IdColumnOption = None,
    data_option: DataOptions = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the --out file if it exists.")] = False,
) -> None:
    """Assign the rows of DATA to the clusters of a saved model."""
    from deepclust.runs import check_predict_output, load_data_for, predict_run

    check_predict_output(out, data=data, run=model_dir, overwrite=overwrite)
    loaded = load_data_for(model_dir, data, modality.value if modality else None, **_data_options(data_option, id_column))
    labels = predict_run(model_dir, loaded, out)
    typer.echo(f"{len(labels):,} rows assigned to clusters; written to {out}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder from `deepclust fit`.", show_default=False)],
    map_method: MapOption = MapMethod.umap,
) -> None:
    """Write the run's report.html again (e.g. after its data moved back into place)."""
    from deepclust.runs import report_run

    typer.echo(f"report: {report_run(run_dir, map_method=map_method.value)}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder from `deepclust fit`.", show_default=False)],
    labels: Annotated[Path, typer.Option("--labels", "-l", help="Known classes: one per line in row order, id,class lines, or a .npy array.", show_default=False)],
) -> None:
    """Score a run's clusters against known classes (accuracy, NMI, ARI, purity) and add them to metrics.json."""
    from deepclust.runs import evaluate_run

    typer.echo(_scores(evaluate_run(run_dir, labels)))
    typer.echo(f"added to {run_dir / 'metrics.json'}")


@app.command()
def methods() -> None:
    """List the clustering methods and what each does."""
    from deepclust.registry import METHODS

    width = max(len(name) for name in METHODS)
    for info in METHODS.values():
        typer.echo(f"{info.name:{width}s}  {info.summary}")


@app.command()
def demo(
    method: MethodOption = "idec",
    seed: SeedOption = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the run; default: a new temporary folder.")] = None,
    epochs: Annotated[int | None, typer.Option(min=0, help="Epochs of every training phase; default: the method's own.")] = None,
    map_method: MapOption = MapMethod.umap,
    quiet: QuietOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Cluster scikit-learn's handwritten digits (1797 images, 10 classes), score the result and write a report."""
    import numpy as np

    from deepclust.datasets import load_digits
    from deepclust.embed import LoadedData
    from deepclust.runs import BUILTIN_DIGITS, fit_run

    X, y = load_digits()
    loaded = LoadedData("images", X, np.arange(len(X)), y, None, {})
    folder = out if out is not None else Path(tempfile.mkdtemp(prefix="deepclust-demo-"))
    run = fit_run(
        loaded, folder, method=method, n_clusters=10, seed=seed, epochs=epochs, verbose=not quiet, overwrite=overwrite,
        source=BUILTIN_DIGITS, report_data=X.reshape(-1, 8, 8), map_method=map_method.value,
    )
    scores = {**run.metrics["external"], "seconds": run.metrics["seconds"]}
    typer.echo(f"{run.metrics['class']} on digits (seed {seed}): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    typer.echo(f"report: {run.path / 'report.html'}")


# ----------------------------------------------------------------------- helpers
def _parse_clusters(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise InputError(f"--clusters must be a positive integer or 'auto', got {value!r}")
    return k


def _parse_pairs(pairs: list[str], option: str) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; a VALUE that reads as JSON (numbers, lists, true/false, null) is taken as such."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{option} expects NAME=VALUE, got {pair!r}")
        try:
            params[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[name.strip()] = value
    return params


def _data_options(pairs: list[str] | None, id_column: str | None) -> dict[str, Any]:
    options = _parse_pairs(pairs or [], "--data-option")
    if id_column:
        options["id_column"] = id_column
    return options


def _scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in scores.items())


@contextmanager
def _output(quiet: bool) -> Iterator[None]:
    """Progress lines from the library to stderr (unless --quiet), and warnings as one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("deepclust: %(message)s"))
    logger = logging.getLogger("deepclust")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecation notices are for developers, not users
        warnings.showwarning = lambda message, category, *args, **kwargs: typer.echo(f"warning: {message}", err=True)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _run() -> int:
    """Run the command line; the exit code: 0 done, 2 bad input or usage, 1 unexpected failure."""
    try:
        code = app(standalone_mode=False)
    except TyperException as err:  # usage: a missing argument, an unknown option, a bad value
        ctx = getattr(err, "ctx", None)
        if type(err).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help(), err=True)
        else:
            command = f" {ctx.info_name}" if ctx is not None and ctx.parent is not None else ""
            typer.echo(f"error: {_one_line(err.format_message())} (see `deepclust{command} --help`)", err=True)
        return 2
    except InputError as err:
        typer.echo(f"error: {_one_line(str(err))}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except Exception:  # noqa: BLE001 - the last resort: show the bug, exit 1
        traceback.print_exc()
        typer.echo("error: unexpected failure; this is a bug in deepclust, please report it with the traceback above", err=True)
        return 1
    return code if isinstance(code, int) else 0


def main() -> None:
    """Entry point of the ``deepclust`` script."""
    with _output(quiet="--quiet" in sys.argv or "-q" in sys.argv):
        code = _run()
    sys.exit(code)
