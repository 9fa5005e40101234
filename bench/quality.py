"""Clustering quality and speed of every registered method, with scikit-learn KMeans beside them.

    python bench/quality.py                                   # all methods, all datasets, seeds 0 1 2
    python bench/quality.py --datasets digits --seeds 0       # a quick subset

Each (dataset, method, seed) result is saved to bench/results/quality.json as it finishes, so a
long run can be split over several invocations; docs/benchmarks.md is rendered from every
result saved there. Also measures training throughput: samples/s and achieved GFLOP/s of IDEC's
pretraining beside the GFLOP/s of plain torch.matmul calls of the same shapes in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from datetime import date

import numpy as np
import torch
from sklearn.cluster import KMeans

import deepclust
from deepclust.datasets import DATASETS, IMAGE_SHAPES, load
from deepclust.io import write_json
from deepclust.metrics import external_scores

from _sections import REPORT, ROOT, update_section

RESULTS = ROOT / "bench" / "results" / "quality.json"
BASELINE = "kmeans-raw"


def run_one(method: str, dataset: str, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
    start = time.perf_counter()
    if method == BASELINE:
        model = KMeans(n_clusters=10, n_init=10, random_state=seed).fit(X)
    else:
        # The image shape describes the data (as the images front end does); with it, training augments.
        model = deepclust.get_method(method)(n_clusters=10, input_shape=IMAGE_SHAPES[dataset], random_state=seed).fit(X)
    seconds = time.perf_counter() - start
    result = {**external_scores(y, model.labels_), "seconds": seconds, "commit": commit()}
    if method != BASELINE:
        result["pretrain_samples_per_s"] = model.history_["pretrain"].samples_per_second
        result["throughput"] = throughput(model)
    return result


def commit() -> str:
    """The checked-out commit, marked '+' when the tree has uncommitted changes: which code made a figure."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout
    return (head or "unknown") + ("+" if dirty.strip() else "")


def linear_shapes(model) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model.autoencoder_.modules() if isinstance(m, torch.nn.Linear)]


def throughput(model) -> dict:
    """Achieved training GFLOP/s (6 flops per weight per sample: forward, and backward twice) vs plain matmul."""
    shapes = linear_shapes(model)
    flops_per_sample = 6 * sum(i * o for i, o in shapes)
    achieved = model.history_["pretrain"].samples_per_second * flops_per_sample / 1e9
    dtype = torch.bfloat16 if model._pretrain_in_bfloat16() else torch.float32
    return {"train_gflops": achieved, "matmul_gflops": matmul_gflops(shapes, model.batch_size, dtype), "dtype": str(dtype)}


def matmul_gflops(shapes: list[tuple[int, int]], batch: int, dtype: torch.dtype, repeats: int = 30) -> float:
    """GFLOP/s of torch.matmul over the layers' forward shapes (batch x in) @ (in x out), in the pretraining's dtype."""
    operands = [(torch.randn(batch, i, dtype=dtype), torch.randn(i, o, dtype=dtype)) for i, o in shapes]
    for a, b in operands:
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        for a, b in operands:
            a @ b
    seconds = time.perf_counter() - start
    return repeats * sum(2 * batch * i * o for i, o in shapes) / seconds / 1e9


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def quality_rows(results: dict) -> dict[tuple[str, str], str]:
    """One table row per (dataset, method) saved in the results file."""
    rows = {}
    for dataset, by_method in results.items():
        for method, runs in by_method.items():
            seeds = sorted(runs, key=int)
            cell = lambda key: f"{np.mean([runs[s][key] for s in seeds]):.3f} ± {np.std([runs[s][key] for s in seeds]):.3f}"  # noqa: E731
            seconds = np.mean([runs[s]["seconds"] for s in seeds])
            commits = ",".join(sorted({runs[s].get("commit", "before 73e47ee") for s in seeds}))
            rows[dataset, method] = (
                f"| {dataset} | {method} | {','.join(seeds)} | {cell('acc')} | {cell('nmi')} | {cell('ari')} | {seconds:.1f} | {commits} |"
            )
    return rows


def published_rows() -> dict[tuple[str, str], str]:
    """Rows already in docs/benchmarks.md, so a partial rerun keeps the figures it did not redo."""
    if not REPORT.exists():
        return {}
    rows = {}
    for line in REPORT.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[0] in DATASETS:
            rows[cells[0], cells[1]] = line
    return rows


def render_quality(results: dict, command: str) -> str:
    rows = {**published_rows(), **quality_rows(results)}
    order = {name: i for i, name in enumerate(DATASETS)}
    lines = [
        f"Command: `{command}`. Machine: {machine()}. Default parameters of every method, `n_clusters=10`; "
        "each method is told the data set's image shape (`input_shape`, from `deepclust.datasets.IMAGE_SHAPES`), so "
        "it trains on randomly rotated and shifted copies (`augment=\"auto\"`); "
        "mean ± standard deviation over the seeds listed; seconds are wall time of the whole `fit` "
        "(pretraining included). `kmeans-raw` is scikit-learn `KMeans(n_init=10)` on the raw features. "
        "`commit` is the checked-out commit when each run finished ('+': with uncommitted changes; a process "
        "imports the code when it starts). The digits rows and the N2D and VaDE rows ran with nothing else on the cores; "
        "the other USPS and MNIST-test rows shared them with other benchmark jobs, so their seconds are inflated.",
        "",
        "| dataset | method | seeds | ACC | NMI | ARI | seconds | commit |",
        "|---|---|---|---|---|---|---|---|",
        *(rows[key] for key in sorted(rows, key=lambda k: (order[k[0]], k[1]))),
    ]
    return "\n".join(lines)


def render_throughput(results: dict) -> str:
    lines = [
        "Command: `python bench/quality.py` (the same runs as the quality table). "
        "Pretraining of the default dense autoencoder (batch 256), mean over methods and seeds. Achieved GFLOP/s "
        "counts 6 flops per weight per sample; the matmul column times plain `torch.matmul` of the same layer "
        "shapes, batch and dtype (bfloat16 where pretraining autocasts to it) in the same run.",
        "",
        "| dataset | samples/s | achieved GFLOP/s | plain matmul GFLOP/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for dataset in DATASETS:
        runs = [r for m, by_seed in results.get(dataset, {}).items() if m != BASELINE for r in by_seed.values()]
        if runs:
            rate = np.mean([r["pretrain_samples_per_s"] for r in runs])
            achieved = np.mean([r["throughput"]["train_gflops"] for r in runs])
            matmul = np.mean([r["throughput"]["matmul_gflops"] for r in runs])
            lines.append(f"| {dataset} | {rate:.0f} | {achieved:.1f} | {matmul:.1f} | {achieved / matmul:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, deepclust {deepclust.__version__}, {date.today().isoformat()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=[BASELINE, *deepclust.METHODS])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    results = load_results()
    for dataset in args.datasets:
        X, y = load(dataset)
        for method in args.methods:
            for seed in args.seeds:
                result = run_one(method, dataset, X, y, seed)
                results.setdefault(dataset, {}).setdefault(method, {})[str(seed)] = result
                write_json(RESULTS, results)
                print(f"{dataset:10s} {method:10s} seed {seed}: acc {result['acc']:.3f} nmi {result['nmi']:.3f} "
                      f"ari {result['ari']:.3f} {result['seconds']:.1f}s", flush=True)
    update_section("Clustering quality (`bench/quality.py`)", render_quality(results, "python bench/quality.py"))
    if any(results.get(d) for d in DATASETS):
        update_section("Training throughput", render_throughput(results))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
