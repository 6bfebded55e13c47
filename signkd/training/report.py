"""Human-readable outputs of a run: report.md (a table per epoch and the final scores) and
curves.png (training loss and dev metrics per epoch; matplotlib's Agg backend, no display)."""
from __future__ import annotations

from signkd.atomic import atomic_write, atomic_write_text

from pathlib import Path


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
