"""Several processes, one run: torchrun's environment, the process group, and the few collective
operations the training loop needs (mean of metrics, broadcast of Python objects, barrier).

`torchrun --nproc_per_node=N -m facepoints train ...` starts N copies of the command with RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set; `init_distributed` reads them and joins
the group (gloo on the CPU, NCCL on CUDA, each rank on GPU LOCAL_RANK). Without them (a plain
`facepoints train`) nothing is initialised and every helper here is a no-op, so single-process
code paths never touch torch.distributed.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError

__all__ = [
    "DistInfo",
    "env_world",
    "init_distributed",
    "cleanup",
    "all_reduce_mean",
    "all_reduce_sum",
    "any_rank",
    "broadcast_object",
    "broadcast_buffers",
    "barrier",
    "local_main_first",
    "state_hash",
    "ranks_agree",
]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: `rank` of `world_size` processes (0 is the main one,
    which alone writes files), `local_rank` on its machine, the torch.distributed `backend`
    (None when single-process), the `device` this rank computes on, and `owner`: whether
    `init_distributed` created the process group (and `cleanup` should destroy it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = torch.device("cpu")
    owner: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_world() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) outside torchrun."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them): "
            + ", ".join(f"{k}={os.environ.get(k)!r}" for k in _ENV)
        ) from None
    if world < 1 or not (0 <= rank < world) or local < 0:
        raise ConfigError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


def init_distributed(device: torch.device | str) -> DistInfo:
    """Join torchrun's process group when WORLD_SIZE > 1 (or describe the one already joined),
    and say which device this rank uses: `device` itself on the CPU; on CUDA, GPU LOCAL_RANK
    (made the current device). Single-process: DistInfo(0, 1, 0, backend None, device)."""
    import torch.distributed as dist

    device = torch.device(device)
    if dist.is_available() and dist.is_initialized():  # the caller set the group up
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        return DistInfo(rank, world, local, dist.get_backend(), _rank_device(device, local, world))
    rank, world, local = env_world()
    if world == 1:
        return DistInfo(device=device)
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run one process")
    if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        raise ConfigError(
            f"WORLD_SIZE={world} but MASTER_ADDR/MASTER_PORT are not set; start the run with "
            "torchrun (e.g. torchrun --nproc_per_node=2 -m facepoints train ...)"
        )
    device = _rank_device(device, local, world)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend, rank=rank, world_size=world, device_id=device)
    else:
        dist.init_process_group(backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local, backend, device, owner=True)


def cleanup(info: DistInfo | None = None, finished: bool = False) -> None:
    """Leave the process group, if `init_distributed` joined it (`info` None: whatever group).
    `finished`: every rank got here the normal way, so they first meet at a barrier; tearing
    gloo's connections down while a peer still works on its last collective can abort that
    peer ("terminate called without an active exception"). After an error there is no barrier:
    the other ranks may never arrive."""
    import torch.distributed as dist

    if info is not None and not info.owner:
        return
    if dist.is_available() and dist.is_initialized():
        if finished and info is not None and info.distributed:
            barrier(info)
        # DDP's reducer keeps the group alive; a module's reference cycles would otherwise free it
        # (and join gloo's threads) only at interpreter exit, where that can abort the process
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The element-wise sum of `t` over the ranks (`t` itself when single-process). `t` may live
    on the CPU; it travels on the backend's device and comes back where it was."""
    if not info.distributed:
        return t
    import torch.distributed as dist

    buf = t.detach().to(_comm_device(info), copy=True)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.to(t.device)


def all_reduce_mean(values: list[float] | torch.Tensor, info: DistInfo) -> list[float]:
    """The mean over the ranks of each number in `values` (float64 on the wire)."""
    t = torch.as_tensor(values, dtype=torch.float64).flatten()
    if info.distributed:
        t = all_reduce_sum(t, info) / info.world_size
    return t.tolist()


def any_rank(flags: list[bool], info: DistInfo) -> list[bool]:
    """For each flag, whether it is set on any rank (so every rank takes the same branch)."""
    if not info.distributed:
        return [bool(f) for f in flags]
    t = all_reduce_sum(torch.tensor([float(bool(f)) for f in flags], dtype=torch.float64), info)
    return [v > 0 for v in t.tolist()]


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """`obj` of rank `src` on every rank (pickled: for states and small messages)."""
    if not info.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if info.rank == src else None]
    dist.broadcast_object_list(box, src=src, device=_comm_device(info))
    return box[0]


def broadcast_buffers(module: torch.nn.Module, info: DistInfo, src: int = 0) -> None:
    """Give every rank rank `src`'s buffers (batch-norm running statistics): DDP does so at each
    forward; this does it before evaluating or saving, after the last forward of an epoch."""
    if not info.distributed:
        return
    import torch.distributed as dist

    for b in module.buffers():
        dist.broadcast(b.data, src=src)


def barrier(info: DistInfo) -> None:
    """Wait until every rank gets here."""
    if info.distributed:
        import torch.distributed as dist

        if info.backend == "nccl":
            dist.barrier(device_ids=[info.device.index or 0])
        else:
            dist.barrier()


@contextlib.contextmanager
def local_main_first(info: DistInfo) -> Iterator[None]:
    """Run the block on each machine's local rank 0 first, then on the others: what it writes
    to a per-machine cache (decoded crops) the others then read instead of redoing."""
    if info.local_rank != 0:
        barrier(info)
    yield
    if info.local_rank == 0:
        barrier(info)


def state_hash(module: torch.nn.Module) -> str:
    """A digest of a module's parameters and buffers, to check that ranks hold the same model."""
    h = hashlib.sha1()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def ranks_agree(value: Any, info: DistInfo) -> bool:
    """Whether every rank passed an equal `value` (e.g. `state_hash`); True single-process."""
    if not info.distributed:
        return True
    import torch.distributed as dist

    values: list[Any] = [None] * info.world_size
    dist.all_gather_object(values, value)
    return all(v == values[0] for v in values)


# --- helpers -------------------------------------------------------------------------------------


def _rank_device(device: torch.device, local_rank: int, world: int) -> torch.device:
    """One GPU per local rank under torchrun; the CPU (or MPS) as asked otherwise."""
    if device.type != "cuda" or world == 1:
        return device
    n = torch.cuda.device_count()
    if local_rank >= n:
        raise ConfigError(f"local rank {local_rank} needs GPU {local_rank}, but only {n} found")
    return torch.device("cuda", local_rank)


def _comm_device(info: DistInfo) -> torch.device:
    return info.device if info.backend == "nccl" else torch.device("cpu")
