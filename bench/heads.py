"""Choosing k, hierarchical clustering on a learned embedding, and distillation, on real data.

    python bench/heads.py                                  # every part, seeds 0 1 2
    python bench/heads.py --parts autok --seeds 0          # one part, one seed

Parts (each writes its own section of docs/benchmarks.md; results are kept in
bench/results/heads.json so parts and seeds can be run separately):
- autok: AEKMeans(n_clusters="auto") with the default k_range (2, 20) and criterion ("auto": silhouette where clear, else density)
  on digits, USPS and MNIST-test: the k it picks.
- autok_n2d: the same for N2D(n_clusters="auto"), whose manifold reuses density's layout when it picks 10.
- candidates: the alternative select_n_clusters' docstring reports as not adopted. On the pretrained
  embedding of each seed, k in 2..20 by silhouette on the embedding, with random states 0-2, of
  k-means candidates (select_n_clusters by silhouette) and of Gaussian mixtures on a 10-d UMAP layout
  of the embedding (N2D's clustering): the k each picks.
- ward: N2D on digits, then deepclust.Hierarchical(10, linkage="ward") on its manifold (t-SNE's on
  digits, of the input or the embedding as manifold_of="auto" keeps), on the embedding's t-SNE map,
  on its autoencoder embedding, and on the UMAP manifold of N2D(manifold="umap"); ACC and whether
  the linkage matrix is valid.
- manifolds: N2D's clustering (cluster_on_manifold: a layout, then a Gaussian mixture) of the
  embedding of AEKMeans(n_clusters=10) of each seed, on UMAP's layout and on t-SNE's map, on
  digits, USPS and MNIST-test: ACC and seconds of each (why manifold="auto" picks t-SNE below 5,000 rows).
- sources: what N2D's manifold_of="auto" compares below 5,000 rows, on every data set and on 3,000-row
  samples of USPS and MNIST-test: N2D's clustering (cluster_on_manifold, manifold="auto") of the
  embedding of AEKMeans(n_clusters=10) of each seed and of the input (layout_rows: its first 50
  principal components), ACC and the silhouette on the layout (more_clustered's score) of each.
- distill: a teacher (IDEC and N2D, each with default parameters) on MNIST-test, then distill() a
  Student on 80% of the rows; agreement on the 20% held out, and assignment throughput (rows/s) of
  student and teacher on all 10000 rows.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
from scipy.cluster.hierarchy import is_valid_linkage
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from deepclust import IDEC, N2D, AEKMeans, Hierarchical, distill
from deepclust.cluster import select_n_clusters
from deepclust.cluster.manifold import cluster_on_manifold, layout_rows, manifold_layout, more_clustered, umap_layout
from deepclust.datasets import DATASETS, IMAGE_SHAPES, load
from deepclust.io import write_json
from deepclust.metrics import cluster_accuracy

from _sections import ROOT, update_section
from quality import commit, machine

RESULTS = ROOT / "bench" / "results" / "heads.json"
NESTED = ("autok", "autok_n2d", "candidates", "manifolds", "sources", "distill")  # parts whose results are kept per data set or teacher, then per seed


AUTO_K = {"autok": AEKMeans, "autok_n2d": N2D}  # part -> method whose n_clusters="auto" it measures


def auto_k(method: type, dataset: str, seed: int) -> dict:
    X, y = load(dataset)
    start = time.perf_counter()
    model = method(n_clusters="auto", input_shape=IMAGE_SHAPES[dataset], random_state=seed).fit(X)
    return {"k": model.n_clusters_, "criterion": model.k_criterion_, "acc": cluster_accuracy(y, model.labels_), "seconds": time.perf_counter() - start}


def kmeans_candidates_k(Z: np.ndarray, seed: int) -> int:
    """k in 2..20 as select_n_clusters picks it: k-means candidates, silhouette on Z."""
    return select_n_clusters(Z, criterion="silhouette", random_state=seed).best_k


def manifold_candidates_k(Z: np.ndarray, seed: int) -> int:
    """k in 2..20 whose Gaussian mixture on a 10-d UMAP layout of Z has the best silhouette on Z."""
    layout = umap_layout(Z, 10, n_neighbors=20, min_dist=0.0, seed=seed)
    scores = {}
    for k in range(2, 21):
        labels = GaussianMixture(k, n_init=3, random_state=seed).fit(layout).predict(layout)
        scores[k] = silhouette_score(Z, labels, sample_size=5000 if len(Z) > 5000 else None, random_state=seed)
    return max(reversed(scores), key=scores.get)


def candidates(dataset: str, seed: int) -> dict:
    X, _ = load(dataset)
    Z = AEKMeans(n_clusters=10, input_shape=IMAGE_SHAPES[dataset], random_state=seed).fit(X).transform(X)
    result = {"kmeans": [], "manifold": [], "kmeans_seconds": 0.0, "manifold_seconds": 0.0}
    for state in range(3):
        for name, pick in (("kmeans", kmeans_candidates_k), ("manifold", manifold_candidates_k)):
            start = time.perf_counter()
            result[name].append(pick(Z, state))
            result[f"{name}_seconds"] += (time.perf_counter() - start) / 3
    return result


def manifolds(dataset: str, seed: int) -> dict:
    X, y = load(dataset)
    Z = AEKMeans(n_clusters=10, input_shape=IMAGE_SHAPES[dataset], random_state=seed).fit(X).transform(X)
    result = {}
    for manifold in ("umap", "tsne"):
        start = time.perf_counter()
        result[f"{manifold}_acc"] = cluster_accuracy(y, cluster_on_manifold(Z, 10, seed=seed, manifold=manifold).labels)
        result[f"{manifold}_seconds"] = time.perf_counter() - start
    return result


#: Row counts of the samples the sources part also measures, by data set (below 5,000 rows, so t-SNE's maps).
SOURCE_SAMPLES = {"usps": 3000, "mnist_test": 3000}


def sources(dataset: str, seed: int, rows: int | None = None) -> dict:
    """N2D's clustering of the embedding and of the input of ``dataset`` (or of ``rows`` random rows of it)."""
    X, y = load(dataset)
    if rows is not None:
        keep = np.random.default_rng(seed).permutation(len(X))[:rows]
        X, y = X[keep], y[keep]
    Z = AEKMeans(n_clusters=10, input_shape=IMAGE_SHAPES[dataset], random_state=seed).fit(X).transform(X)
    result, found = {}, {}
    for source in ("embedding", "input"):
        laid_out, _ = layout_rows(source, Z, X, seed=seed)
        found[source] = cluster_on_manifold(laid_out, 10, seed=seed, embedding=Z)
        result[f"{source}_acc"] = cluster_accuracy(y, found[source].labels)
    result["picked"], scores = more_clustered({source: (f.layout, f.labels) for source, f in found.items()})
    return {**result, **{f"{source}_silhouette": score for source, score in scores.items()}}


