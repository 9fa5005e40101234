"""Training on several processes or machines: the autoencoder's pretraining under DDP.

Start one process per GPU (or a few per CPU machine) with torchrun; each runs the same
script, which calls :func:`init_distributed` and then ``fit_distributed(model, X)``::

    torchrun --standalone --nproc_per_node=2 fit.py                    # one machine
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 \\
        --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 fit.py          # on each of two machines

Every process reads the same data (a memory map shares one copy per machine), seeds alike
(with ``random_state=None``, on a seed drawn by rank 0) and so draws the same shuffled
index blocks of ``batch_size`` rows. Each process trains on its strided share of a block
(``block[rank::world_size]``, DistributedSampler's split) and DistributedDataParallel
averages the gradients, so a step equals a single-process step on the whole block: the loss
curve is the single-process one (with ``noise > 0`` each process draws its own dropout
masks, so it matches in distribution only). Only pretraining — most of the training time —
is split; the clustering phase then runs on every process alike, and every process ends
with the same model.

A ``checkpoint`` is rank 0's file: rank 0 reads it and sends what it holds to the others,
and only rank 0 writes it, so the other processes need not see that file (another machine).
A stopped fit, run again on the same number of processes, resumes as a single-process one does
and ends with the same model as a fit never stopped; only the losses logged for the epochs
before the stop are rank 0's rows' (each process logs its own share, averaged when the phase ends).
"""

from __future__ import annotations

import os
from functools import cache
from numbers import Integral
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from deepclust.checkpoint import Checkpoint, PhaseCheckpoint
from deepclust.errors import InputError
from deepclust.methods.base import DeepClusterer
from deepclust.train import TrainingLog, seed_from


def init_distributed(backend: str | None = None) -> torch.device:
    """Join the process group that torchrun describes in the environment; return this process's device.

    ``backend`` defaults to NCCL when CUDA is present and to gloo on CPUs. Outside torchrun
    (no ``WORLD_SIZE`` in the environment) nothing is started and training is single-process.
    With CUDA, the device is ``cuda:LOCAL_RANK`` and becomes the current one, so that
    ``device="auto"`` in an estimator picks it. The environment and ``backend`` are checked
    first: a bad RANK or WORLD_SIZE would otherwise leave the processes waiting for each other.
    """
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    _check_backend(backend, cuda)
    device = torch.device("cuda", _env_int("LOCAL_RANK", default=0)) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        _check_torchrun_environment()
        dist.init_process_group(backend)
    return device


def _check_backend(backend: str, cuda: bool) -> None:
    """An InputError for a backend torch.distributed does not know, or NCCL without a GPU."""
    known = [name for name in dist.Backend.backend_list if name != "undefined"]
    if backend not in known:
        raise InputError(f"init_distributed: backend must be one of {known}, got {backend!r}")
    if backend == "nccl" and not cuda:
        raise InputError("init_distributed: backend='nccl' needs CUDA, which this machine lacks; use backend='gloo' on CPUs")


def _check_torchrun_environment() -> None:
    """An InputError unless WORLD_SIZE, RANK (and MASTER_PORT if set) describe a valid process group."""
    world = _env_int("WORLD_SIZE")
    if world < 1:
        raise InputError(f"init_distributed: WORLD_SIZE must be at least 1, got {world}")
    rank = _env_int("RANK")
    if not 0 <= rank < world:
        raise InputError(f"init_distributed: RANK={rank} is outside [0, WORLD_SIZE={world}); ranks are 0 to {world - 1}")
    if "MASTER_PORT" in os.environ and not 0 < _env_int("MASTER_PORT") < 65536:
        raise InputError(f"init_distributed: MASTER_PORT must be a port number in [1, 65535], got {os.environ['MASTER_PORT']}")


def _env_int(name: str, *, default: int | None = None) -> int:
    """The environment variable ``name`` (torchrun sets it) as an int; ``default`` when it is unset."""
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise InputError(f"init_distributed: {name} is not set; start the processes with torchrun, which sets it")
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"init_distributed: {name} must be an integer, got {value!r}") from None


def rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the number of processes; ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class DataParallelPretraining:
    """Mixin for a :class:`DeepClusterer`: pretraining split across the process group.

    :func:`fit_distributed` puts it in front of a method's class; without a process group
    it trains as the method itself does.
    """

    def _checkpoint(self, X: np.ndarray, seed: int) -> Checkpoint | None:
        """The method's checkpoint, shared by the process group (:class:`SharedCheckpoint`) when there is one."""
        checkpoint = super()._checkpoint(X, seed)
        if checkpoint is None or rank_and_world_size()[1] == 1:
            return checkpoint
        fingerprints = [checkpoint.fingerprints]
        dist.broadcast_object_list(fingerprints, src=0)  # rank 0's file decides, for every process alike
        return SharedCheckpoint(checkpoint.path, fingerprints[0])

    def _pretrain(self, data: torch.Tensor, generator: torch.Generator, checkpoint: PhaseCheckpoint | None = None) -> TrainingLog:
        ae = self.autoencoder_.train()
        rank, world = rank_and_world_size()
        device_ids = [data.device.index] if data.device.type == "cuda" else None
        replica = DistributedDataParallel(ae, device_ids=device_ids) if world > 1 else ae
        features = data[0].numel()

        rows = self._training_rows(data, generator)

        def reconstruction_loss(indices: torch.Tensor) -> torch.Tensor:
            x = rows(indices[rank::world])
            # This share's squared error over the whole block's size, times world: the average
            # of the processes' gradients (what DDP computes) is the gradient of the block's mean.
            return F.mse_loss(replica(x)[1], x, reduction="sum") * (world / (len(indices) * features))

        log = self._train(
            ae.parameters(), reconstruction_loss, len(data), generator, self._pretrain_epochs(len(data)), "pretraining",
            bfloat16=self._in_bfloat16(), checkpoint=checkpoint,
        )
        if world > 1 and log.losses:
            # Each process logged its share; their mean is the loss of the whole data.
            losses = torch.tensor(log.losses, dtype=torch.float64, device=data.device)
            dist.all_reduce(losses)
            log.losses = (losses / world).tolist()
        return log


