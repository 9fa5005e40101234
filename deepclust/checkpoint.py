"""Resumable training: each phase's networks, optimiser, random state and loop state, saved as training goes.

A fit given ``checkpoint=PATH`` saves there, at most every ``SAVE_EVERY_SECONDS`` and when a
phase ends, the state of the phase it is in: pretraining, then the trained clustering phase of
DEC, IDEC, DCN and VaDE. The same fit started again (same data, same parameters) loads it and
goes on from the last epoch saved, and with an int ``random_state`` ends with the same model as
a fit never stopped. The file is removed when the fit completes, with the folders made for it
(also those a stopped run made).

A checkpoint file belongs to one pretraining: its fingerprint hashes the data, the method, the
seed and every parameter pretraining depends on (those of ``DeepClusterer``, but for the count
of clusters). A fit that finds a file of other data or parameters refuses it, rather than resume
the wrong run or overwrite what the user may still want. The clustering phase's state carries a
fingerprint of every parameter: a fit that differs only there (``n_clusters``, ``cluster_lr``,
``gamma`` ...) resumes the pretraining, which would be the same, and starts its clustering phase
afresh. A resumed clustering phase does not make its start again (k-means, or a manifold layout that
takes minutes on large data): the restore replaces it. The file carries a checksum of its contents,
so a damaged one is refused too.
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
#: A checkpoint file: this line, the blake2b hex digest of the rest and a newline, then torch.save's bytes
#: of ``{"fingerprint", "created", "phases"}``, each phase's state being torch.save's bytes of its own.
MAGIC_PREFIX = b"deepclust checkpoint "
MAGIC = MAGIC_PREFIX + b"3\n"
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
    """One fit's checkpoint file: the last state saved by each of its training phases.

    ``fingerprints`` maps each phase ("pretraining", "clustering") to the fingerprint its state
    must match; pretraining's is the file's own (see the module docstring).
    """

    path: Path
    fingerprints: dict[str, str]
    _last_save: float = field(default_factory=time.monotonic)
    #: torch.save's bytes of each phase's last state: a snapshot, as training goes on changing the tensors.
    _phases: dict[str, bytes] = field(default_factory=dict)
    _file_read: bool = False
    #: Folders the first save will create, outermost first: removed with the file when the fit completes.
    _created: list[Path] = field(init=False)

    def __post_init__(self) -> None:
        self._created = missing_folders(self.path)

    def phase(
        self, name: str, modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor] | None = None
    ) -> PhaseCheckpoint:
        """The part of this file that training phase ``name`` restores and saves: the state of ``modules`` and
        ``tensors`` (the loop's own state, such as DEC's target distribution), which a restore replaces in place."""
        return PhaseCheckpoint(self, name, torch.nn.ModuleDict(modules), {} if tensors is None else tensors)

    def saved(self, name: str) -> bytes | None:
        """The state phase ``name`` saved, from the file on the first call; None without one."""
        if not self._file_read and self.path.exists():
            content = self._read()
            if content["fingerprint"] != self.fingerprints["pretraining"]:
                raise CheckpointOfAnotherFit(
                    f"{self.path}: a checkpoint of another fit (other data or parameters), kept as it is; give this fit "
                    "another checkpoint path, or delete that file to start training afresh"
                )
            self._phases.update(content["phases"])
            self._adopt_created(content["created"])
            self._last_save = time.monotonic()
        self._file_read = True
        return self._phases.get(name)

    def state(self, name: str) -> dict[str, Any] | None:
        """The state phase ``name`` saved for this fit's parameters, loaded; None without one, or with one of
        other parameters (another clustering phase of the same pretraining)."""
        payload = self.saved(name)
        if payload is None:
            return None
        state = load_state(payload, self)
        return state if state.get("fingerprint") == self.fingerprints[name] else None

    def due(self) -> bool:
        """Whether ``SAVE_EVERY_SECONDS`` have passed since the last save (or restore)."""
        return time.monotonic() - self._last_save >= SAVE_EVERY_SECONDS

    def write(self, name: str, state: bytes) -> None:
        """Keep ``state`` as phase ``name``'s and write the whole file atomically."""
        self._phases[name] = state
        content = {
            "fingerprint": self.fingerprints["pretraining"],
            "created": [str(folder.absolute()) for folder in self._created],
            "phases": self._phases,
        }
        buffer = io.BytesIO()
        torch.save(content, buffer)
        payload = buffer.getvalue()
        write_atomic(self.path, MAGIC + _checksum(payload) + b"\n" + payload)
        self._last_save = time.monotonic()

    def remove(self) -> None:
        """Delete the file, and the folders this fit made for it while they are empty: the fit is complete."""
        discard(self.path, self._created)

    def damaged(self) -> InputError:
        """The error for a file whose contents cannot be what a fit saved."""
        return InputError(
            f"{self.path}: a damaged checkpoint (its contents do not match their checksum); delete it to start training afresh"
        )

    def _adopt_created(self, saved: list[str]) -> None:
        """Take over the folders the stopped run made for this file, so that the fit that completes removes them.

        Only folders above this file count: the list comes from a file, which must not name others.
        """
        above = set(self.path.absolute().parents)
        self._created = [Path(folder) for folder in saved if Path(folder) in above] or self._created

    def _read(self) -> dict[str, Any]:
        """The file's contents, checked against its own checksum; an InputError for anything else."""
        try:
            content = self.path.read_bytes()
        except OSError as err:
            raise InputError(f"{self.path}: cannot read the checkpoint: {err.strerror}") from err
        if not content.startswith(MAGIC):
            if content.startswith(MAGIC_PREFIX):
                raise InputError(
                    f"{self.path}: a checkpoint of another version of deepclust, which this one cannot resume; "
                    "it is kept as it is: delete it to start training afresh"
                )
            what = "is empty" if not content else "is not a deepclust checkpoint"
            raise InputError(f"{self.path} {what}, and is kept as it is; give this fit another checkpoint path")
        digest, _, payload = content[len(MAGIC) :].partition(b"\n")
        if digest != _checksum(payload):
            raise self.damaged()
        state = load_state(payload, self)
        expected = {"fingerprint": str, "phases": dict, "created": list}
        if not all(isinstance(state.get(key), kind) for key, kind in expected.items()):
            raise self.damaged()
        return state


