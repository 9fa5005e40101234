"""Clustering quality and speed of every registered method, with scikit-learn KMeans beside them.

    python bench/quality.py                                   # all methods, all datasets, seeds 0 1 2
    python bench/quality.py --datasets digits --seeds 0       # a quick subset
    python bench/quality.py --throughput                      # training throughput only

Each (dataset, method, seed) result is saved to bench/results/quality.json as it finishes, so a
long run can be split over several invocations; docs/benchmarks.md is rendered from every
result saved there. ``--throughput`` measures the training loop itself, alone on the machine:
samples/s and achieved GFLOP/s of pretraining the default autoencoder in float32 and in
bfloat16, each beside plain torch.matmul calls of the same shapes and dtype in the same run, and
how a step's time splits into forward and backward, the Adam update and preparing the batch
(bench/results/throughput.json, by CPU: the table keeps the rows of other CPUs already published).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

import deepclust
from deepclust.datasets import DATASETS, IMAGE_SHAPES, load
from deepclust.io import write_json
from deepclust.metrics import external_scores
from deepclust.train import cpu_bfloat16, flushed_denormals

from _sections import REPORT, ROOT, update_section

RESULTS = ROOT / "bench" / "results" / "quality.json"
THROUGHPUT = ROOT / "bench" / "results" / "throughput.json"
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
    dtype = torch.bfloat16 if model._in_bfloat16() else torch.float32
    return {"train_gflops": achieved, "matmul_gflops": matmul_gflops(shapes, model.batch_size, dtype), "dtype": str(dtype)}


def seconds_per_call(work: Callable[[], object], repeats: int, warmup: int) -> float:
    """Mean wall seconds of ``work()`` over ``repeats`` calls, after ``warmup`` untimed ones
    (oneDNN builds its kernels on the first calls)."""
    for _ in range(warmup):
        work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats


def matmul_gflops(shapes: list[tuple[int, int]], batch: int, dtype: torch.dtype, repeats: int = 30) -> float:
    """GFLOP/s of torch.matmul over the layers' forward shapes (batch x in) @ (in x out), in the pretraining's dtype."""
    operands = [(torch.randn(batch, i, dtype=dtype), torch.randn(i, o, dtype=dtype)) for i, o in shapes]
    seconds = seconds_per_call(lambda: [a @ b for a, b in operands], repeats, warmup=1)
    return sum(2 * batch * i * o for i, o in shapes) / seconds / 1e9


def step_milliseconds(model, X: np.ndarray, repeats: int = 30) -> dict:
    """Where a pretraining step's time goes: forward and backward alone, then with the Adam update.

    Timed on a copy of the fitted autoencoder and one fixed batch of rows (no augmentation, no
    batch gathering), in the pretraining's precision, so the loop's own time per batch minus
    ``step_ms`` is what preparing the batch costs. Plain timing, not torch.profiler, which slowed
    the step it measured from 11.5 to 19 ms.
    """
    ae = copy.deepcopy(model.autoencoder_).train()
    x = torch.from_numpy(X[: model.batch_size]).to(model.device_)
    optimizer = torch.optim.Adam(ae.parameters(), lr=1e-3, fused=True)  # as in deepclust.train
    bfloat16 = model._in_bfloat16()

    def forward_backward() -> None:
        with torch.autocast(model.device_.type, dtype=torch.bfloat16, enabled=bfloat16):
            loss = F.mse_loss(ae(x)[1], x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()

    def step() -> None:
        forward_backward()
        optimizer.step()

    with flushed_denormals():
        return {
            "forward_backward_ms": seconds_per_call(forward_backward, repeats, warmup=5) * 1000,
            "step_ms": seconds_per_call(step, repeats, warmup=5) * 1000,
        }


def measure_throughput(dataset: str, X: np.ndarray, precision: str) -> dict:
    """Pretraining speed of the default autoencoder (as every method trains it) in one precision.

    AEKMeans with the data set's image shape, so image rows are augmented as in the quality runs;
    the epochs are "auto" (100 on digits, 50 on USPS and MNIST-test), which amortises the first
    epoch's one-off set-up (oneDNN builds a kernel per batch shape).
    """
    model = deepclust.AEKMeans(n_clusters=10, input_shape=IMAGE_SHAPES[dataset], precision=precision, random_state=0).fit(X)
    return {
        "samples_per_s": model.history_["pretrain"].samples_per_second,
        **throughput(model),
        **step_milliseconds(model, X),
        "batch_size": model.batch_size,
        "commit": commit(),
        "machine": machine(),
    }


def load_results(path: Path = RESULTS) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def quality_rows(results: dict) -> dict[tuple[str, str, str], str]:
    """One table row per (cpu, dataset, method) saved in the results file."""
    rows = {}
    for cpu_name, by_dataset in results.items():
        for dataset, by_method in by_dataset.items():
            for method, runs in by_method.items():
                seeds = sorted(runs, key=int)
                cell = lambda key: f"{np.mean([runs[s][key] for s in seeds]):.3f} ± {np.std([runs[s][key] for s in seeds]):.3f}"  # noqa: E731
                seconds = np.mean([runs[s]["seconds"] for s in seeds])
                commits = ",".join(sorted({runs[s]["commit"] for s in seeds}))
                rows[cpu_name, dataset, method] = (
                    f"| {cpu_name} | {dataset} | {method} | {','.join(seeds)} | {cell('acc')} | {cell('nmi')} | {cell('ari')} "
                    f"| {seconds:.1f} | {commits} |"
                )
    return rows


def published_rows() -> dict[tuple[str, str, str], str]:
    """Rows already in docs/benchmarks.md, so a partial rerun keeps the figures it did not redo."""
    if not REPORT.exists():
        return {}
    rows = {}
    for line in REPORT.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[1] in DATASETS:
            rows[cells[0], cells[1], cells[2]] = line
    return rows


def render_quality(results: dict, command: str) -> str:
    rows = {**published_rows(), **quality_rows(results)}
    order = {name: i for i, name in enumerate(DATASETS)}
    lines = [
        f"Command: `{command}`. Machine of the latest run: {machine()}; `cpu` names the CPU of each row "
        "(training speed, and with bfloat16 the embedding learnt, differ between CPUs). Default parameters of every method, `n_clusters=10`; "
        "each method is told the data set's image shape (`input_shape`, from `deepclust.datasets.IMAGE_SHAPES`), so "
        "it trains on randomly rotated and shifted copies (`augment=\"auto\"`); "
        "mean ± standard deviation over the seeds listed; seconds are wall time of the whole `fit` "
        "(pretraining included). `kmeans-raw` is scikit-learn `KMeans(n_init=10)` on the raw features. "
        "`commit` is the checked-out commit when each run finished ('+': with uncommitted changes; a process "
        "imports the code when it starts). Every row ran with nothing else on the cores except the Intel USPS and "
        "MNIST-test rows of kmeans-raw, aekmeans and hierarchical, which may have shared them with other benchmark jobs, so their seconds are inflated.",
        "",
        "| cpu | dataset | method | seeds | ACC | NMI | ARI | seconds | commit |",
        "|---|---|---|---|---|---|---|---|---|",
        *(rows[key] for key in sorted(rows, key=lambda k: (order[k[1]], k[2], k[0]))),
    ]
    return "\n".join(lines)


def loop_ms(run: dict) -> float:
    """Milliseconds per batch of a throughput run's training loop."""
    return run["batch_size"] * 1000 / run["samples_per_s"]


