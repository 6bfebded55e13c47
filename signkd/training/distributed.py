"""One process per device, as `torchrun` starts them: NCCL on GPUs, gloo on CPUs.

Why thin helpers instead of a framework: PyTorch's own DistributedDataParallel does the gradient
work; what the trainer needs on top is the device of this rank, object gathering for evaluation
(hypotheses from every rank reach rank 0), a consensus flag (all ranks must skip a NaN batch
together or the collectives hang), and the rule that only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from signkd.config import ConfigError


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` -> this rank's GPU when there is one, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: {name!r} requested but CUDA is not available")
        if name == "cuda":
            return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        return torch.device(name)
    if name != "cpu":
        raise ConfigError(f"train.device: expected auto, cpu, cuda or cuda:N, got {name!r}")
    return torch.device("cpu")


def setup(device: str = "auto") -> DistInfo:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's `obj`, in rank order (on every rank)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, info: DistInfo):
    """Rank 0's `obj` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_true(flag: bool, info: DistInfo) -> bool:
    """True on every rank if `flag` is True on any rank."""
    if not info.distributed:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def sum_by_key(values: dict, info: DistInfo) -> dict:
    """{key: the sum over ranks of `values[key]`} on every rank, over the union of the ranks' keys
    (a key a rank lacks counts 0 there). Keys, not positions: a rank that saw
    no batch with some term must not shift the others' sums."""
    if not info.distributed:
        return dict(values)
    keys = sorted(set().union(*gather_objects(list(values), info)))
    t = torch.tensor([float(values.get(k, 0.0)) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def convert_sync_batchnorm(model: torch.nn.Module, info: DistInfo, enabled: bool) -> torch.nn.Module:
    """Global-batch BatchNorm statistics under DDP when asked (train.sync_bn), on GPUs and CPUs
    alike (see signkd/training/sync_bn.py for why not torch.nn.SyncBatchNorm)."""
    if not enabled or not info.distributed:
        return model
    from signkd.training.sync_bn import convert_sync_batchnorm as convert

    return convert(model)