@dataclass
class PhaseCheckpoint:
    """One training phase's part of a :class:`Checkpoint`: what :func:`deepclust.train.train` restores and saves."""

    file: Checkpoint
    name: str
    module: torch.nn.Module
    tensors: dict[str, torch.Tensor]

    def restore(self, optimizer: torch.optim.Optimizer, log: Any, generator: torch.Generator) -> int:
        """Load the saved state into ``module``, ``tensors``, ``optimizer``, ``log`` and the random generators;
        returns the epochs done (0 without a saved state, or with one of other clustering parameters)."""
        state = self.file.state(self.name)
        if state is None:
            if self.file.saved(self.name) is not None:
                logger.info("%s: the saved %s is of other parameters; starting it afresh", self.file.path, self.name)
            return 0
        try:
            self.module.load_state_dict(state["module"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            if "cuda_rng" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
            device = next(self.module.parameters()).device
            tensors = {key: value.to(device) for key, value in state["tensors"].items()}
            log.losses[:] = state["losses"]
            log.samples, log.seconds = state["samples"], state["seconds"]
        except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as err:  # the fingerprint matched: only a damaged file
            raise self.file.damaged() from err
        self.tensors.clear()
        self.tensors.update(tensors)
        logger.info("%s: resuming %s after epoch %d", self.file.path, self.name, len(log.losses))
        return len(log.losses)

    def save(self, optimizer: torch.optim.Optimizer, log: Any, generator: torch.Generator, *, force: bool = False) -> None:
        """Write the state atomically, if ``SAVE_EVERY_SECONDS`` have passed since the last save (or ``force``)."""
        if not force and not self.file.due():
            return
        state = {
            "fingerprint": self.file.fingerprints[self.name],
            "module": self.module.state_dict(),
            "tensors": self.tensors,
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "losses": list(log.losses),
            "samples": log.samples,
            "seconds": log.seconds,
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.file.write(self.name, buffer.getvalue())


def phase_of(
    checkpoint: Checkpoint | None, name: str, modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor] | None = None
) -> PhaseCheckpoint | None:
    """``checkpoint.phase(name, modules, tensors)``, or None for a fit without a checkpoint."""
    return None if checkpoint is None else checkpoint.phase(name, modules, tensors)


def load_state(payload: bytes, file: Checkpoint) -> dict[str, Any]:
    """``torch.load`` of a checked payload of ``file``; its damaged() error for anything but a dict."""
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # a checksum that matches but contents torch cannot read: written by another torch
        raise file.damaged() from err
    if not isinstance(state, dict):
        raise file.damaged()
    return state


def _checksum(payload: bytes) -> bytes:
    """The hex digest a checkpoint file carries of its ``torch.save`` bytes."""
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).hexdigest().encode()
