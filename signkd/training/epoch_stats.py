"""What a training epoch reports: each rank sums its batches' loss terms and counts, and the
ranks' tallies are reduced by name (see distributed.sum_by_key) into per-batch means."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from signkd.training import distributed as D


@dataclass
class EpochTally:
    """One rank's running totals over an epoch. A batch skipped for a NaN/Inf loss counts in
    `nan_skipped` only."""
    sums: dict = field(default_factory=dict)   # "loss" (the weighted total), each scalar term and diagnostic
    batches: int = 0
    frames: int = 0
    nan_skipped: int = 0

    def add(self, loss: torch.Tensor, terms: dict, frames: int) -> None:
        """A trained batch: its total `loss`, its `terms` (losses' output) and its video frames."""
        self.batches += 1
        self.frames += frames
        self.sums["loss"] = self.sums.get("loss", 0.0) + float(loss.detach())
        for name, value in terms.items():
            if name != "total" and isinstance(value, torch.Tensor) and value.numel() == 1:
                self.sums[name] = self.sums.get(name, 0.0) + float(value.detach())

    def mean_loss(self) -> float:
        return self.sums["loss"] / self.batches

    def reduce(self, dist: D.DistInfo, seconds: float) -> dict:
        """Over all ranks: {term: mean per batch (sorted by name)}, then "batches" (per rank),
        "frames_per_s", "nan_skipped" and "seconds"."""
        counts = {"batches": self.batches, "frames": self.frames, "nan_skipped": self.nan_skipped}
        totals = D.sum_by_key({**{("sum", k): v for k, v in self.sums.items()},
                               **{("count", k): v for k, v in counts.items()}}, dist)
        n = max(1.0, totals[("count", "batches")])
        stats = {name: totals[("sum", name)] / n for name in sorted(name for kind, name in totals if kind == "sum")}
        stats.update(batches=int(totals[("count", "batches")]) // dist.world_size,
                     frames_per_s=totals[("count", "frames")] / max(seconds, 1e-9),
                     nan_skipped=int(totals[("count", "nan_skipped")]), seconds=seconds)
        return stats
