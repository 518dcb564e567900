"""Data-parallel training with torch.distributed (``torchrun``; chapter 06).

Under ``torchrun --nproc_per_node=W``, :func:`gaputils.train.fit` trains data-parallel: every
worker holds the whole training set, draws the same global batch of B examples (one shared
seed) and takes its own contiguous slice of B/W; DistributedDataParallel averages the W
gradients, which is the gradient of the global batch's mean loss. Without BatchNorm the run
therefore equals one process at batch B (to float rounding). With BatchNorm each worker
normalizes over its own B/W examples: that is Ghost BatchNorm with ghost size B/W, and
:class:`Parallel` keeps the running statistics equal to Ghost BatchNorm's by averaging them
over the workers after every step (buffers are not broadcast from worker 0).

Backends: NCCL on GPUs (one per worker, ``cuda:LOCAL_RANK``), gloo on the CPU. Remedies that
declare ``data_parallel = False`` (those that draw random numbers per batch - augmentation,
adversarial examples, multiplicative noise - and batch-size schedules) and dropout are refused:
their draws would repeat across the workers' slices instead of continuing as in one process.
"""

from __future__ import annotations

import inspect
import os

import torch
import torch.distributed as dist
from torch import nn

from .remedies.base import not_data_parallel


def world() -> tuple[int, int]:
    """(rank, number of workers): (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment (WORLD_SIZE, RANK,
    MASTER_ADDR, ...), if there is one and it is not joined yet: NCCL with one GPU per worker,
    else gloo. Returns (rank, number of workers); (0, 1) when not launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return world()


def device() -> torch.device:
    """This worker's device: ``cuda:LOCAL_RANK`` with GPUs, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def has_dropout(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules())


class Parallel:
    """What the training loop needs to run on W workers: ``net`` (the DDP-wrapped model, or the
    model itself when W = 1), ``slice(idx)`` (this worker's part of a global batch),
    ``after_step()`` (average BatchNorm running statistics) and ``any(flag)`` (a flag raised on
    any worker). Checks that the configuration can run data-parallel."""

    def __init__(self, model: nn.Module, config):
        self.rank, self.size = world()
        self.net = model
        if self.size == 1:
            return
        used = not_data_parallel(config.remedies)
        used += ["dropout"] if has_dropout(model) else []
        if used:
            raise ValueError(f"data-parallel training does not support {', '.join(used)}: "
                             "each worker would repeat the same random draws on its slice. "
                             "Train those in one process.")
        if config.batch_size % self.size:
            raise ValueError(f"batch_size={config.batch_size} must be a multiple of the "
                             f"{self.size} workers (each takes batch_size / workers examples)")
        dev = next(model.parameters()).device
        ids = [dev.index] if dev.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel
        # buffers stay each worker's own until after_step averages them (newer torch names the
        # switch forward_sync_buffers; the buffers are equal at the start either way)
        off = ("forward_sync_buffers" if "forward_sync_buffers" in
               inspect.signature(ddp.__init__).parameters else "broadcast_buffers")
        self.net = ddp(model, device_ids=ids, **{off: False})
        self.buffers = [b for n, b in model.named_buffers()
                        if b.is_floating_point() and n.rsplit(".", 1)[-1].startswith("running")]

    def slice(self, idx: torch.Tensor) -> torch.Tensor:
        per = len(idx) // self.size
        return idx[self.rank * per:(self.rank + 1) * per]

    @torch.no_grad()
    def after_step(self) -> None:
        """Average the BatchNorm running statistics over the workers (one all-reduce)."""
        if self.size == 1 or not self.buffers:
            return
        flat = torch.cat([b.reshape(-1) for b in self.buffers])
        dist.all_reduce(flat)
        flat /= self.size
        for b, part in zip(self.buffers, torch.split(flat, [b.numel() for b in self.buffers]),
                           strict=True):
            b.copy_(part.view_as(b))

    def any(self, flag: torch.Tensor) -> torch.Tensor:
        """``flag`` (a bool tensor) raised on any worker."""
        if self.size == 1:
            return flag
        out = flag.to(torch.int32)
        dist.all_reduce(out, op=dist.ReduceOp.MAX)
        return out.bool()
