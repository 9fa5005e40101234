"""Tables and time series with known clusters: what the front ends' choices are worth.

    python bench/frontends.py                 # seeds 0-4 (about two minutes on two busy cores)
    python bench/frontends.py --seeds 0 1

Series: sines, squares and ramps (two periods, 100-160 steps, random shift, level, scale and
noise), clustered by ``deepclust.cluster_series`` with and without phase alignment, and by
k-means on the resampled, z-normalised series. Tables: three clusters in six numeric columns of
very different scales plus a categorical column, 20% of cells missing, clustered by
``deepclust.cluster_table`` with median and k-NN imputation, and by k-means on the encoded
columns. Results go to bench/results/frontends.json and the section "Tables and time series
(synthetic)" of docs/benchmarks.md. Torch runs on one thread: on two shared cores two threads
made the small convolutions over ten times slower.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch
from scipy import signal
from sklearn.cluster import KMeans

import deepclust
from deepclust.embed import SeriesEncoder, TabularEncoder
from deepclust.io import write_json
from deepclust.metrics import adjusted_rand, cluster_accuracy

from _sections import ROOT, update_section

RESULTS = ROOT / "bench" / "results" / "frontends.json"
WAVES = (
    lambda u: np.sin(2 * np.pi * u),
    lambda u: signal.square(2 * np.pi * u),
    lambda u: signal.sawtooth(2 * np.pi * u),
)


def shapes(seed: int, n_per: int = 50) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    series, y = [], []
    for k, wave in enumerate(WAVES):
        for _ in range(n_per):
            length = int(rng.integers(100, 161))
            t = np.arange(length) / length * 2 + rng.uniform(0, 1)
            series.append(wave(t) * rng.uniform(0.5, 2) + rng.uniform(-3, 3) + rng.normal(0, 0.3, length))
            y.append(k)
    return series, np.array(y)


def mixed_table(seed: int, n: int = 300, missing: float = 0.2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 3)
    centres = np.array([[0, 0, 0, 0, 0, 0], [5, 5, 5, -5, -5, -5], [-5, 5, -5, 5, -5, 5]], dtype=float)
    numbers = (centres[y] + rng.normal(0, 1, (n, 6))) * [1, 10, 100, 0.1, 1, 1000] + [40, 50, 1000, 0, 0, 0]
    frame = pd.DataFrame(numbers, columns=[f"n{j}" for j in range(6)])
    frame["segment"] = np.array(["bronze", "silver", "gold"])[np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n))]
    for column in frame.columns:
        frame.loc[rng.random(n) < missing, column] = None
    return frame, y


def timed(fn, *args, **kwargs) -> tuple[np.ndarray, float]:  # noqa: ANN001
    start = time.perf_counter()
    labels = fn(*args, **kwargs)
    return labels, time.perf_counter() - start


def kmeans(X: np.ndarray, seed: int) -> np.ndarray:
    return KMeans(3, n_init=10, random_state=seed).fit_predict(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    seeds = parser.parse_args().seeds
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    rows = []
    for seed in seeds:
        series, y = shapes(seed)
        runs = {
            "cluster_series (IDEC, temporal AE)": lambda: deepclust.cluster_series(series, 3, random_state=seed),
            "cluster_series, align=False": lambda: deepclust.cluster_series(series, 3, random_state=seed, align=False),
            "k-means on aligned series": lambda: kmeans(SeriesEncoder().fit_transform(series), seed),
            "k-means on unaligned series": lambda: kmeans(SeriesEncoder(align=False).fit_transform(series), seed),
        }
        for name, run in runs.items():
            labels, seconds = timed(run)
            rows.append({"data": "series", "pipeline": name, "seed": seed, "score": cluster_accuracy(y, labels), "seconds": seconds})
        frame, y = mixed_table(seed)
        runs = {
            "cluster_table (IDEC), median": lambda: deepclust.cluster_table(frame, 3, random_state=seed),
            "cluster_table (IDEC), knn": lambda: deepclust.cluster_table(frame, 3, random_state=seed, impute="knn"),
            "k-means on encoded, median": lambda: kmeans(TabularEncoder().fit_transform(frame), seed),
            "k-means on encoded, knn": lambda: kmeans(TabularEncoder(impute="knn").fit_transform(frame), seed),
        }
        for name, run in runs.items():
            labels, seconds = timed(run)
            rows.append({"data": "table", "pipeline": name, "seed": seed, "score": adjusted_rand(y, labels), "seconds": seconds})
        print(f"seed {seed} done", flush=True)
    write_json(RESULTS, rows)
    lines = [
        f"Seeds {', '.join(map(str, seeds))}; series: 150 (3 shapes), score ACC; table: 300 rows, 20% cells missing, score ARI.",
        "Reproduce: `python bench/frontends.py`.",
        "",
        "| data | pipeline | mean score | min | mean seconds |",
        "|---|---|---|---|---|",
    ]
    for (data, name), group in pd.DataFrame(rows).groupby(["data", "pipeline"], sort=False):
        lines.append(f"| {data} | {name} | {group.score.mean():.3f} | {group.score.min():.3f} | {group.seconds.mean():.1f} |")
    print("\n".join(lines))
    update_section("Tables and time series (synthetic)", "\n".join(lines))


if __name__ == "__main__":
    main()