class SharedCheckpoint(Checkpoint):
    """A :class:`Checkpoint` of a process group: rank 0 reads the file and sends its contents (or the error
    it raised) to every process, and only rank 0 writes and removes it."""

    def saved(self, name: str) -> bytes | None:
        if not self._file_read:
            read: list[Any] = [None]
            if dist.get_rank() == 0:
                try:
                    super().saved(name)
                    read = [self._phases]
                except InputError as err:
                    read = [err]
            dist.broadcast_object_list(read, src=0)
            if isinstance(read[0], InputError):
                raise read[0]
            self._phases, self._file_read = read[0], True
        return self._phases.get(name)

    def due(self) -> bool:
        return dist.get_rank() == 0 and super().due()

    def write(self, name: str, state: bytes) -> None:
        if dist.get_rank() == 0:
            super().write(name, state)

    def remove(self) -> None:
        if dist.get_rank() == 0:
            super().remove()


def fit_distributed(model: DeepClusterer, X: Any) -> DeepClusterer:
    """Fit a deep clustering ``model`` on ``X`` with its pretraining split across the process group.

    Call it in every process (after :func:`init_distributed`); each ends with the same fitted
    ``model``, still an instance of its own class (so ``deepclust.save`` takes it), with its
    parameters unchanged. Every process must hold the same ``X`` and accept the parameters (both
    are compared first, so a refusal on one process is an InputError on all, not a wait); a
    ``random_state`` that is not an int is replaced, for this fit, by one seed drawn on rank 0,
    so that all processes fit the same model. Without a process group it is ``model.fit(X)``.

    >>> from deepclust import IDEC
    >>> from deepclust.scale import fit_distributed
    >>> model = fit_distributed(IDEC(n_clusters=10, random_state=0), X)   # doctest: +SKIP
    """
    if not isinstance(model, DeepClusterer):
        raise InputError(f"fit_distributed takes a deep clustering estimator such as deepclust.IDEC(...), got {type(model).__name__}")
    params = model.get_params(deep=False)
    _, world = rank_and_world_size()
    if world > 1:
        _check_alike(model, X, world)
        params["random_state"] = _shared_seed(model.random_state)
    fitted = _data_parallel(type(model))(**params).fit(X)
    model.__dict__.update({name: value for name, value in vars(fitted).items() if name not in params})
    return model


def _check_alike(model: DeepClusterer, X: Any, world: int) -> None:
    """An InputError, on every process alike, unless all processes hold data of the same shape and
    accept the model's parameters (a checkpoint path one process cannot write, a device it lacks).

    Either would otherwise fail on some processes only, and the others wait in training's
    collective calls until the group's timeout.
    """
    try:
        model.check_parameters()
        refused = None
    except InputError as err:
        refused = str(err)
    found: list[Any] = [None] * world
    dist.all_gather_object(found, (tuple(np.shape(X)), refused))
    shapes = [shape for shape, _ in found]
    if len(set(shapes)) > 1:
        held = ", ".join(f"rank {rank} {shape}" for rank, shape in enumerate(shapes))
        raise InputError(f"fit_distributed: every process must hold the same X (rows, features), but they hold {held}")
    refusals = {rank: message for rank, (_, message) in enumerate(found) if message is not None}
    if len(refusals) == world and len(set(refusals.values())) == 1:
        raise InputError(refusals[0])  # the same refusal everywhere: a parameter wrong for every process
    if refusals:
        raise InputError("fit_distributed: " + "; ".join(f"rank {rank}: {message}" for rank, message in refusals.items()))


def _shared_seed(random_state: Any) -> Any:
    """An int ``random_state`` as it is; otherwise rank 0's seed drawn from it, sent to every process."""
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return random_state
    seed = [seed_from(random_state)]  # drawn on every process, so a bad random_state fails on all alike
    dist.broadcast_object_list(seed, src=0)
    return seed[0]


@cache
def _data_parallel(method: type[DeepClusterer]) -> type[DeepClusterer]:
    """``method`` with :class:`DataParallelPretraining` in front of it."""
    return type(f"DataParallel{method.__name__}", (DataParallelPretraining, method), {"__module__": __name__})