THROUGHPUT_COLUMNS = (
    "cpu", "dataset", "precision", "samples/s", "achieved GFLOP/s", "plain matmul GFLOP/s", "ratio",
    "ms: loop", "fwd+bwd", "Adam", "batch", "fwd+bwd ratio", "commit",
)


def throughput_row(cpu_name: str, dataset: str, precision: str, run: dict) -> dict[str, str]:
    """One table row of a throughput run: the loop's rate, and how a batch's milliseconds split into
    forward and backward, the Adam update and the rest (gathering rows, rotating and shifting images)."""
    loop, forward_backward, step = loop_ms(run), run["forward_backward_ms"], run["step_ms"]
    return dict(zip(THROUGHPUT_COLUMNS, (
        cpu_name, dataset, precision, f"{run['samples_per_s']:.0f}", f"{run['train_gflops']:.1f}", f"{run['matmul_gflops']:.1f}",
        f"{run['train_gflops'] / run['matmul_gflops']:.2f}", f"{loop:.1f}", f"{forward_backward:.1f}",
        f"{step - forward_backward:.1f}", f"{loop - step:.1f}",
        f"{run['train_gflops'] * loop / forward_backward / run['matmul_gflops']:.2f}", run["commit"],
    )))


def published_throughput_rows() -> list[dict[str, str]]:
    """The throughput rows already in docs/benchmarks.md, so that a run on one CPU keeps the other CPUs' rows."""
    if not REPORT.exists():
        return []
    rows = []
    for line in REPORT.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(THROUGHPUT_COLUMNS) and cells[1] in DATASETS:
            rows.append(dict(zip(THROUGHPUT_COLUMNS, cells)))
    return rows


def span(rows: list[dict[str, str]], column: str) -> str:
    values = [float(row[column]) for row in rows]
    return f"{min(values)}-{max(values)}" if min(values) != max(values) else f"{values[0]}"


