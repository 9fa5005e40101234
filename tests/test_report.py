"""The HTML report: self-contained, every section present, and it renders in a real browser without errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.offline
import pytest
from sklearn.cluster import KMeans

import deepclust.report.html as report_html
from deepclust import DeepHierarchical
from deepclust.errors import InputError
from deepclust.metrics import adjusted_rand
from deepclust.report import map_2d, render_report
from deepclust.report.figures import cluster_color

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)


@pytest.fixture(scope="module")
def digits_run(digits):
    """A hierarchical model with n_clusters='auto' on digits: losses, k scores and a tree to show."""
    X, y = digits
    model = DeepHierarchical("auto", k_range=(8, 12), hidden_dims=(64,), pretrain_epochs=5, random_state=0, device="cpu").fit(X)
    return X, y, model, model.transform(X)


@pytest.fixture(scope="module")
def digits_html(digits_run) -> str:
    X, y, model, Z = digits_run
    metrics = {"method": "hierarchical", "internal": {"silhouette": 0.2, "davies_bouldin": float("nan")}, "external": {"acc": 0.8}}
    return render_report(
        Z, model.labels_, model=model, metrics=metrics, truth=y, confidence=np.full(len(X), 0.9),
        outlier=np.arange(len(X)) % 100 == 0, modality="images", data=X, image_shape=(8, 8), map_method="pca",
    )


def test_report_is_self_contained_and_has_every_section(digits_html, digits_run):
    _, _, model, _ = digits_run
    for section in ("plot-map", "cluster-table", "plot-sizes", "metric-table", "plot-losses", "plot-k_selection", "plot-dendrogram"):
        assert f'id="{section}"' in digits_html, section
    assert re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", digits_html) is None  # nothing fetched from a network
    assert plotly.offline.get_plotlyjs()[:200] in digits_html  # plotly.js itself is inside the file
    thumbnails = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="cluster (\d+) example', digits_html)
    assert sorted(map(int, thumbnails)) == sorted(list(range(model.n_clusters_)) * 8)  # 8 thumbnails of every cluster
    assert "majority class" in digits_html and "Davies-Bouldin" in digits_html and "undefined" in digits_html


def test_map_of_large_data_is_a_bounded_sample_and_says_so():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(3000, 6)).astype(np.float32)
    labels = (Z[:, 0] > 0).astype(int)
    projection = map_2d(Z, method="pca", max_points=500)
    assert len(projection.rows) == 500 and projection.subsampled and len(np.unique(projection.rows)) == 500
    html = render_report(Z, labels, map_method="pca", max_points=500)
    assert "500 of 3,000 rows are shown" in html


def test_umap_map_keeps_separate_clusters_apart(blobs):
    X, y = blobs
    projection = map_2d(X, method="umap")
    assert projection.coordinates.shape == (len(X), 2) and projection.method == "UMAP"
    found = KMeans(4, n_init=5, random_state=0).fit_predict(projection.coordinates)
    assert adjusted_rand(y, found) > 0.95


def test_examples_for_text_series_and_tables():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    words = [["goal", "match", "league", "striker"], ["oven", "garlic", "sauce", "flour"]]
    docs = [" ".join(rng.choice(words[k], 5)) for k in labels]
    Z = np.c_[labels * 5.0, rng.normal(size=40)] + rng.normal(scale=0.1, size=(40, 2))
    html = render_report(Z, labels, modality="text", data=docs, map_method="pca")
    assert "striker" in html and "garlic" in html and "<th>top terms</th>" in html

    t = np.linspace(0, 2 * np.pi, 50)
    series = np.stack([np.sin(t) if k == 0 else np.sign(np.sin(t)) for k in labels]) + rng.normal(scale=0.05, size=(40, 50))
    assert 'id="plot-series"' in render_report(Z, labels, modality="series", data=series, map_method="pca")

    table = pd.DataFrame({"income": labels * 10.0 + rng.normal(size=40), "age": rng.normal(size=40), "city": np.where(labels, "Oslo", "Lima")})
    html = render_report(Z, labels, modality="tabular", data=table, map_method="pca")
    assert 'id="plot-profile"' in html and 'id="categorical-table"' in html and "Oslo" in html


def test_series_of_a_large_run_keep_every_cluster_with_its_full_size(monkeypatch):
    monkeypatch.setattr(report_html, "MAX_SERIES_PER_CLUSTER", 20)
    labels = np.repeat([0, 1, 2], [60, 60, 3])
    t = np.linspace(0, 2 * np.pi, 24)
    series = np.stack([np.sin((k + 1) * t) for k in labels]) + np.random.default_rng(0).normal(scale=0.05, size=(len(labels), 24))
    html = render_report(np.c_[labels, labels * 0.5], labels, modality="series", data=series, map_method="pca")
    assert "cluster 0 (60 series)" in html and "cluster 2 (3 series)" in html
    assert "at most 20 series of each cluster (43 of the 123 series)" in html


def test_map_sample_keeps_rows_of_every_cluster():
    Z = np.random.default_rng(0).normal(size=(2000, 3))
    labels = np.r_[np.full(5, 2), np.arange(1995) % 2]
    projection = map_2d(Z, labels=labels, method="pca", max_points=100)
    assert set(range(5)) <= set(projection.rows.tolist()) and len(projection.rows) >= 100
    assert np.array_equal(projection.rows, np.unique(projection.rows))


def test_tooltips_and_column_names_show_markup_as_text_and_quotes_as_quotes():
    labels = np.arange(20) % 2
    ids = ['say "hi"', "<script>x</script>"] + [str(i) for i in range(18)]
    table = pd.DataFrame({"<b>x</b>": labels + np.random.default_rng(0).normal(size=20)})
    html = render_report(np.c_[labels, np.arange(20)], labels, ids=ids, modality="tabular", data=table, map_method="pca")
    assert 'say \\"hi\\"' in html and "say &quot;hi&quot;" not in html  # plotly shows &quot; as it is
    assert "&lt;script&gt;x" in html and "\\u003cscript" not in html
    assert "&lt;b&gt;x" in html and "\\u003cb\\u003ex" not in html


def test_header_counts_unreadable_files():
    labels = np.arange(10) % 2
    html = render_report(np.c_[labels, np.arange(10)], labels, metrics={"n_samples": 11, "unreadable": 1}, map_method="pca")
    assert re.search(r"<dt>rows</dt><dd>10</dd></div>\s*<div><dt>unreadable files \(skipped\)</dt><dd>1</dd>", html)


def test_categorical_table_says_how_many_columns_it_shows():
    labels = np.arange(10) % 2
    table = pd.DataFrame({f"c{i}": np.where(labels, "a", "b") for i in range(12)})
    html = render_report(np.c_[labels, np.arange(10)], labels, modality="tabular", data=table, map_method="pca")
    assert "(10 of 12 categorical columns)" in html


@pytest.mark.parametrize(
    ("embedding", "labels", "options", "message"),
    [
        (np.zeros((10, 2)), np.zeros(9, int), {}, r"labels must have one entry per embedding row \(10\), got shape \(9,\)"),
        (np.zeros((10, 2)), np.zeros(10, int), {"confidence": np.ones(9)}, r"confidence must have one entry per embedding row \(10\), got 9"),
        (np.zeros((1, 2)), np.zeros(1, int), {}, "at least 2 rows"),
        (np.zeros(10), np.zeros(10, int), {}, r"2-D array .* got shape \(10,\)"),
        (np.r_[[[np.nan, 0.0]], np.zeros((9, 2))], np.zeros(10, int), {}, "1 row.* NaN or infinite"),
        (np.zeros((10, 2)), np.array(["a", "b"] * 5), {}, "labels must be integer"),
    ],
)
def test_render_report_rejects_inputs_that_do_not_fit_together(embedding, labels, options, message):
    with pytest.raises(InputError, match=message):
        render_report(embedding, labels, map_method="pca", **options)


def test_metrics_that_are_not_numbers_are_shown_as_they_are():
    labels = np.arange(10) % 2
    metrics = {"internal": {"silhouette": "n/a", "davies_bouldin": 0.51234}}
    html = render_report(np.c_[labels, np.arange(10)], labels, metrics=metrics, map_method="pca")
    assert '<td class="num">n/a</td>' in html and '<td class="num">0.5123</td>' in html


def test_clusters_past_the_palette_get_colours_of_their_own():
    colors = [cluster_color(c) for c in range(100)]
    assert len(set(colors)) == 100 and all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in colors)


# ---------------------------------------------------------------- in a browser
def open_in_chromium(page: Path, profile: Path, screenshot: Path | None = None) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and every message its scripts wrote to the console."""
    browser = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=15000", "--window-size=1280,2600", f"--user-data-dir={profile}",
    ]
    done = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    if screenshot is not None:
        shot = subprocess.run([*browser, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, text=True, timeout=180)
        assert shot.returncode == 0, shot.stderr[-2000:]
    return done.stdout, console


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)")


@needs_chromium
def test_report_renders_in_chromium_without_console_errors(digits_html, digits_run, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(digits_html)
    artifacts = Path(os.environ.get("DEEPCLUST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "report.png"
    dom, console = open_in_chromium(page, tmp_path / "profile", screenshot)
    assert console == []
    map_div = dom[dom.index('id="plot-map"') :]
    assert 'class="main-svg"' in map_div[:20000]  # plotly drew the map
    assert dom.count('class="scatterlayer') >= 1
    table = dom[dom.index('id="cluster-table"') : dom.index("</table>", dom.index('id="cluster-table"'))]
    assert table.count("<tr>") == digits_run[2].n_clusters_ + 1  # header + one row per cluster
    assert screenshot.stat().st_size > 50_000


@needs_chromium
def test_chromium_check_catches_a_script_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>Plotly.newPlot('nowhere', []);</script></body></html>")
    _, console = open_in_chromium(page, tmp_path / "profile")
    assert any("Plotly is not defined" in line for line in console)
