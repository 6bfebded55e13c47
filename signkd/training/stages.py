"""Stages and loss-weight schedules: which modules train in an epoch, which are frozen, and the
weight of every loss term.

The original hard-coded its schedule in the training loop (teachers until epoch 30, all
distillation from epoch 40). Here it is config (DESIGN.md section 5):

    train:
      stages:
        - {until_epoch: 30, train: [text2gloss]}
        - {until_epoch: 40, train: [text2gloss, student], frozen: [dialogue_teacher]}
        - {train: [student], frozen: [dialogue_teacher, text2gloss]}

A module of the model that a stage does not list as trained is frozen: `eval()` (no dropout, no
BatchNorm statistics updates), `requires_grad_(False)`, run under `no_grad` by the system — so its
parameters and buffers stay bit for bit unchanged (tests/training/test_training.py checks it). A loss term
whose owning module does not train in the epoch gets weight 0, i.e. is not even computed.
"""
from __future__ import annotations

from typing import Optional

from torch import nn

from signkd.config import MODULE_NAMES, Config, ConfigError, StageConfig, check_stage_epochs, weight_at
from signkd.loss_terms import TERMS, canonical_name


def loss_owners(name: str) -> tuple[str, ...]:
    """Module(s) loss term `name` (or an alias of it) trains (signkd.loss_terms.TERMS)."""
    canonical = canonical_name(name)
    if canonical is None:
        raise ConfigError(f"loss.weights.{name}: unknown loss term")
    return TERMS[canonical].trains


def present_modules(system: nn.Module) -> list[str]:
    return [name for name in MODULE_NAMES if getattr(system, name, None) is not None]


def stage_index(cfg: Config, epoch: int) -> int:
    for i, stage in enumerate(cfg.train.stages):
        if stage.until_epoch is None or epoch < stage.until_epoch:
            return i
    raise ConfigError(f"train.stages: no stage covers epoch {epoch} (the last stage ends at "
                      f"{cfg.train.stages[-1].until_epoch}; leave its until_epoch empty or raise it)")


def stage_at(cfg: Config, epoch: int) -> StageConfig:
    return cfg.train.stages[stage_index(cfg, epoch)]


def configured_modules(cfg: Config) -> list[str]:
    return [name for name in MODULE_NAMES if getattr(cfg.model, name)]


def check_stages(cfg: Config, system: Optional[nn.Module] = None) -> None:
    """Every stage names modules this model has, trains something, and has a loss for it at every
    one of its epochs (checked from the config alone when no system is given)."""
    have = present_modules(system) if system is not None else configured_modules(cfg)
    check_stage_epochs(cfg)   # also here for a Config built without load_config's validate()
    for i, stage in enumerate(cfg.train.stages):
        for group in ("train", "frozen"):
            for name in getattr(stage, group):
                if name not in have:
                    raise ConfigError(f"train.stages[{i}].{group}: {name!r} is not part of this model "
                                      f"(set model.{name}: true or remove it; present: {', '.join(have)})")
        both = set(stage.train) & set(stage.frozen)
        if both:
            raise ConfigError(f"train.stages[{i}]: {sorted(both)[0]!r} is listed as trained and frozen")
        if not stage.train:
            raise ConfigError(f"train.stages[{i}].train: no module to train")
        first = 0 if i == 0 else (cfg.train.stages[i - 1].until_epoch or 0)
        last = min(stage.until_epoch or cfg.train.epochs, cfg.train.epochs) - 1
        # every epoch, not only the stage's first and last: a schedule may zero all of a stage's
        # terms in its middle, and that epoch's backward() would fail days into the run
        for epoch in range(first, last + 1):
            if not any(w != 0 for w in active_weights(cfg, stage, epoch).values()):
                raise ConfigError(f"train.stages[{i}]: no loss term with a non-zero weight trains "
                                  f"{', '.join(stage.train)} at epoch {epoch} (stage {i}: epochs {first}-{last}; "
                                  f"see the schedules in loss.weights)")


def active_weights(cfg: Config, stage: StageConfig, epoch: int) -> dict[str, float]:
    """Loss weights at `epoch`, zeroed for terms whose owning modules do not train; zero terms
    are dropped (the system does not compute them)."""
    out = {}
    for name, weight in cfg.loss.weights.items():
        value = weight_at(weight, epoch)
        owners = loss_owners(name)
        if value != 0 and any(o in stage.train for o in owners):
            out[name] = value
    return out


def _parts(system: nn.Module, name: str) -> list[nn.Module]:
    parts = getattr(system, "parts", None)
    return parts(name) if parts is not None else [getattr(system, name)]


def apply_stage(system: nn.Module, stage: StageConfig) -> tuple[set, set]:
    """Put trained modules (with their parts, e.g. the student's feature projections) in train
    mode with gradients and every other present module in eval mode without.
    Returns (trained, frozen) module names."""
    trained, frozen = set(), set()
    system.train()
    for name in present_modules(system):
        train = name in stage.train
        for part in _parts(system, name):
            part.train(train)
            part.requires_grad_(train)
        (trained if train else frozen).add(name)
    return trained, frozen
