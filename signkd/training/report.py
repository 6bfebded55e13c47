"""Outputs of a run for people and tools: metrics.json (the record of every epoch), report.md (a
table per epoch and the final scores), curves.png (training loss and dev metrics per epoch;
matplotlib's Agg backend, no display) and TensorBoard scalars."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from signkd.atomic import atomic_write, atomic_write_text


def write_run_outputs(work_dir: Path, cfg, metrics: dict, *, curves: bool = True) -> None:
    """metrics.json, curves.png (from metrics["history"]; unless `curves` is false) and report.md
    in `work_dir`."""
    atomic_write_text(Path(work_dir) / "metrics.json", json.dumps(metrics, indent=1, default=_jsonable),
                      what="metrics")
    if curves:
        write_curves(metrics["history"], Path(work_dir) / "curves.png")
    write_report_md(metrics, cfg, Path(work_dir) / "report.md")


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, float) and math.isnan(x):
        return None
    return str(x)


class TensorBoard:
    """Scalars for TensorBoard under `folder` (train.tensorboard; rank 0). The package is optional:
    without it nothing is written. The writer opens on first use."""

    def __init__(self, folder: Path, enabled: bool):
        self.folder, self.enabled, self._writer = Path(folder), bool(enabled), None

    def _open(self):
        if self._writer is None and self.enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.folder))
        return self._writer or None

    def step(self, step: int, loss: torch.Tensor, lr, every: int) -> None:
        """An optimizer step's loss and learning rate (`lr()`), every `every` steps (0: never)."""
        writer = self._open()
        if writer is not None and every and step % every == 0:
            writer.add_scalar("train/step_loss", float(loss.detach()), step)
            writer.add_scalar("train/lr", lr(), step)

    def epoch(self, record: dict) -> None:
        """An epoch's numeric train statistics and dev metrics."""
        writer = self._open()
        if writer is None:
            return
        step = record["epoch"]
        for k, v in record["train"].items():
            if isinstance(v, (int, float)) and k not in ("stage",):
                writer.add_scalar(f"train/{k}", v, step)
        for k, v in (record.get("dev") or {}).items():
            if isinstance(v, (int, float)):
                writer.add_scalar(f"dev/{k}", v, step)
        writer.flush()

    def close(self) -> None:
        if self._writer:
            self._writer.close()


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def write_curves(history: list, path: Path) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    loss = [r["train"].get("loss") for r in history]
    dev_keys = [k for k in ("wer", "bleu4", "rouge_l") if any(k in (r.get("dev") or {}) for r in history)]
    fig, axes = plt.subplots(1, 1 + bool(dev_keys), figsize=(5 * (1 + bool(dev_keys)), 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, loss, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (weighted sum)")
    ax.grid(alpha=0.3)
    if dev_keys:
        ax = axes[0][1]
        for key in dev_keys:
            pts = [(r["epoch"], r["dev"][key]) for r in history if key in (r.get("dev") or {})]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=f"dev {key}")
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, dpi=100, format="png"), what="plot")
    finally:
        plt.close(fig)


def write_report_md(metrics: dict, cfg, path: Path) -> None:
    lines = [f"# {metrics.get('name', 'run')}", "",
             f"Model selection on dev `{metrics.get('select_metric')}`: best epoch {metrics.get('best_epoch')} "
             f"({_fmt(metrics.get('best_score'))}). NaN/Inf batches skipped: {metrics.get('nan_skipped', 0)}.", ""]
    final = metrics.get("final")
    if final:
        lines += ["## Final (best.pt)", "", "| split | WER | sub | del | ins | BLEU-4 | ROUGE-L | chrF |",
                  "|---|---|---|---|---|---|---|---|"]
        for split in ("dev", "test"):
            m = final.get(split)
            if m:
                lines.append(f"| {split} | {_fmt(m.get('wer'))} | {_fmt(m.get('sub'))} | {_fmt(m.get('del'))} | "
                             f"{_fmt(m.get('ins'))} | {_fmt(m.get('bleu4'))} | {_fmt(m.get('rouge_l'))} | {_fmt(m.get('chrf'))} |")
        lines.append("")
    lines += ["## Epochs", "", "| epoch | stage | loss | lr | frames/s | dev WER | dev BLEU-4 |", "|---|---|---|---|---|---|---|"]
    for r in metrics.get("history", []):
        t, d = r["train"], r.get("dev") or {}
        lines.append(f"| {r['epoch']} | {t.get('stage')} | {_fmt(t.get('loss'), 4)} | {t.get('lr', 0):.2e} | "
                     f"{_fmt(t.get('frames_per_s'), 0)} | {_fmt(d.get('wer'))} | {_fmt(d.get('bleu4'))} |")
    lines += ["", "Training curves: `curves.png`; hypotheses: `hypotheses/`; resolved config: `config.yaml`.", ""]
    if metrics.get("data_report"):
        lines += ["## Data report", ""] + [f"- {x}" for x in metrics["data_report"][:50]] + [""]
    atomic_write_text(path, "\n".join(lines), what="report")
