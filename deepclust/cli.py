"""The ``deepclust`` command line: parses arguments, calls the library, prints results."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from deepclust.errors import InputError

app = typer.Typer(help="Deep clustering: learn a representation of your data and cluster it.", no_args_is_help=True)


@app.command()
def methods() -> None:
    """List the clustering methods and what each does."""
    from deepclust.registry import METHODS

    for info in METHODS.values():
        typer.echo(f"{info.name:10s} {info.summary}")


@app.command()
def demo(
    method: Annotated[str, typer.Option(help="Method to run (see `deepclust methods`).")] = "idec",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for labels.csv and metrics.json.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Cluster scikit-learn's handwritten digits (1797 images, 10 classes) and score the result."""
    from deepclust.datasets import load_digits
    from deepclust.io import write_json, write_labels
    from deepclust.metrics import external_scores
    from deepclust.registry import get_method

    X, y = load_digits()
    model = get_method(method)(n_clusters=10, random_state=seed, verbose=not quiet)
    start = time.perf_counter()
    labels = model.fit_predict(X)
    scores = {**external_scores(y, labels), "seconds": round(time.perf_counter() - start, 2)}
    typer.echo(f"{type(model).__name__} on digits (seed {seed}): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    if out is not None:
        write_labels(out / "labels.csv", labels)
        write_json(out / "metrics.json", {"method": method, "dataset": "digits", "seed": seed, **scores})
        typer.echo(f"results written to {out}")


def main() -> None:
    """Entry point: input errors end with exit code 2 and one line, no traceback."""
    try:
        app()
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
