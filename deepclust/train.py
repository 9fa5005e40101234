"""The one training loop every method uses.

Data stays in one in-memory tensor on the training device; each step draws a shuffled
block of row indices, so there is no per-sample Python work and no DataLoader.
Methods plug in what differs through three callables: the loss of a batch, a hook run
before each step (refresh targets, decide to stop) and one run after it (update state
that is not a gradient, such as DCN's centroids).
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import autonotebook, std
from tqdm.auto import tqdm

from deepclust.errors import InputError

if TYPE_CHECKING:
    from deepclust.checkpoint import PhaseCheckpoint

logger = logging.getLogger("deepclust")


def progress_bar_visible() -> bool:
    """Bars need a terminal on stderr, or a notebook (where tqdm.auto draws a widget); elsewhere a log line replaces them."""
    return sys.stderr.isatty() or autonotebook.tqdm is not std.tqdm


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; other values are passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r} was asked for, but PyTorch sees no CUDA device here")
    return resolved


def index_batches(n_samples: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index blocks covering ``range(n_samples)`` once (the last one may be shorter)."""
    order = torch.randperm(n_samples, generator=generator)
    yield from order.split(batch_size)


@torch.inference_mode()
def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Apply ``fn`` to ``X`` in large blocks without building a graph; returns the concatenation."""
    return torch.cat([fn(block) for block in X.split(batch_size)])


def rows_tensor(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """All rows of ``X`` (float32) as one tensor on ``device``, without a copy on the CPU.

    A memory-mapped ``X`` (``np.load(path, mmap_mode="r")``) stays in its file: the tensor
    shares the mapping, and the rows a batch gathers are paged in by the operating system,
    which can drop them again under memory pressure. On a GPU the rows are copied there.
    """
    with warnings.catch_warnings():
        # A read-only map warns that the tensor is not writable; nothing writes to training data.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(X).to(device)


@dataclass
class TrainingLog:
    """What a training phase did: mean loss per epoch, samples processed, wall seconds."""

    losses: list[float] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


@contextmanager
def flushed_denormals() -> Iterator[None]:
    """Treat denormal floats as zero on the CPU for the block, then restore the default.

    Late in training, tiny gradients and Adam moments turn denormal and every operation on
    them is slow: 30 epochs of MNIST-test pretraining ran at 6,850 samples/s without flushing
    and 8,380 with it (2 cores). Values below 1e-38 matter to no loss here.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Give torch back its CPU thread count after the block.

    A seeded UMAP run resets OpenMP's thread count: in a process that had set torch to 1 thread,
    every model trained after an N2D fit ran on 2, and the same seed gave other weights (digits,
    N2D embeddings 1.24 apart at most).
    """
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@flushed_denormals()  # for the whole loop; a @contextmanager is also a decorator
def train(
    parameters: Iterable[torch.nn.Parameter],
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n_samples: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    autocast: str | None = None,
    before_step: Callable[[int], bool] | None = None,
    after_step: Callable[[torch.Tensor], None] | None = None,
    verbose: bool = False,
    description: str = "training",
    checkpoint: PhaseCheckpoint | None = None,
) -> TrainingLog:
    """Minimise ``batch_loss(indices)`` with Adam over shuffled index batches.

    ``autocast`` names a device type ("cpu", "cuda") to compute the loss under bfloat16
    autocast there; None keeps float32. ``before_step(iteration)`` may return True to stop
    early (DEC's convergence test); ``after_step(indices)`` runs after each optimiser step.
    With ``verbose``, a bar shows epoch, loss and time left; without a terminal, one log line
    per phase says the same. With a ``checkpoint`` (a phase's part of one) the loop starts after
    the epochs it holds and saves its state there as it goes (see :mod:`deepclust.checkpoint`).
    """
    # The fused kernel is 1.46x faster end to end than the default on 2 CPU cores (IDEC on digits).
    # float(): a NumPy learning rate (from np.logspace, say) would make a checkpoint torch.load refuses.
    optimizer = torch.optim.Adam(parameters, lr=float(lr), fused=True)
    log = TrainingLog()
    first_epoch = checkpoint.restore(optimizer, log, generator) if checkpoint is not None else 0
    earlier_seconds = log.seconds  # of the run the checkpoint was saved by
    # Counted from the start of the phase, so that before_step's schedule (DEC's every update_interval
    # steps) goes on after a restore as it would have; a phase that stopped early saved no more epochs.
    iteration = first_epoch * math.ceil(n_samples / batch_size)
    start = time.perf_counter()
    show_bar = verbose and progress_bar_visible()
    bar = tqdm(range(first_epoch, epochs), desc=description, disable=not show_bar, leave=False, unit="epoch")
    for _ in bar:
        # Summed as a tensor so that a GPU is not synchronised on every step.
        epoch_loss, epoch_samples, stop = torch.zeros(()), 0, False
        for indices in index_batches(n_samples, batch_size, generator):
            if before_step is not None and before_step(iteration):
                stop = True
                break
            with torch.autocast(autocast or "cpu", dtype=torch.bfloat16, enabled=autocast is not None):
                loss = batch_loss(indices)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(indices)
            epoch_loss = epoch_loss + loss.detach() * len(indices)
            epoch_samples += len(indices)
            iteration += 1
        if epoch_samples:
            log.losses.append(epoch_loss.item() / epoch_samples)
            if not math.isfinite(log.losses[-1]):
                bar.close()
                raise InputError(
                    f"{description} diverged in epoch {len(log.losses)}: the loss is {log.losses[-1]}; "
                    "lower the learning rate, or scale the features"
                )
            log.samples += epoch_samples
            log.seconds = earlier_seconds + time.perf_counter() - start
            bar.set_postfix(loss=f"{log.losses[-1]:.4g}")
            if checkpoint is not None:
                checkpoint.save(optimizer, log, generator, force=len(log.losses) == epochs)
        if stop:
            break
    bar.close()
    log.seconds = earlier_seconds + time.perf_counter() - start
    if verbose and not show_bar:
        last = f", loss {log.losses[-1]:.4g}" if log.losses else ""
        logger.info("%s: %d epochs%s, %.1f s", description, len(log.losses), last, log.seconds)
    return log


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (CPU: AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_bfloat16() is not None


def cpu_bfloat16() -> str | None:
    """How this CPU computes bfloat16 natively: "AMX" (matrix tiles), "AVX512-BF16" (dot products), or None."""
    # torch.cpu's capability probes are private; a torch without them gets None, so float32.
    probes = {"AMX": "_is_amx_tile_supported", "AVX512-BF16": "_is_avx512_bf16_supported"}
    return next((name for name, probe in probes.items() if getattr(torch.cpu, probe, lambda: False)()), None)


def seed_from(random_state: int | np.random.RandomState | None) -> int:
    """One integer seed drawn from scikit-learn's ``random_state`` convention."""
    from sklearn.utils import check_random_state

    try:
        generator = check_random_state(random_state)
    except ValueError as err:  # a string, a float, a negative or too large seed
        raise InputError(f"random_state must be None, an integer in [0, 2**32 - 1] or a numpy RandomState, got {random_state!r}") from err
    return int(generator.randint(np.iinfo(np.int32).max))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Seed torch's global generator (weight init, dropout) for the block, leaving the caller's alone.

    Yields a CPU ``torch.Generator`` with the same seed for the batch order.
    """
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)
