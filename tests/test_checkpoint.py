"""Resumable pretraining: a stopped fit, started again, ends as a fit never stopped; other fits' checkpoints are refused."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch

import deepclust
from deepclust import IDEC, checkpoint
from deepclust.errors import InputError
from deepclust.metrics import cluster_accuracy

SMALL = dict(n_clusters=10, pretrain_epochs=20, cluster_epochs=2, hidden_dims=(256, 256), random_state=0)


class Stop(Exception):
    """Stands for the process being stopped (Ctrl-C, a lost machine)."""


def stop_after_saves(monkeypatch, count: int, stop: type[BaseException] = Stop) -> list[int]:
    """Save after every epoch; raise Stop right after the ``count``-th save (once). Returns the epochs saved, as they happen."""
    monkeypatch.setattr(checkpoint, "SAVE_EVERY_SECONDS", 0.0)
    saved: list[int] = []
    calls = iter(range(1, sys.maxsize))
    save = checkpoint.Checkpoint.save

    def counted(self, optimizer, log, generator, *, force=False):
        save(self, optimizer, log, generator, force=force)
        saved.append(len(log.losses))
        if next(calls) == count:
            raise stop

    monkeypatch.setattr(checkpoint.Checkpoint, "save", counted)
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
    assert saved == list(range(4, 21))  # only the epochs left were trained
    assert model.history_["pretrain"].losses == pytest.approx(uninterrupted.history_["pretrain"].losses, rel=1e-6)
    assert same_weights(model.autoencoder_, uninterrupted.autoencoder_)
    np.testing.assert_array_equal(model.labels_, uninterrupted.labels_)
    assert cluster_accuracy(y, model.labels_) > 0.6  # a real clustering (0.68 at this budget), not an empty one
    assert not path.exists() and list(path.parent.iterdir()) == []  # removed once the fit completed, no temporary files


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
    assert saved == []  # no pretraining epoch again
    assert same_weights(model.autoencoder_, uninterrupted.autoencoder_)
    np.testing.assert_array_equal(model.labels_, uninterrupted.labels_)


def test_saving_waits_for_the_interval(digits, tmp_path, monkeypatch):
    X, _ = digits
    writes = []
    write_atomic = checkpoint.write_atomic
    monkeypatch.setattr(checkpoint, "write_atomic", lambda path, content: writes.append(len(content)) or write_atomic(path, content))
    IDEC(**SMALL, checkpoint=tmp_path / "p.ckpt").fit(X)
    assert len(writes) == 1  # 20 short epochs: only the save when pretraining ends


def test_a_checkpoint_of_another_fit_is_refused_and_kept(digits, tmp_path, monkeypatch):
    X, _ = digits
    path = tmp_path / "pretraining.ckpt"
    stop_after_saves(monkeypatch, 2)
    with pytest.raises(Stop):
        IDEC(**SMALL, checkpoint=path).fit(X)
    written = path.read_bytes()
    for other_data, other_params in ((X[:-1], {}), (X, {"lr": 2e-3}), (X + 1e-3, {})):
        with pytest.raises(InputError, match=r"pretraining.ckpt: a checkpoint of another fit \(other data or parameters\); remove it"):
            IDEC(**{**SMALL, **other_params}, checkpoint=path).fit(other_data)
        assert path.read_bytes() == written


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: (tmp / "bad.ckpt").write_text("not a checkpoint") and tmp / "bad.ckpt", r"bad.ckpt: not a readable deepclust checkpoint"),
        (lambda tmp: tmp, r"checkpoint .* is a folder; give the path of a file"),
        (lambda tmp: 3, r"checkpoint must be a file path or None, got 3"),
    ],
)
def test_bad_checkpoints_are_input_errors(digits, tmp_path, make, message):
    X, _ = digits
    with pytest.raises(InputError, match=message):
        IDEC(**SMALL, checkpoint=make(tmp_path)).fit(X)


def test_a_stopped_command_resumes_when_run_again(tmp_path, monkeypatch, capsys, digits):
    """``deepclust fit`` keeps pretraining in the run folder; the same command after a stop resumes it and
    writes the run a fit never stopped writes."""
    from deepclust import cli
    from deepclust.runs import CHECKPOINT_FILE

    X, _ = digits
    data = tmp_path / "digits.csv"
    pd.DataFrame(X[:600], columns=[f"p{i}" for i in range(64)]).to_csv(data, index=False)
    command = ["fit", data, "-k", "10", "--epochs", "4", "-p", "hidden_dims=[32]", "--map", "pca", "--quiet"]

    def run(*args: object) -> int:
        monkeypatch.setattr(sys, "argv", ["deepclust", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        return exit_info.value.code

    assert run(*command, "--out", tmp_path / "whole") == 0
    saved = stop_after_saves(monkeypatch, 2, KeyboardInterrupt)  # Ctrl-C
    assert run(*command, "--out", tmp_path / "stopped") == 130
    stderr = capsys.readouterr().err
    assert f"pretraining is saved in {tmp_path / 'stopped' / CHECKPOINT_FILE}; run the same command again to resume it" in stderr
    assert [p.name for p in (tmp_path / "stopped").iterdir()] == [CHECKPOINT_FILE]
    saved.clear()
    assert run(*command, "--out", tmp_path / "stopped") == 0  # no --overwrite needed: only a checkpoint was there
    assert saved == [3, 4]
    assert (tmp_path / "stopped" / "labels.csv").read_text() == (tmp_path / "whole" / "labels.csv").read_text()
    assert not (tmp_path / "stopped" / CHECKPOINT_FILE).exists()
    saved_model = deepclust.load_model(tmp_path / "stopped" / "model")  # a Pipeline: the table's encoder, then IDEC
    assert saved_model[-1].checkpoint is None
    capsys.readouterr()
