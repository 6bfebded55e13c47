"""The checkpoint files an epoch commits in the work dir -- last.pt, best.pt and the averaging
snapshots -- in an order that lets a kill between any two writes lose nothing:
  1. a better epoch's weights go to best.next.pt (not yet the best),
  2. the averaging snapshot, if any,
  3. last.pt -- the commit point: it records the epoch and which epoch is best,
  4. best.next.pt is renamed to best.pt.
`reconcile_best` finishes or rolls back step 4 on resume, so best.pt always holds the epoch
last.pt calls best, and the final test scores the right weights.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch

from signkd.errors import CheckpointError
from signkd import checkpoint as ckpt_io
from signkd.checkpoint import Checkpoint


class EpochFiles:
    def __init__(self, work_dir: Path):
        self.work_dir = Path(work_dir)
        self.last = self.work_dir / "last.pt"
        self.best = self.work_dir / "best.pt"
        self.best_next = self.work_dir / "best.next.pt"

    def snapshot(self, epoch: int) -> Path:
        return self.work_dir / "snapshots" / f"epoch-{epoch:03d}.pt"

    def commit(self, last: Checkpoint, improved: bool, *, snapshot: bool = False,
               best: Optional[Checkpoint] = None) -> None:
        """Write an epoch's files in the order above: `best` (else `last`) becomes best.pt when
        `improved`; `snapshot` keeps last's weights for averaging."""
        if improved:
            (best or last).save(self.best_next)
        if snapshot:
            ckpt_io.save_checkpoint(self.snapshot(last.epoch), {"model": last.model})
        last.save(self.last)
        if improved:
            os.replace(self.best_next, self.best)

    def reconcile_best(self, trainer: dict) -> None:
        """On resume, with last.pt's record of the run (`trainer`): promote a best.next.pt that
        last.pt committed, drop one it never did, and refuse a best.pt holding other weights."""
        wanted = _best_key(trainer)
        if self.best_next.is_file():
            staged = Checkpoint.read(self.best_next)
            if _best_key(staged.trainer) == wanted:
                os.replace(self.best_next, self.best)   # committed by last.pt, not yet promoted
            else:
                self.best_next.unlink()                 # written for an epoch last.pt never committed
        if (trainer.get("best_epoch") or 0) > 0:
            held = _best_key(Checkpoint.read(self.best).trainer) if self.best.is_file() else None
            if held != wanted:
                raise CheckpointError(f"{self.best}: holds {_describe_best(held)} but {self.last} records "
                                      f"{_describe_best(wanted)} as the best; the run's files are inconsistent "
                                      "(copied from elsewhere?); start the run again with --force")

    def averaged_snapshots(self, epochs: list[int]) -> dict:
        """The mean of the snapshots' weights (as fairseq's average_checkpoints); integer buffers
        (BatchNorm step counters) are the last epoch's."""
        states = [ckpt_io.model_state_of(ckpt_io.load_checkpoint(p), p) for p in map(self.snapshot, epochs)]
        averaged = {}
        for key, last in states[-1].items():
            if torch.is_floating_point(last):
                averaged[key] = sum(s[key].double() for s in states).div(len(states)).to(last.dtype)
            else:
                averaged[key] = last
        return averaged


def _best_key(trainer: dict) -> tuple:
    """What identifies the weights best.pt must hold: the best epoch, and the epochs averaged into it."""
    return trainer.get("best_epoch"), tuple(trainer.get("averaged") or ())


def _describe_best(key) -> str:
    if key is None:
        return "nothing (missing)"
    epoch, averaged = key
    return f"the average of epochs {averaged[0]}-{averaged[-1]}" if averaged else f"epoch {epoch}"
