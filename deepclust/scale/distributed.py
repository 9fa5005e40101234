"""Training on several processes or machines: the autoencoder's pretraining under DDP.

Start one process per GPU (or a few per CPU machine) with torchrun; each runs the same
script, which calls :func:`init_distributed` and then ``fit_distributed(model, X)``::

    torchrun --standalone --nproc_per_node=2 fit.py                    # one machine
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 \\
        --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 fit.py          # on each of two machines

Every process reads the same data (a memory map shares one copy per machine), seeds alike
and so draws the same shuffled index blocks of ``batch_size`` rows. Each process trains on
its strided share of a block (``block[rank::world_size]``, DistributedSampler's split) and
DistributedDataParallel averages the gradients, so a step equals a single-process step on
the whole block: the loss curve is the single-process one (with ``noise > 0`` each process
draws its own dropout masks, so it matches in distribution only). Only pretraining — most
of the training time — is split; the clustering phase then runs on every process alike,
and every process ends with the same model.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from deepclust.errors import InputError
from deepclust.methods.base import DeepClusterer
from deepclust.train import TrainingLog


def init_distributed(backend: str | None = None) -> torch.device:
    """Join the process group that torchrun describes in the environment; return this process's device.

    ``backend`` defaults to NCCL when CUDA is present and to gloo on CPUs. Outside torchrun
    (no ``WORLD_SIZE`` in the environment) nothing is started and training is single-process.
    With CUDA, the device is ``cuda:LOCAL_RANK`` and becomes the current one, so that
    ``device="auto"`` in an estimator picks it.
    """
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return device


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

    def _pretrain(self, data: torch.Tensor, generator: torch.Generator) -> TrainingLog:
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
            bfloat16=self._pretrain_in_bfloat16(),
        )
        if world > 1 and log.losses:
            # Each process logged its share; their mean is the loss of the whole data.
            losses = torch.tensor(log.losses, dtype=torch.float64, device=data.device)
            dist.all_reduce(losses)
            log.losses = (losses / world).tolist()
        return log


def fit_distributed(model: DeepClusterer, X: Any) -> DeepClusterer:
    """Fit a deep clustering ``model`` on ``X`` with its pretraining split across the process group.

    Call it in every process (after :func:`init_distributed`); each ends with the same fitted
    ``model``, still an instance of its own class (so ``deepclust.save`` takes it). Without a
    process group it is ``model.fit(X)``.

    >>> from deepclust import IDEC
    >>> from deepclust.scale import fit_distributed
    >>> model = fit_distributed(IDEC(n_clusters=10, random_state=0), X)   # doctest: +SKIP
    """
    if not isinstance(model, DeepClusterer):
        raise InputError(f"fit_distributed takes a deep clustering estimator such as deepclust.IDEC(...), got {type(model).__name__}")
    fitted = _data_parallel(type(model))(**model.get_params(deep=False)).fit(X)
    model.__dict__.update(vars(fitted))
    return model


@cache
def _data_parallel(method: type[DeepClusterer]) -> type[DeepClusterer]:
    """``method`` with :class:`DataParallelPretraining` in front of it."""
    return type(f"DataParallel{method.__name__}", (DataParallelPretraining, method), {"__module__": __name__})