def ward(seed: int) -> dict:
    X, y = load("digits")
    model = N2D(n_clusters=10, input_shape=IMAGE_SHAPES["digits"], random_state=seed).fit(X)
    on_umap = N2D(n_clusters=10, input_shape=IMAGE_SHAPES["digits"], manifold="umap", random_state=seed).fit(X)
    result = {"n2d_acc": cluster_accuracy(y, model.labels_), "n2d_umap_acc": cluster_accuracy(y, on_umap.labels_), "manifold_of": model.manifold_of_}
    embedding_map = manifold_layout(model.transform(X), 10, seed=seed)
    for name, Z in (("manifold", model.manifold_), ("embedding_map", embedding_map), ("embedding", model.transform(X)), ("umap_manifold", on_umap.manifold_)):
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


#: The teachers of the distill part, by the name results and the table use.
TEACHERS = {"idec": IDEC, "n2d": N2D}


def distillation(teacher_name: str, seed: int) -> dict:
    X, y = load("mnist_test")
    teacher = TEACHERS[teacher_name](n_clusters=10, input_shape=IMAGE_SHAPES["mnist_test"], random_state=seed).fit(X)
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


def dataset_rows(by_dataset: dict, cells: Callable[[dict], list[str]]) -> list[str]:
    """One table row per data set that has results, in ``DATASETS`` order: its name, seeds, ``cells(runs)`` and commits."""
    return [
        f"| {dataset} | {','.join(runs)} | {' | '.join(cells(runs))} | {summary(runs, 'commit')} |"
        for dataset in DATASETS
        if (runs := by_dataset.get(dataset))
    ]


