"""What a training run carries across epochs and across --resume: its record (`TrainState`, the
checkpoint's `trainer` field) and the seeding that makes an epoch a pure function of
(seed, epoch), whichever process runs it.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) & 0x7FFFFFFF


def set_deterministic(enabled: bool) -> None:
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@dataclass
class TrainState:
    epoch: int = 0                       # completed epochs
    global_step: int = 0                 # optimizer steps
    best_score: Optional[float] = None
    best_epoch: int = -1
    averaged: list = field(default_factory=list)   # epochs whose average is best.pt (train.average_last)
    average: dict = field(default_factory=dict)    # {"epochs", "dev"} of the averaged weights, better or not
    nan_skipped: int = 0
    history: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_checkpoint(cls, trainer: dict, epoch: int) -> "TrainState":
        """The record stored in a checkpoint (fields this version does not know are dropped)."""
        state = cls()
        known = set(cls.__dataclass_fields__)
        for key, value in trainer.items():
            if key in known:
                setattr(state, key, value)
        state.epoch = epoch
        return state
