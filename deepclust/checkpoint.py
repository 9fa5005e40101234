"""Resumable pretraining: the autoencoder, its optimiser and the random state, saved as training goes.

A fit given ``checkpoint=PATH`` saves pretraining's state there at most every
``SAVE_EVERY_SECONDS`` and when pretraining ends; the same fit started again (same data, same
parameters) loads it and goes on from the last epoch saved, and with an int ``random_state``
ends with the same model as a fit never stopped. Pretraining is the long part of every deep
method; a clustering phase that was stopped starts again from the pretrained autoencoder. The
file is removed when the fit completes, with the folders made for it (also those a stopped run made).

A checkpoint belongs to one pretraining: its fingerprint hashes the data, the method, the seed
and every parameter pretraining depends on (those of ``DeepClusterer``, but for the count of
clusters). A fit that finds a checkpoint of other data or parameters refuses it, rather than
resume the wrong run or overwrite what the user may still want; one that differs only in its
clustering phase (``n_clusters``, ``cluster_lr``, ``gamma`` ...) resumes the pretraining, which
would be the same. The file carries a checksum of its contents, so a damaged one is refused too.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepclust.errors import InputError
from deepclust.io.write import discard, missing_folders, write_atomic

#: A stopped fit loses at most this much training; saving the default autoencoder and Adam's
#: moments (40 MB on MNIST) after every 0.4 s epoch would slow pretraining by a quarter or more.
SAVE_EVERY_SECONDS = 60.0
#: A checkpoint file: this line, the blake2b hex digest of the rest and a newline, then torch.save's bytes.
MAGIC = b"deepclust checkpoint 2\n"
DIGEST_BYTES = 32

logger = logging.getLogger("deepclust")


class CheckpointOfAnotherFit(InputError):
    """The checkpoint file holds another fit's pretraining (other data or parameters); it is kept."""


def check_checkpoint_path(path: Any, owner: str) -> Path | None:
    """``checkpoint`` as a Path (None stays None, ``~`` expanded), or an InputError for what cannot be one.

    Refused before any training: a folder, and a place no file can be written (under a file, or
    in a folder without write permission), which a save would otherwise find only after the
    first minute of pretraining.
    """
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str) or not os.fspath(path):
        raise InputError(f"{owner}: checkpoint must be a file path or None, got {path!r}")
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{owner}: checkpoint {path} is a folder; give the path of a file, e.g. {path / 'pretraining.ckpt'}")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        reason = "is a file" if not existing.is_dir() else "cannot be written to"
        raise InputError(f"{owner}: cannot write checkpoint {path}: {existing} {reason}")
    return path


def fingerprint(X: np.ndarray, owner: str, params: dict[str, Any], seed: int | None) -> str:
    """Hash of the rows, the method, the pretraining parameters and the seed (None: an unseeded fit)."""
    described = sorted((name, _described(value)) for name, value in params.items())
    digest = hashlib.blake2b(np.ascontiguousarray(X).view(np.uint8))
    digest.update(repr((owner, X.shape, described, seed)).encode())
    return digest.hexdigest()


def _described(value: Any) -> Any:
    """A parameter as plain Python, so that equal values hash alike (``np.float64(1e-3)`` as ``1e-3``, a list as a tuple)."""
    if isinstance(value, np.generic):
        return _described(value.item())
    if isinstance(value, (list, tuple)):
        return tuple(_described(item) for item in value)
    if isinstance(value, torch.device):
        return str(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)  # lr=1 and lr=1.0 train alike
    return type(value).__name__


@dataclass
class Checkpoint:
    """Where one fit's pretraining state goes, and what it must match to be resumed."""

    path: Path
    fingerprint: str
    module: torch.nn.Module
    _last_save: float = field(default_factory=time.monotonic)
    #: Folders the first save will create, outermost first: removed with the file when the fit completes.
    _created: list[Path] = field(init=False)

    def __post_init__(self) -> None:
        self._created = missing_folders(self.path)

    def restore(self, optimizer: torch.optim.Optimizer, log: Any, generator: torch.Generator) -> int:
        """Load the saved state into ``module``, ``optimizer``, ``log`` and the random generators; returns the epochs done (0 without a file)."""
        if not self.path.exists():
            return 0
        state = self._read()
        if state.get("fingerprint") != self.fingerprint:
            raise CheckpointOfAnotherFit(
                f"{self.path}: a checkpoint of another fit (other data or parameters), kept as it is; give this fit "
                "another checkpoint path, or delete that file to start pretraining afresh"
            )
        self.module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        log.losses[:] = state["losses"]
        log.samples, log.seconds = state["samples"], state["seconds"]
        self._adopt_created(state.get("created", []))
        self._last_save = time.monotonic()
        logger.info("%s: resuming pretraining after epoch %d", self.path, len(log.losses))
        return len(log.losses)

    def save(self, optimizer: torch.optim.Optimizer, log: Any, generator: torch.Generator, *, force: bool = False) -> None:
        """Write the state atomically, if ``SAVE_EVERY_SECONDS`` have passed since the last save (or ``force``)."""
        if not force and time.monotonic() - self._last_save < SAVE_EVERY_SECONDS:
            return
        state = {
            "fingerprint": self.fingerprint,
            "module": self.module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "losses": list(log.losses),
            "samples": log.samples,
            "seconds": log.seconds,
            "created": [str(folder.absolute()) for folder in self._created],
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        write_atomic(self.path, MAGIC + _checksum(payload) + b"\n" + payload)
        self._last_save = time.monotonic()

    def _adopt_created(self, saved: list[str]) -> None:
        """Take over the folders the stopped run made for this file, so that the fit that completes removes them.

        Only folders above this file count: the list comes from a file, which must not name others.
        """
        above = set(self.path.absolute().parents)
        self._created = [Path(folder) for folder in saved if Path(folder) in above] or self._created

    def _read(self) -> dict[str, Any]:
        """The saved state, checked against the file's own checksum; an InputError for anything else."""
        try:
            content = self.path.read_bytes()
        except OSError as err:
            raise InputError(f"{self.path}: cannot read the checkpoint: {err.strerror}") from err
        if not content.startswith(MAGIC):
            what = "is empty" if not content else "is not a deepclust checkpoint"
            raise InputError(f"{self.path} {what}, and is kept as it is; give this fit another checkpoint path")
        digest, _, payload = content[len(MAGIC) :].partition(b"\n")
        damaged = InputError(
            f"{self.path}: a damaged checkpoint (its contents do not match their checksum); delete it to start pretraining afresh"
        )
        if digest != _checksum(payload):
            raise damaged
        try:
            state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        except Exception as err:  # a checksum that matches but contents torch cannot read: written by another torch
            raise damaged from err
        if not isinstance(state, dict):
            raise damaged
        return state

    def remove(self) -> None:
        """Delete the file, and the folders this fit made for it while they are empty: the fit is complete."""
        discard(self.path, self._created)


def _checksum(payload: bytes) -> bytes:
    """The hex digest a checkpoint file carries of its ``torch.save`` bytes."""
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).hexdigest().encode()
