"""Resumable pretraining: the autoencoder, its optimiser and the random state, saved as training goes.

A fit given ``checkpoint=PATH`` saves pretraining's state there at most every
``SAVE_EVERY_SECONDS`` and when pretraining ends; the same fit started again (same data, same
parameters) loads it and goes on from the last epoch saved, and with an int ``random_state``
ends with the same model as a fit never stopped. Pretraining is the long part of every deep
method; a clustering phase that was stopped starts again from the pretrained autoencoder. The
file is removed when the fit completes.

A checkpoint belongs to one fit: its fingerprint hashes the data and every parameter but
``checkpoint`` and ``verbose``. A fit that finds another fit's checkpoint refuses it, rather
than resume the wrong run or overwrite what the user may still want.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepclust.errors import InputError
from deepclust.io.write import write_atomic

#: A stopped fit loses at most this much training; saving the default autoencoder and Adam's
#: moments (40 MB on MNIST) after every 0.4 s epoch would slow pretraining by a quarter or more.
SAVE_EVERY_SECONDS = 60.0
FORMAT = 1

logger = logging.getLogger("deepclust")


def check_checkpoint_path(path: Any, owner: str) -> Path | None:
    """``checkpoint`` as a Path (None stays None), or an InputError for what cannot be one."""
    if path is None:
        return None
    if not isinstance(path, (str, Path)) or not str(path):
        raise InputError(f"{owner}: checkpoint must be a file path or None, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{owner}: checkpoint {path} is a folder; give the path of a file, e.g. {path / 'pretraining.ckpt'}")
    return path


def fingerprint(X: np.ndarray, estimator: Any) -> str:
    """Hash of the rows and of every parameter that shapes training (all but ``checkpoint`` and ``verbose``)."""
    params = {name: value for name, value in estimator.get_params().items() if name not in ("checkpoint", "verbose")}
    described = sorted((name, value if isinstance(value, (int, float, str, tuple, type(None))) else type(value).__name__) for name, value in params.items())
    digest = hashlib.blake2b(np.ascontiguousarray(X).view(np.uint8))
    digest.update(repr((type(estimator).__name__, X.shape, described)).encode())
    return digest.hexdigest()


@dataclass
class Checkpoint:
    """Where one fit's pretraining state goes, and what it must match to be resumed."""

    path: Path
    fingerprint: str
    module: torch.nn.Module
    _last_save: float = field(default_factory=time.monotonic)

    def restore(self, optimizer: torch.optim.Optimizer, log: Any, generator: torch.Generator) -> int:
        """Load the saved state into ``module``, ``optimizer``, ``log`` and the random generators; returns the epochs done (0 without a file)."""
        if not self.path.exists():
            return 0
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch.load fails in many ways (zip, pickle, EOF) on a file that is not a checkpoint
            raise InputError(f"{self.path}: not a readable deepclust checkpoint ({err}); remove it to start afresh") from err
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("fingerprint") != self.fingerprint:
            raise InputError(
                f"{self.path}: a checkpoint of another fit (other data or parameters); "
                "remove it, or give this fit another checkpoint path"
            )
        self.module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        log.losses[:] = state["losses"]
        log.samples, log.seconds = state["samples"], state["seconds"]
        self._last_save = time.monotonic()
        logger.info("%s: resuming pretraining after epoch %d", self.path, len(log.losses))
        return len(log.losses)

    def save(self, optimizer: torch.optim.Optimizer, log: Any, generator: torch.Generator, *, force: bool = False) -> None:
        """Write the state atomically, if ``SAVE_EVERY_SECONDS`` have passed since the last save (or ``force``)."""
        if not force and time.monotonic() - self._last_save < SAVE_EVERY_SECONDS:
            return
        state = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "module": self.module.state_dict(),
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
        write_atomic(self.path, buffer.getvalue())
        self._last_save = time.monotonic()

    def remove(self) -> None:
        """Delete the file: the fit it belongs to is complete."""
        self.path.unlink(missing_ok=True)