def render_throughput(results: dict) -> str:
    """The section: every CPU's rows (this run's, and those published before for other CPUs), then per CPU
    what the bfloat16 loop reaches and where its time goes."""
    rows = [throughput_row(cpu_name, dataset, precision, run)
            for cpu_name, by_dataset in results.items() for dataset, runs in by_dataset.items() for precision, run in runs.items()]
    rows += [row for row in published_throughput_rows() if row["cpu"] not in results]
    rows.sort(key=lambda row: (row["cpu"], DATASETS.index(row["dataset"]), row["precision"]))
    lines = [
        "Command: `python bench/quality.py --throughput`, alone on the machine; 2 torch threads, torch 2.13.0+cpu. "
        "Pretraining of the default dense autoencoder (d-500-500-2000-10 and back, batch 256, Adam; `AEKMeans`, seed 0, "
        "the data set's image shape, so USPS and MNIST-test rows are rotated and shifted as in the quality runs). "
        "Achieved GFLOP/s counts 6 flops per weight per sample; the matmul column times plain `torch.matmul` of "
        "the same layer shapes, batch and dtype in the same run. `precision=\"auto\"` (the default) is bfloat16 "
        "on both CPUs below, which compute it natively: with AMX tiles, or with AVX512-BF16 dot products.",
        "",
        "Milliseconds per batch: *loop* is the training loop's own rate; *fwd+bwd* and *Adam* time forward and "
        "backward, then the optimiser's update, on one fixed batch of a copy of the trained autoencoder; "
        "*batch* is the rest of the loop's time (gathering the rows, rotating and shifting images; timed "
        "separately, so it can come out slightly negative). *fwd+bwd ratio* is the GFLOP/s of forward and "
        "backward alone against plain matmul.",
        "",
        "| " + " | ".join(THROUGHPUT_COLUMNS) + " |",
        "|" + "---|" * len(THROUGHPUT_COLUMNS),
        *("| " + " | ".join(row[c] for c in THROUGHPUT_COLUMNS) + " |" for row in rows),
    ]
    for cpu_name in sorted({row["cpu"] for row in rows}):
        of_cpu = [row for row in rows if row["cpu"] == cpu_name]
        bf16 = [row for row in of_cpu if row["precision"] == "bfloat16"]
        f32 = [row for row in of_cpu if row["precision"] == "float32"]
        float32_rate = {row["dataset"]: float(row["samples/s"]) for row in f32}
        speedup = [float(row["samples/s"]) / float32_rate[row["dataset"]] for row in bf16 if row["dataset"] in float32_rate]
        if speedup:
            lines += [
                "",
                f"{cpu_name}: bfloat16 trains {min(speedup):.1f}-{max(speedup):.1f}x as many samples/s as float32; "
                f"its loop reaches {span(bf16, 'ratio')} of the plain bfloat16 matmul rate (float32: {span(f32, 'ratio')}), "
                f"forward and backward alone {span(bf16, 'fwd+bwd ratio')}; the Adam update takes {span(bf16, 'Adam')} ms "
                f"and preparing the batch {span(bf16, 'batch')} ms of {span(bf16, 'ms: loop')} ms per batch.",
            ]
    lines += [
        "",
        "Where bfloat16 matrix products are fastest (AMX, about 4x float32's), the memory-bound passes between them "
        "(autocast's casts of the float32 weights to bfloat16 and of their gradients back, ReLU, bias, loss) and "
        "the Adam update take a larger share of each batch, so the ratio is lowest there although the loop is fastest.",
    ]
    return "\n".join(lines)


def cpu() -> str:
    """The CPU's model name and how it computes bfloat16 (throughput depends on both)."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")] if info.exists() else []
    model = names[0] if names else platform.processor() or platform.machine()
    return f"{model}, {cpu_bfloat16() or 'no native bfloat16'}"


def machine() -> str:
    return (
        f"{cpu()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, deepclust {deepclust.__version__}, {date.today().isoformat()}"
    )


def run_throughput(datasets: list[str]) -> None:
    """``--throughput``: each data set in both precisions, saved as it finishes, then the section."""
    speeds = load_results(THROUGHPUT)  # {cpu: {dataset: {precision: run}}}
    for dataset in datasets:
        X, _ = load(dataset)
        for precision in ("float32", "bfloat16"):
            run = speeds.setdefault(cpu(), {}).setdefault(dataset, {})[precision] = measure_throughput(dataset, X, precision)
            write_json(THROUGHPUT, speeds)
            print(f"{dataset:10s} {precision:8s}: {run['samples_per_s']:.0f} samples/s, {run['train_gflops']:.1f} "
                  f"GFLOP/s, matmul {run['matmul_gflops']:.1f}", flush=True)
    update_section("Training throughput", render_throughput(speeds))
    print(f"wrote {REPORT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=[BASELINE, *deepclust.METHODS])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--throughput", action="store_true", help="measure training throughput only")
    args = parser.parse_args()
    if args.throughput:
        run_throughput(args.datasets)
        return
    results = load_results()  # {cpu: {dataset: {method: {seed: result}}}}
    for dataset in args.datasets:
        X, y = load(dataset)
        for method in args.methods:
            for seed in args.seeds:
                result = run_one(method, dataset, X, y, seed)
                results.setdefault(cpu(), {}).setdefault(dataset, {}).setdefault(method, {})[str(seed)] = result
                write_json(RESULTS, results)
                print(f"{dataset:10s} {method:10s} seed {seed}: acc {result['acc']:.3f} nmi {result['nmi']:.3f} "
                      f"ari {result['ari']:.3f} {result['seconds']:.1f}s", flush=True)
    update_section("Clustering quality (`bench/quality.py`)", render_quality(results, "python bench/quality.py"))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
