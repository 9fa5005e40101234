"""Image clustering from files: the 10,000 MNIST test digits written as PNGs, read back and clustered.

    python bench/images.py                               # the cluster_images default (N2D), seed 0
    python bench/images.py --methods idec --seeds 0 1    # other registered methods, more seeds
    python bench/images.py --threads 1                   # torch threads for training (shared machines)

Measures reading (decoding the folder with 1 thread and with the default thread pool) and
clustering: the registered deep method on the convolutional autoencoder, exactly as
``deepclust.cluster_images(folder)`` runs it. For N2D it also scores k-means on the same
pretrained embedding (what AEKMeans does), which costs no second pretraining. Each result is
saved to bench/results/images.json as it finishes; the section "Images (MNIST-test from PNG
files)" of docs/benchmarks.md is rendered from every saved result.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.cluster import KMeans

import deepclust
from deepclust.datasets import load_mnist_test
from deepclust.embed import ImageEncoder
from deepclust.io import write_json
from deepclust.io.images import read_image_folder
from deepclust.metrics import external_scores
from _sections import ROOT, update_section
from quality import commit, machine

RESULTS = ROOT / "bench" / "results" / "images.json"
DEFAULT_METHOD = inspect.signature(deepclust.cluster_images).parameters["method"].default


def write_pngs(folder: Path) -> tuple[np.ndarray, float]:
    """MNIST test digits as ``folder/<class>/<row>.png``; returns the uint8 digits and the seconds taken."""
    X, y = load_mnist_test()
    digits = (X.reshape(-1, 28, 28) * 255).round().astype(np.uint8)
    for label in range(10):
        (folder / str(label)).mkdir()
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: Image.fromarray(digits[i]).save(folder / str(y[i]) / f"{i:05d}.png"), range(len(digits))))
    return digits, time.perf_counter() - start


def read_folder(folder: Path, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray, ImageEncoder, dict]:
    """Decode the folder with one thread and with the default pool; check the pixels survived exactly."""
    timings = {}
    for threads in (1, ImageEncoder().n_threads):
        start = time.perf_counter()
        paths, y, _ = read_image_folder(folder)
        encoder = ImageEncoder(n_threads=threads)
        X = encoder.fit_transform(paths)
        timings[f"{threads}_threads_seconds"] = time.perf_counter() - start
    rows = [int(Path(p).stem) for p in paths]
    assert np.array_equal((X * 255).round().astype(np.uint8).reshape(-1, 28, 28), digits[rows]), "PNG round trip changed pixels"
    return X, y, encoder, timings


def run_one(method: str, X: np.ndarray, y: np.ndarray, encoder: ImageEncoder, seed: int) -> dict[str, dict]:
    start = time.perf_counter()
    model = deepclust.get_method(method)(n_clusters=10, random_state=seed, **encoder.method_params_).fit(X)
    seconds = time.perf_counter() - start
    context = {"commit": commit(), "load_average": os.getloadavg()[0]}
    results = {method: {**external_scores(y, model.labels_), "seconds": seconds, **context}}
    if method == "n2d":
        start = time.perf_counter()
        labels = KMeans(10, n_init=20, random_state=seed).fit_predict(model.transform(X))
        pretrain = model.history_["pretrain"].seconds
        results["conv AE + k-means"] = {**external_scores(y, labels), "seconds": pretrain + time.perf_counter() - start, **context}
    return results


def render(results: dict) -> str:
    load = results["load"]
    lines = [
        f"Command: `python bench/images.py --threads 1` (and `--methods ...` for the other rows). Machine: {results['machine']}.",
        "The 10,000 MNIST test digits are written as PNG files, one sub-folder per class, into a temporary folder, read back",
        "by `read_image_folder` + `ImageEncoder` (pixels in [0, 1], checked identical to the originals) and clustered by the",
        "registered method with `architecture=\"conv\", input_shape=(1, 28, 28)` and its default parameters, `n_clusters=10`.",
        f"`cluster_images(folder)` runs `{DEFAULT_METHOD}` by default. Seconds: wall time of `fit` (pretraining included).",
        "",
        f"Reading 10,000 PNGs: {load['1_threads_seconds']:.2f} s with 1 thread, {load['8_threads_seconds']:.2f} s with the default 8-thread pool "
        f"({10000 / load['8_threads_seconds']:.0f} images/s); writing them took {load['write_seconds']:.1f} s.",
        "",
        "| method | seeds | ACC | NMI | ARI | seconds | load | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, runs in results["runs"].items():
        seeds = sorted(runs, key=int)
        cell = lambda key: f"{np.mean([runs[s][key] for s in seeds]):.3f} ± {np.std([runs[s][key] for s in seeds]):.3f}"  # noqa: E731
        seconds = np.mean([runs[s]["seconds"] for s in seeds])
        load = max(runs[s]["load_average"] for s in seeds)
        commits = ",".join(sorted({runs[s]["commit"] for s in seeds}))
        lines.append(f"| {method} | {','.join(seeds)} | {cell('acc')} | {cell('nmi')} | {cell('ari')} | {seconds:.0f} | {load:.1f} | {commits} |")
    lines += [
        "",
        "`conv AE + k-means` is k-means (20 restarts) on the embedding N2D pretrained, i.e. AEKMeans; its seconds are that",
        "pretraining's plus k-means. `load` is the machine's 1-minute load average when the run ended: above the core count",
        "other jobs shared the CPU and the seconds are inflated by as much. The dense-autoencoder rows for the same digits",
        "(from arrays, `bench/quality.py`) are in the first table; the N2D paper reports ACC 0.948 on MNIST (dense autoencoder).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=[DEFAULT_METHOD])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        digits, write_seconds = write_pngs(Path(tmp))
        X, y, encoder, timings = read_folder(Path(tmp), digits)
    results["load"] = {**timings, "write_seconds": write_seconds}
    results["machine"] = machine()
    print(f"read 10,000 PNGs: {timings}", flush=True)
    for method in args.methods:
        for seed in args.seeds:
            for name, result in run_one(method, X, y, encoder, seed).items():
                results["runs"].setdefault(name, {})[str(seed)] = result
                print(f"{name} seed {seed}: acc {result['acc']:.3f} nmi {result['nmi']:.3f} ari {result['ari']:.3f} {result['seconds']:.0f}s", flush=True)
            write_json(RESULTS, results)
    update_section("Images (MNIST-test from PNG files)", render(results))
    print(f"wrote {RESULTS} and docs/benchmarks.md")


if __name__ == "__main__":
    main()
