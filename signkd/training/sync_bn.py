"""Synchronised BatchNorm for any backend (gloo on CPU as well as NCCL), including the models'
masked BatchNorm.

Why not `torch.nn.SyncBatchNorm`: it only runs on GPUs, and its converter would replace the
temporal conv's `MaskedBatchNorm1d` (statistics over real frames only, `forward(x, mask)`) by a
plain SyncBatchNorm that neither takes the mask nor ignores padding. Here every BatchNorm keeps its
class, parameters and state-dict names; only its forward changes in training mode under an
initialised process group: the per-channel sums, sums of squares and counts of this rank are
all-reduced (differentiably), so every rank normalises with the statistics of the global batch,
exactly what one process with the whole batch computes (up to floating-point summation order).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from signkd.models.visual import normalize_with, update_running_stats


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the gradient of a sum over ranks is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncStatsMixin:
    """Mixed in front of a BatchNorm class (see `convert_sync_batchnorm`)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        synced = self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return super().forward(x) if mask is None else super().forward(x, mask)
        c = x.shape[1]
        xf = x.float()
        dims = [0] + list(range(2, x.dim()))
        if mask is None:
            weight = None
            count = torch.tensor(float(x.numel() // c), device=x.device)
        else:                                                  # (B, T) real positions of (B, C, T)
            weight = mask[:, None, :].to(xf.dtype)
            count = weight.sum()
        xw = xf if weight is None else xf * weight
        stats = torch.cat([xw.sum(dims), (xw * xf).sum(dims), count.reshape(1)])   # (2C + 1,)
        stats = _AllReduceSum.apply(stats)                     # sum over ranks; gradients flow back
        total = stats[2 * c].clamp_min(1.0)
        mean = stats[:c] / total
        var = (stats[c: 2 * c] / total - mean * mean).clamp_min(0.0)
        update_running_stats(self, mean, var, total)
        return normalize_with(self, xf, mean, var).to(x.dtype)


_CLASSES: dict[type, type] = {}


def _synced(cls: type) -> type:
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Sync{cls.__name__}", (SyncStatsMixin, cls), {"__module__": __name__})
    return _CLASSES[cls]


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """Switch every BatchNorm of `model` (in place) to globally synchronised statistics."""
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncStatsMixin):
            module.__class__ = _synced(type(module))
    return model
