"""Optimizer and learning-rate schedule from `train.optim`.

Per-module learning-rate multipliers replace the original's "difflr" switch: a mapping from a
parameter-name prefix to a factor (the longest matching prefix wins), e.g.
``{dialogue_teacher.text: 0.001, dialogue_teacher.fusion.layers.0: 0.01}``. Every parameter of
every module is in the optimizer, whether its module trains in the current stage or not: frozen
parameters simply have no gradient, and Adam skips them, so they stay bit for bit unchanged and
the optimizer state has the same layout in every stage (which keeps --resume simple).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from signkd.config import ConfigError, OptimConfig


def _matches(name: str, prefix: str) -> bool:
    prefix = prefix.rstrip(".")
    return name == prefix or name.startswith(prefix + ".")


def param_groups(model: nn.Module, lr: float, multipliers: dict[str, float]) -> list[dict]:
    """Parameters grouped by learning-rate factor (group order is deterministic)."""
    used = {p: False for p in multipliers}
    groups: dict[float, list] = {}
    names: dict[float, list] = {}
    for name, param in model.named_parameters():
        best = ""
        for prefix in multipliers:
            if _matches(name, prefix) and len(prefix) > len(best):
                best = prefix
        factor = float(multipliers[best]) if best else 1.0
        if best:
            used[best] = True
        groups.setdefault(factor, []).append(param)
        names.setdefault(factor, []).append(name)
    for prefix, hit in used.items():
        if not hit:
            tops = sorted({n.split(".")[0] for n, _ in model.named_parameters()})
            raise ConfigError(f"train.optim.lr_multipliers.{prefix}: matches no parameter "
                              f"(top-level modules: {', '.join(tops)})")
    for factor in groups:
        if factor < 0:
            raise ConfigError(f"train.optim.lr_multipliers: factor {factor} is negative")
    return [{"params": groups[f], "lr": lr * f, "lr_factor": f, "names": names[f]}
            for f in sorted(groups, reverse=True)]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam with coupled L2 weight decay (the original) or AdamW (decoupled)."""
    if len(cfg.betas) != 2:
        raise ConfigError(f"train.optim.betas: expected two values, got {cfg.betas}")
    groups = param_groups(model, cfg.lr, cfg.lr_multipliers)
    for g in groups:
        g.pop("names")
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, **kwargs)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, **kwargs)
    raise ConfigError(f"train.optim.name: expected adam or adamw, got {cfg.name!r}")


class Schedule:
    """The LR schedule and when to step it: `multistep` is PyTorch's MultiStepLR stepped once per
    epoch (as the original); `cosine` (and any warm-up) is a LambdaLR stepped per optimizer step,
    so warm-up is smooth. `none` keeps the LR constant."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: OptimConfig, *, epochs: int, steps_per_epoch: int):
        self.cfg = cfg
        self.steps_per_epoch = max(1, steps_per_epoch)
        warm = cfg.warmup_epochs * self.steps_per_epoch
        total = max(1, epochs * self.steps_per_epoch)
        if cfg.scheduler == "multistep" and cfg.warmup_epochs == 0:
            if list(cfg.milestones) != sorted(cfg.milestones):
                raise ConfigError(f"train.optim.milestones: must increase, got {cfg.milestones}")
            self.per_step = False
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones),
                                                                  gamma=cfg.gamma)
            return
        milestones = sorted(cfg.milestones)

        def factor(step: int) -> float:
            if warm and step < warm:
                return (step + 1) / warm
            if cfg.scheduler == "cosine":
                progress = min(1.0, (step - warm) / max(1, total - warm))
                return 0.5 * (1.0 + math.cos(math.pi * progress))
            if cfg.scheduler == "multistep":
                epoch = step // self.steps_per_epoch
                return cfg.gamma ** sum(1 for m in milestones if epoch >= m)
            return 1.0

        self.per_step = True
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def after_step(self) -> None:
        if self.per_step:
            self.scheduler.step()

    def after_epoch(self) -> None:
        if not self.per_step:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])