def render(results: dict) -> None:
    def header(part: str) -> str:
        """The command of ``part`` and the machine line each of its runs was measured on (a re-render keeps them)."""
        nested = results[part].values() if part in NESTED else [results[part]]
        machines = "; ".join(sorted({run["machine"] for by_seed in nested for run in by_seed.values()}))
        return (
            f"Command: `python bench/heads.py --parts {part}`. Machine: {machines}. Default parameters unless stated; every model is "
            "told its data set's image shape (`input_shape`), so USPS and MNIST-test train on rotated and shifted copies."
        )

    def head(part: str, prose: str, columns: list[str]) -> list[str]:
        """A section's first lines: ``header(part)``, ``prose``, then the head of a table of ``columns``."""
        return [header(part), prose, "", f"| {' | '.join(columns)} |", "|" + "---|" * len(columns)]

    for part, method in AUTO_K.items():
        if part not in results:
            continue
        lines = head(part, f"`{method.__name__}(n_clusters=\"auto\")`: k_range (2, 20), the default `k_criterion=\"auto\"` on the pretrained "
                     "embedding (silhouette where its best score is at least 0.5, else density); *decided by* names the criterion of each seed.",
                     ["dataset", "seeds", "chosen k", "decided by", "ACC at that k", "seconds", "commit"])
        lines += dataset_rows(results[part], lambda runs: [
            summary(runs, "k"), summary(runs, "criterion"), summary(runs, "acc"), f"{np.mean([r['seconds'] for r in runs.values()]):.1f}"])
        title = "Choosing the number of clusters (`bench/heads.py`)" if part == "autok" else f"Choosing the number of clusters in {method.__name__} (`bench/heads.py --parts {part}`)"
        update_section(title, "\n".join(lines))
    if "candidates" in results:
        lines = head("candidates", "Candidate clusterings for choosing k, on the embedding of `AEKMeans(n_clusters=10)` of each seed: k in "
                     "2..20 by silhouette on that embedding, for random states 0, 1, 2 (`select_n_clusters(Z, criterion=\"silhouette\", random_state=r)` for "
                     "k-means candidates; a full-covariance GMM with 3 restarts on a 10-d UMAP layout of Z, 20 neighbours, "
                     "`min_dist=0`, for manifold candidates). Seconds: mean per selection.",
                     ["dataset", "candidates", "picks (seed: states 0,1,2)", "within 10 ± 1", "seconds", "commit"])
        for dataset in DATASETS:
            runs = results["candidates"].get(dataset)
            for name in ("kmeans", "manifold") if runs else ():
                picks = [k for run in runs.values() for k in run[name]]
                hits = sum(abs(k - 10) <= 1 for k in picks)
                shown = " / ".join(f"{seed}: {','.join(map(str, run[name]))}" for seed, run in runs.items())
                lines.append(f"| {dataset} | {name} | {shown} | {hits} of {len(picks)} | "
                             f"{np.mean([run[f'{name}_seconds'] for run in runs.values()]):.1f} | {summary(runs, 'commit')} |")
        update_section("Candidate clusterings for choosing k (`bench/heads.py --parts candidates`)", "\n".join(lines))
    if "ward" in results:
        runs = results["ward"]
        lines = head("ward", "N2D on digits (10 clusters), then `Hierarchical(10, linkage=\"ward\")` on what it learned.",
                     ["input to ward", "seeds", "ACC", "linkage matrix valid", "commit"])
        of = summary(runs, "manifold_of") if all("manifold_of" in r for r in runs.values()) else "embedding"
        lines += [f"| N2D's manifold (the default: t-SNE's 2-d map below 5,000 rows; laid out from: {of}) | {','.join(runs)} | {summary(runs, 'manifold_acc')} | "
                  f"{summary(runs, 'manifold_valid')} | {summary(runs, 'commit')} |",
                  *([f"| t-SNE's map of N2D's embedding (as `manifold_of=\"embedding\"` lays it out) | {','.join(runs)} | {summary(runs, 'embedding_map_acc')} | "
                     f"{summary(runs, 'embedding_map_valid')} | {summary(runs, 'commit')} |"] if all("embedding_map_acc" in r for r in runs.values()) else []),
                  f"| N2D's autoencoder embedding | {','.join(runs)} | {summary(runs, 'embedding_acc')} | {summary(runs, 'embedding_valid')} | {summary(runs, 'commit')} |",
                  f"| the UMAP manifold of `N2D(manifold=\"umap\")` | {','.join(runs)} | {summary(runs, 'umap_manifold_acc')} | "
                  f"{summary(runs, 'umap_manifold_valid')} | {summary(runs, 'commit')} |",
                  f"| (N2D's own GMM labels; with `manifold=\"umap\"`) | {','.join(runs)} | {summary(runs, 'n2d_acc')}; {summary(runs, 'n2d_umap_acc')} | | "
                  f"{summary(runs, 'commit')} |"]
        update_section("Hierarchical clustering on a learned embedding (`bench/heads.py`)", "\n".join(lines))
    if "manifolds" in results:
        lines = head("manifolds", "N2D's clustering (`cluster_on_manifold(Z, 10, seed=seed, manifold=...)`: the layout, then a full-covariance "
                     "Gaussian mixture, best of 5) of the embedding Z of `AEKMeans(n_clusters=10)` of each seed: on UMAP's 10-d layout (20 neighbours, "
                     "`min_dist=0`) and on t-SNE's 2-d map (perplexity 30). `manifold=\"auto\"` takes t-SNE below 5,000 rows. Seconds: layout and mixture; "
                     "the first UMAP layout of a process (digits, the first seed) includes numba's compilation.",
                     ["dataset", "seeds", "ACC, UMAP", "ACC, t-SNE", "seconds, UMAP", "seconds, t-SNE", "commit"])
        lines += dataset_rows(results["manifolds"], lambda runs: [
            summary(runs, key) for key in ("umap_acc", "tsne_acc", "umap_seconds", "tsne_seconds")])
        update_section("N2D's manifold: UMAP or t-SNE (`bench/heads.py --parts manifolds`)", "\n".join(lines))
    if "sources" in results:
        lines = head("sources", "N2D's clustering (`cluster_on_manifold`, `manifold=\"auto\"`: t-SNE's map below 5,000 rows, else UMAP's layout) "
                     "of the embedding of `AEKMeans(n_clusters=10)` of each seed and of the input (`layout_rows`: its first 50 principal "
                     "components), and the silhouette of each clustering on its layout, by which `manifold_of=\"auto\"` keeps one below 5,000 "
                     "rows (`more_clustered`). *n* is the rows: a data set, or a random sample of it (the autoencoder fitted on the sample).",
                     ["dataset", "n", "seeds", "ACC, embedding", "ACC, input", "silhouette, embedding", "silhouette, input", "picked",
                      "picked the higher ACC", "commit"])
        for key, runs in results["sources"].items():
            dataset, _, rows = key.partition("@")
            right = sum((r["embedding_acc"] >= r["input_acc"]) == (r["picked"] == "embedding") for r in runs.values())
            lines.append(f"| {dataset} | {rows or len(load(dataset)[1])} | {','.join(runs)} | "
                         + " | ".join(summary(runs, k) for k in ("embedding_acc", "input_acc", "embedding_silhouette", "input_silhouette", "picked"))
                         + f" | {right} of {len(runs)} | {summary(runs, 'commit')} |")
        update_section("N2D's manifold of the embedding or of the input (`bench/heads.py --parts sources`)", "\n".join(lines))
    if "distill" in results:
        lines = head("distill", "Teachers on MNIST-test, default parameters. Student: `distill(teacher, X)` (MLP 784-256-128-10, 100 epochs of "
                     "cross-entropy with label smoothing 0.1 on rotated and shifted copies of 80% of the rows); agreement on the 20% it never saw. "
                     "Throughput: `predict` on all 10000 rows, rows per second.",
                     ["teacher", "seeds", "teacher ACC", "student ACC", "held-out agreement", "student rows/s", "teacher rows/s", "speed-up", "commit"])
        for name, runs in results["distill"].items():
            student = np.mean([r["student_rows_per_s"] for r in runs.values()])
            teacher = np.mean([r["teacher_rows_per_s"] for r in runs.values()])
            lines.append(f"| {TEACHERS[name].__name__} | {','.join(runs)} | {summary(runs, 'teacher_acc')} | {summary(runs, 'student_acc')} | "
                         f"{summary(runs, 'agreement')} | {student:,.0f} | {teacher:,.0f} | {student / teacher:.1f}x | {summary(runs, 'commit')} |")
        update_section("Distillation (`bench/heads.py`)", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = [*AUTO_K, "candidates", "manifolds", "sources", "ward", "distill"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS, help="for autok, autok_n2d, candidates, manifolds and sources")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--teachers", nargs="+", default=list(TEACHERS), choices=TEACHERS, help="for distill")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}

    def save(part: str, key: str, result: dict, *path: str) -> None:
        node = results.setdefault(part, {})
        for step in path:
            node = node.setdefault(step, {})
        node[key] = {**result, "commit": commit(), "machine": machine()}
        write_json(RESULTS, results)
        print(part, *path, key, {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, flush=True)

    for seed in args.seeds:
        for part in [name for name in AUTO_K if name in args.parts]:
            for dataset in args.datasets:
                save(part, str(seed), auto_k(AUTO_K[part], dataset, seed), dataset)
        if "candidates" in args.parts:
            for dataset in args.datasets:
                save("candidates", str(seed), candidates(dataset, seed), dataset)
        if "manifolds" in args.parts:
            for dataset in args.datasets:
                save("manifolds", str(seed), manifolds(dataset, seed), dataset)
        if "sources" in args.parts:
            for dataset in args.datasets:
                save("sources", str(seed), sources(dataset, seed), dataset)
                if dataset in SOURCE_SAMPLES:
                    save("sources", str(seed), sources(dataset, seed, SOURCE_SAMPLES[dataset]), f"{dataset}@{SOURCE_SAMPLES[dataset]}")
        if "ward" in args.parts:
            save("ward", str(seed), ward(seed))
        if "distill" in args.parts:
            for name in args.teachers:
                save("distill", str(seed), distillation(name, seed), name)
    render(results)


if __name__ == "__main__":
    main()
