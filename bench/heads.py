"""Choosing k, hierarchical clustering on a learned embedding, and distillation, on real data.

    python bench/heads.py                                  # every part, seeds 0 1 2
    python bench/heads.py --parts autok --seeds 0          # one part, one seed

Parts (each writes its own section of docs/benchmarks.md; results are kept in
bench/results/heads.json so parts and seeds can be run separately):
- autok: AEKMeans(n_clusters="auto") with the default k_range (2, 20) and criterion (silhouette)
  on digits, USPS and MNIST-test: the k it picks.
- ward: N2D on digits, then deepclust.Hierarchical(10, linkage="ward") on its UMAP manifold and
  on its autoencoder embedding; ACC and whether the linkage matrix is valid.
- distill: an N2D teacher on MNIST-test, then distill() a Student on 80% of the rows; agreement on
  the 20% held out, and assignment throughput (rows/s) of student and teacher on all 10000 rows.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.cluster.hierarchy import is_valid_linkage

from deepclust import N2D, AEKMeans, Hierarchical, distill
from deepclust.datasets import DATASETS, IMAGE_SHAPES, load
from deepclust.io import write_json
from deepclust.metrics import cluster_accuracy

from _sections import ROOT, update_section
from quality import commit, machine

RESULTS = ROOT / "bench" / "results" / "heads.json"


def auto_k(dataset: str, seed: int) -> dict:
    X, y = load(dataset)
    start = time.perf_counter()
    model = AEKMeans(n_clusters="auto", input_shape=IMAGE_SHAPES[dataset], random_state=seed).fit(X)
    return {"k": model.n_clusters_, "acc": cluster_accuracy(y, model.labels_), "seconds": time.perf_counter() - start}


def ward(seed: int) -> dict:
    X, y = load("digits")
    model = N2D(n_clusters=10, input_shape=IMAGE_SHAPES["digits"], random_state=seed).fit(X)
    result = {"n2d_acc": cluster_accuracy(y, model.labels_)}
    for name, Z in (("manifold", model.manifold_), ("embedding", model.transform(X))):
        tree = Hierarchical(10, linkage="ward").fit(Z)
        result[f"{name}_acc"] = cluster_accuracy(y, tree.labels_)
        result[f"{name}_valid"] = bool(is_valid_linkage(tree.linkage_matrix_))
    return result


def rows_per_second(predict, X: np.ndarray, repeats: int = 3) -> float:
    predict(X[:256])  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        predict(X)
    return repeats * len(X) / (time.perf_counter() - start)


def distillation(seed: int) -> dict:
    X, y = load("mnist_test")
    teacher = N2D(n_clusters=10, input_shape=IMAGE_SHAPES["mnist_test"], random_state=seed).fit(X)
    start = time.perf_counter()
    student = distill(teacher, X, random_state=seed)
    return {
        "teacher_acc": cluster_accuracy(y, teacher.labels_),
        "agreement": student.agreement_,
        "student_acc": cluster_accuracy(y, student.predict(X)),
        "distill_seconds": time.perf_counter() - start,
        "student_rows_per_s": rows_per_second(student.predict, X),
        "teacher_rows_per_s": rows_per_second(teacher.predict, X),
    }


def summary(runs: dict, key: str) -> str:
    """Mean ± std of a float over the seeds; other values (k, validity, commit) listed per seed."""
    values = [run[key] for run in runs.values()]
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if isinstance(values[0], float) else ",".join(map(str, values))


def render(results: dict) -> None:
    header = (
        f"Command: `python bench/heads.py`. Machine: {machine()}. Default parameters unless stated; every model is "
        "told its data set's image shape (`input_shape`), so USPS and MNIST-test train on rotated and shifted copies."
    )
    if "autok" in results:
        lines = [header, "`AEKMeans(n_clusters=\"auto\")`: k_range (2, 20), criterion silhouette on the pretrained embedding.", "",
                 "| dataset | seeds | chosen k | ACC at that k | seconds | commit |", "|---|---|---|---|---|---|"]
        for dataset in DATASETS:
            runs = results["autok"].get(dataset)
            if runs:
                lines.append(f"| {dataset} | {','.join(runs)} | {summary(runs, 'k')} | {summary(runs, 'acc')} | "
                             f"{np.mean([r['seconds'] for r in runs.values()]):.1f} | {summary(runs, 'commit')} |")
        update_section("Choosing the number of clusters (`bench/heads.py`)", "\n".join(lines))
    if "ward" in results:
        runs = results["ward"]
        lines = [header, "N2D on digits (10 clusters), then `Hierarchical(10, linkage=\"ward\")` on what it learned.", "",
                 "| input to ward | seeds | ACC | linkage matrix valid | commit |", "|---|---|---|---|---|",
                 f"| N2D's UMAP manifold | {','.join(runs)} | {summary(runs, 'manifold_acc')} | {summary(runs, 'manifold_valid')} | {summary(runs, 'commit')} |",
                 f"| N2D's autoencoder embedding | {','.join(runs)} | {summary(runs, 'embedding_acc')} | {summary(runs, 'embedding_valid')} | {summary(runs, 'commit')} |",
                 f"| (N2D's own GMM labels) | {','.join(runs)} | {summary(runs, 'n2d_acc')} | | {summary(runs, 'commit')} |"]
        update_section("Hierarchical clustering on a learned embedding (`bench/heads.py`)", "\n".join(lines))
    if "distill" in results:
        runs = results["distill"]
        lines = [header, "Teacher: N2D on MNIST-test. Student: `distill(teacher, X)` (MLP 784-256-128-10, 100 epochs of "
                 "cross-entropy with label smoothing 0.1 on rotated and shifted copies of 80% of the rows); agreement on the 20% it never saw. "
                 "Throughput: `predict` on all 10000 rows, rows per second.", "",
                 "| seeds | teacher ACC | student ACC | held-out agreement | student rows/s | teacher rows/s | speed-up | commit |",
                 "|---|---|---|---|---|---|---|---|"]
        student = np.mean([r["student_rows_per_s"] for r in runs.values()])
        teacher = np.mean([r["teacher_rows_per_s"] for r in runs.values()])
        lines.append(f"| {','.join(runs)} | {summary(runs, 'teacher_acc')} | {summary(runs, 'student_acc')} | {summary(runs, 'agreement')} | "
                     f"{student:,.0f} | {teacher:,.0f} | {student / teacher:.1f}x | {summary(runs, 'commit')} |")
        update_section("Distillation (`bench/heads.py`)", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["autok", "ward", "distill"], choices=["autok", "ward", "distill"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS, help="for autok")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}

    def save(part: str, key: str, result: dict, *path: str) -> None:
        node = results.setdefault(part, {})
        for step in path:
            node = node.setdefault(step, {})
        node[key] = {**result, "commit": commit()}
        write_json(RESULTS, results)
        print(part, *path, key, {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, flush=True)

    for seed in args.seeds:
        if "autok" in args.parts:
            for dataset in args.datasets:
                save("autok", str(seed), auto_k(dataset, seed), dataset)
        if "ward" in args.parts:
            save("ward", str(seed), ward(seed))
        if "distill" in args.parts:
            save("distill", str(seed), distillation(seed))
    render(results)


if __name__ == "__main__":
    main()
