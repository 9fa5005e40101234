"""The one training loop every method uses.

Data stays in one in-memory tensor on the training device; each step draws a shuffled
block of row indices, so there is no per-sample Python work and no DataLoader.
Methods plug in what differs through three callables: the loss of a batch, a hook run
before each step (refresh targets, decide to stop) and one run after it (update state
that is not a gradient, such as DCN's centroids).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from deepclust.errors import InputError


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


@dataclass
class TrainingLog:
    """What a training phase did: mean loss per epoch, samples processed, wall seconds."""

    losses: list[float] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


def train(
    parameters: Iterable[torch.nn.Parameter],
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n_samples: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    before_step: Callable[[int], bool] | None = None,
    after_step: Callable[[torch.Tensor], None] | None = None,
    verbose: bool = False,
    description: str = "training",
) -> TrainingLog:
    """Minimise ``batch_loss(indices)`` with Adam over shuffled index batches.

    ``before_step(iteration)`` may return True to stop early (DEC's convergence test);
    ``after_step(indices)`` runs after each optimiser step.
    """
    # The fused kernel is 1.46x faster end to end than the default on 2 CPU cores (IDEC on digits).
    optimizer = torch.optim.Adam(parameters, lr=lr, fused=True)
    log = TrainingLog()
    iteration = 0
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=description, disable=not verbose, leave=False, unit="epoch")
    for _ in bar:
        # Summed as a tensor so that a GPU is not synchronised on every step.
        epoch_loss, epoch_samples, stop = torch.zeros(()), 0, False
        for indices in index_batches(n_samples, batch_size, generator):
            if before_step is not None and before_step(iteration):
                stop = True
                break
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
            log.samples += epoch_samples
            bar.set_postfix(loss=f"{log.losses[-1]:.4g}")
        if stop:
            break
    bar.close()
    log.seconds = time.perf_counter() - start
    return log


def seed_from(random_state: int | np.random.RandomState | None) -> int:
    """One integer seed drawn from scikit-learn's ``random_state`` convention."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Seed torch's global generator (weight init, dropout) for the block, leaving the caller's alone.

    Yields a CPU ``torch.Generator`` with the same seed for the batch order.
    """
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)
