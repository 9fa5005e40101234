"""Resumable training: a stopped fit, started again, ends as a fit never stopped; other fits' checkpoints are refused."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import deepclust
from deepclust import IDEC, checkpoint
from deepclust.errors import InputError
from deepclust.metrics import cluster_accuracy
from deepclust.runs import CHECKPOINT_FILE

SMALL = dict(n_clusters=10, pretrain_epochs=20, cluster_epochs=2, hidden_dims=(256, 256), random_state=0)


class Stop(Exception):
    """Stands for the process being stopped (Ctrl-C, a lost machine)."""


def stop_after_saves(monkeypatch, count: int, stop: type[BaseException] = Stop) -> list[int]:
    """Save after every epoch; raise Stop right after the ``count``-th save (once). Returns the epochs saved, as they happen."""
    monkeypatch.setattr(checkpoint, "SAVE_EVERY_SECONDS", 0.0)
    saved: list[int] = []
    calls = iter(range(1, sys.maxsize))
    save = checkpoint.PhaseCheckpoint.save

    def counted(self, optimizer, log, generator, *, force=False):
        save(self, optimizer, log, generator, force=force)
        saved.append(len(log.losses))
        if next(calls) == count:
            raise stop

    monkeypatch.setattr(checkpoint.PhaseCheckpoint, "save", counted)
    return saved


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture(scope="module")
def uninterrupted(digits):
    X, _ = digits
    return IDEC(**SMALL).fit(X)


def test_a_stopped_fit_resumes_after_its_last_epoch_and_ends_as_if_never_stopped(digits, uninterrupted, tmp_path, monkeypatch):
    X, y = digits
    path = tmp_path / "fit" / "pretraining.ckpt"
    saved = stop_after_saves(monkeypatch, 3)
    with pytest.raises(Stop):
        IDEC(**SMALL, checkpoint=path).fit(X)
    assert path.is_file() and saved == [1, 2, 3]

    saved.clear()
    model = IDEC(**SMALL, checkpoint=str(path)).fit(X)
    assert saved == [*range(4, 21), 1, 2]  # only the pretraining epochs left, then the clustering phase's two
    assert model.history_["pretrain"].losses == pytest.approx(uninterrupted.history_["pretrain"].losses, rel=1e-6)
    assert same_weights(model.autoencoder_, uninterrupted.autoencoder_)
    np.testing.assert_array_equal(model.labels_, uninterrupted.labels_)
    assert cluster_accuracy(y, model.labels_) > 0.6  # a real clustering (0.68 at this budget), not an empty one
    assert list(tmp_path.iterdir()) == []  # removed once the fit completed, with the folder the stopped run made; no temporary files


def test_a_stop_in_the_clustering_phase_keeps_the_pretraining(digits, uninterrupted, tmp_path, monkeypatch):
    X, _ = digits
    path = tmp_path / "pretraining.ckpt"
    monkeypatch.setattr(IDEC, "_cluster", lambda *args: (_ for _ in ()).throw(Stop()))
    with pytest.raises(Stop):
        IDEC(**SMALL, checkpoint=path).fit(X)  # the default interval: saved once, when pretraining ends
    assert path.is_file()
    monkeypatch.undo()

    saved = stop_after_saves(monkeypatch, 99)
    model = IDEC(**SMALL, checkpoint=path).fit(X)
    assert saved == [1, 2]  # no pretraining epoch again, only the clustering phase's
    assert same_weights(model.autoencoder_, uninterrupted.autoencoder_)
    np.testing.assert_array_equal(model.labels_, uninterrupted.labels_)


def test_only_folders_above_the_checkpoint_are_taken_over_from_a_stopped_run(tmp_path):
    """The folders a checkpoint file names as made for it are removed with it, but never folders elsewhere."""
    other = tmp_path / "other"
    other.mkdir()
    path = tmp_path / "made" / "deeper" / "p.ckpt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    resumed = checkpoint.Checkpoint(path, {"pretraining": "fingerprint", "clustering": "other"})
    assert resumed._created == []  # the folders exist: made by the stopped run
    resumed._adopt_created([str(other), str(tmp_path / "made"), str(tmp_path / "made" / "deeper")])
    resumed.remove()
    assert [p.name for p in tmp_path.iterdir()] == ["other"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        (IDEC, dict(update_interval=5)),  # targets refreshed across epoch borders (8 steps an epoch): the schedule must go on
        (deepclust.DCN, {}),
        (deepclust.VaDE, {}),
    ],
)
def test_a_stop_in_the_clustering_phase_resumes_it_and_ends_as_if_never_stopped(digits, tmp_path, monkeypatch, method, params):
    X, y = digits
    model_params = {**SMALL, "cluster_epochs": 4, **params}
    whole = method(**model_params).fit(X)
    path = tmp_path / "fit.ckpt"
    saved = stop_after_saves(monkeypatch, SMALL["pretrain_epochs"] + 2)
    with pytest.raises(Stop):
        method(**model_params, checkpoint=path).fit(X)
    assert saved[-3:] == [20, 1, 2]  # pretraining ended, then two clustering epochs

    saved.clear()
    starts = []
    initial_clusters = method._initial_clusters
    monkeypatch.setattr(method, "_initial_clusters", lambda *args: starts.append(1) or initial_clusters(*args))
    model = method(**model_params, checkpoint=path).fit(X)
    assert saved == [3, 4]  # only the clustering epochs left
    assert starts == []  # the restored phase replaces the start, so none was made
    for phase in ("pretrain", "clustering"):
        assert model.history_[phase].losses == pytest.approx(whole.history_[phase].losses, rel=1e-6)
    assert same_weights(model.autoencoder_, whole.autoencoder_)
    np.testing.assert_allclose(model.cluster_centers_, whole.cluster_centers_, rtol=1e-6)
    np.testing.assert_array_equal(model.labels_, whole.labels_)
    assert cluster_accuracy(y, model.labels_) > 0.6
    assert not path.exists()


def test_saving_waits_for_the_interval(digits, tmp_path, monkeypatch):
    X, _ = digits
    writes = []
    write_atomic = checkpoint.write_atomic
    monkeypatch.setattr(checkpoint, "write_atomic", lambda path, content: writes.append(len(content)) or write_atomic(path, content))
    IDEC(**SMALL, checkpoint=tmp_path / "p.ckpt").fit(X)
    assert len(writes) == 2  # 20 + 2 short epochs: only the saves when pretraining and the clustering phase end


def test_a_checkpoint_of_another_fit_is_refused_and_kept(digits, tmp_path, monkeypatch):
    X, _ = digits
    path = tmp_path / "pretraining.ckpt"
    stop_after_saves(monkeypatch, 2)
    with pytest.raises(Stop):
        IDEC(**SMALL, checkpoint=path).fit(X)
    written = path.read_bytes()
    others = (
        (X[:-1], {}),
        (X, {"lr": 2e-3}),
        (X + 1e-3, {}),
        (X, {"random_state": np.int64(1)}),  # NumPy values are compared by value, not by their type's name
        (X, {"random_state": np.random.RandomState(0)}),  # draws another seed than the int 0
        (X, {"hidden_dims": [128, 128]}),
    )
    for other_data, other_params in others:
        with pytest.raises(InputError, match=r"pretraining.ckpt: a checkpoint of another fit \(other data or parameters\), kept as it is"):
            IDEC(**{**SMALL, **other_params}, checkpoint=path).fit(other_data)
        assert path.read_bytes() == written


def test_equal_parameters_of_other_types_resume(digits, uninterrupted, tmp_path, monkeypatch):
    """A NumPy learning rate and seed, a list of layer sizes and an int noise name the same fit as their plain values."""
    X, _ = digits
    path = tmp_path / "pretraining.ckpt"
    as_numpy = {**SMALL, "lr": np.float64(1e-3), "random_state": np.int64(0), "hidden_dims": [256, 256], "noise": 0}
    saved = stop_after_saves(monkeypatch, 3)
    with pytest.raises(Stop):
        IDEC(**as_numpy, checkpoint=path).fit(X)
    saved.clear()
    model = IDEC(**SMALL, checkpoint=path).fit(X)
    assert saved == [*range(4, 21), 1, 2]
    assert same_weights(model.autoencoder_, uninterrupted.autoencoder_)


def test_a_fit_that_differs_only_in_its_clustering_phase_resumes_the_pretraining(digits, uninterrupted, tmp_path, monkeypatch):
    """After a clustering phase was stopped (or diverged), the fit run again with another cluster_lr, gamma or
    number of clusters trains no pretraining epoch, starts its clustering phase afresh (the saved one is of
    other parameters) and ends as that fit run from the start."""
    X, _ = digits
    path = tmp_path / "pretraining.ckpt"
    saved = stop_after_saves(monkeypatch, SMALL["pretrain_epochs"] + 1)
    with pytest.raises(Stop):
        IDEC(**SMALL, checkpoint=path).fit(X)
    assert saved[-2:] == [20, 1]  # stopped after the first epoch of the clustering phase

    other = {**SMALL, "n_clusters": 8, "cluster_lr": 5e-5, "gamma": 0.2}
    saved.clear()
    model = IDEC(**other, checkpoint=path).fit(X)
    assert saved == [1, 2]
    fresh = IDEC(**other).fit(X)
    assert same_weights(model.autoencoder_, fresh.autoencoder_)
    np.testing.assert_array_equal(model.labels_, fresh.labels_)
    assert model.n_clusters_ == 8


class PathLikeName:
    """An os.PathLike that is not a pathlib.Path (as py.path.local is)."""

    def __init__(self, path):
        self.path = str(path)

    def __fspath__(self):
        return self.path


def damaged(tmp: Path, X: np.ndarray, monkeypatch) -> Path:
    """A real checkpoint with one bit of a weight flipped."""
    path = tmp / "damaged.ckpt"
    with monkeypatch.context() as patch:
        patch.setattr(IDEC, "_cluster", lambda *args: (_ for _ in ()).throw(Stop()))
        with pytest.raises(Stop):
            IDEC(**{**SMALL, "pretrain_epochs": 1}, checkpoint=path).fit(X)
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 1
    path.write_bytes(bytes(content))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, X, mp: (tmp / "rows.csv").write_text("a,b\n1,2\n") and tmp / "rows.csv", r"rows.csv is not a deepclust checkpoint, and is kept as it is"),
        (lambda tmp, X, mp: (tmp / "empty.ckpt").write_bytes(b"") or tmp / "empty.ckpt", r"empty.ckpt is empty, and is kept as it is"),
        (
            lambda tmp, X, mp: (tmp / "old.ckpt").write_bytes(b"deepclust checkpoint 2\n" + b"0" * 64) and tmp / "old.ckpt",
            r"old.ckpt: a checkpoint of another version of deepclust, which this one cannot resume; it is kept",
        ),
        (damaged, r"damaged.ckpt: a damaged checkpoint \(its contents do not match their checksum\)"),
        (lambda tmp, X, mp: tmp, r"checkpoint .* is a folder; give the path of a file"),
        (lambda tmp, X, mp: (tmp / "file").write_text("") or tmp / "file" / "sub" / "p.ckpt", r"cannot write checkpoint .*p.ckpt: .*file is a file"),
        (lambda tmp, X, mp: 3, r"checkpoint must be a file path or None, got 3"),
    ],
)
def test_bad_checkpoints_are_input_errors_and_the_files_are_kept(digits, tmp_path, monkeypatch, make, message):
    X, _ = digits
    given = make(tmp_path, X, monkeypatch)
    before = given.read_bytes() if isinstance(given, Path) and given.is_file() else None
    trained = stop_after_saves(monkeypatch, 99)
    with pytest.raises(InputError, match=message):
        IDEC(**SMALL, checkpoint=given).fit(X)
    assert trained == []  # refused before any pretraining epoch
    if before is not None:
        assert given.read_bytes() == before


def test_any_path_like_names_the_checkpoint_and_the_model_saves_it_as_text(digits, tmp_path):
    X, _ = digits
    path = tmp_path / "new" / "deeper" / "p.ckpt"
    model = IDEC(**{**SMALL, "pretrain_epochs": 2}, checkpoint=PathLikeName(path)).fit(X)
    assert list(tmp_path.iterdir()) == []  # written while pretraining, removed with its folders once the fit completed
    model.set_params(checkpoint=path)
    deepclust.save(model, tmp_path / "model")
    assert deepclust.load_model(tmp_path / "model").checkpoint == str(path)


def fit_command(tmp_path, monkeypatch, digits) -> tuple[list[object], Callable[..., int]]:
    """A small ``deepclust fit`` command on 600 digits, and a function running it with more arguments (its exit code)."""
    from deepclust import cli

    X, _ = digits
    data = tmp_path / "digits.csv"
    pd.DataFrame(X[:600], columns=[f"p{i}" for i in range(64)]).to_csv(data, index=False)

    def run(*args: object) -> int:
        monkeypatch.setattr(sys, "argv", ["deepclust", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        return exit_info.value.code

    return ["fit", data, "-k", "10", "--epochs", "4", "-p", "hidden_dims=[32]", "--map", "pca", "--quiet"], run


def test_a_stopped_command_resumes_when_run_again(tmp_path, monkeypatch, capsys, digits):
    """``deepclust fit`` keeps pretraining in the run folder; the same command after a stop resumes it and
    writes the run a fit never stopped writes."""
    command, run = fit_command(tmp_path, monkeypatch, digits)
    assert run(*command, "--out", tmp_path / "whole") == 0
    saved = stop_after_saves(monkeypatch, 2, KeyboardInterrupt)  # Ctrl-C
    assert run(*command, "--out", tmp_path / "stopped") == 130
    stderr = capsys.readouterr().err
    assert f"training is saved in {tmp_path / 'stopped' / CHECKPOINT_FILE}; run the same command again to resume it" in stderr
    assert [p.name for p in (tmp_path / "stopped").iterdir()] == [CHECKPOINT_FILE]
    saved.clear()
    assert run(*command, "--out", tmp_path / "stopped") == 0  # no --overwrite needed: only a checkpoint was there
    assert saved == [3, 4, 1, 2, 3, 4]  # pretraining's last two epochs, then the clustering phase
    assert (tmp_path / "stopped" / "labels.csv").read_text() == (tmp_path / "whole" / "labels.csv").read_text()
    assert not (tmp_path / "stopped" / CHECKPOINT_FILE).exists()
    saved_model = deepclust.load_model(tmp_path / "stopped" / "model")  # a Pipeline: the table's encoder, then IDEC
    assert saved_model[-1].checkpoint is None
    capsys.readouterr()


def test_a_run_folder_holding_another_commands_pretraining_is_refused_or_replaced_with_overwrite(tmp_path, monkeypatch, capsys, digits):
    command, run = fit_command(tmp_path, monkeypatch, digits)
    assert run(*command, "--out", tmp_path / "whole") == 0
    stop_after_saves(monkeypatch, 1, KeyboardInterrupt)
    assert run(*command, "-p", "lr=0.002", "--out", tmp_path / "run") == 130  # another command, stopped
    monkeypatch.undo()
    stale = (tmp_path / "run" / CHECKPOINT_FILE).read_bytes()
    capsys.readouterr()

    assert run(*command, "--out", tmp_path / "run") == 2
    assert "the pretraining of another fit, stopped in this run folder; run that command again to resume it, or pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "run" / CHECKPOINT_FILE).read_bytes() == stale
    assert run(*command, "--out", tmp_path / "run", "--overwrite") == 0
    assert "held the pretraining of another fit; starting afresh (--overwrite)" in capsys.readouterr().err
    assert (tmp_path / "run" / "labels.csv").read_text() == (tmp_path / "whole" / "labels.csv").read_text()
