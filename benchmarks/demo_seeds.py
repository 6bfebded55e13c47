"""`make bench-demo`: demo steps 3-4 (baseline student, distilled BiLSTM and Transformer students)
over several training seeds, on the same corpus and the same teachers; prints mean ± std of the
WERs and of the ratio distilled / baseline, and whether the gain exceeds the seed-to-seed spread.

Seed s runs in <out>-seed<s> (seed 0 in <out> itself, so a finished `make demo` is reused: its
stages are up to date and are not retrained). The corpus and the two teachers of <out> are
shared by every seed through symbolic links, so only the students differ.

    python benchmarks/demo_seeds.py --seeds 0 1 2 [--preset demo] [--out runs/demo]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.demo import run_demo  # noqa: E402
from signkd.demo_report import final_metric, read_metrics  # noqa: E402

TEACHERS = ["dialogue_teacher", "text2gloss"]
STUDENTS = ["slr_baseline", "slr_distilled", "slr_distilled_transformer"]
SHARED = ["corpus"] + TEACHERS


def seed_dir(out: Path, seed: int, first: int) -> Path:
    return out if seed == first else out.with_name(f"{out.name}-seed{seed}")


def link_shared(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in SHARED:
        link = dst / name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and link.resolve() == (src / name).resolve():
                continue
            raise SystemExit(f"{link}: exists and is not a link to {src / name}; remove it or pick another --out")
        link.symlink_to((src / name).resolve(), target_is_directory=True)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--out", default="runs/demo", help="folder of the first seed; others go to <out>-seed<s>")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    first = args.seeds[0]
    start = time.perf_counter()
    # teachers (and corpus) once, with the first seed
    run_demo(preset=args.preset, out=out, seed=first, stages=TEACHERS, report=False)
    rows = {}
    for seed in args.seeds:
        folder = seed_dir(out, seed, first)
        if folder != out:
            link_shared(out, folder)
        run_demo(preset=args.preset, out=folder, seed=seed, stages=STUDENTS, report=False)
        rows[seed] = {key: {split: final_metric(read_metrics(folder / key), split, "wer") for split in ("dev", "test")}
                      for key in STUDENTS}

    names = {"slr_baseline": "baseline", "slr_distilled": "distilled BiLSTM",
             "slr_distilled_transformer": "distilled Transformer"}
    lines = [f"demo steps 3-4 over seeds {' '.join(map(str, args.seeds))} (preset {args.preset}; teachers of seed {first})",
             "", "| seed | " + " | ".join(f"{names[k]} dev / test WER %" for k in STUDENTS)
             + " | ratio BiLSTM / baseline (test) | ratio Transformer / baseline (test) |",
             "|---|" + "---|" * (len(STUDENTS) + 2)]
    ratios = {k: [] for k in STUDENTS[1:]}
    for seed, r in rows.items():
        base = r["slr_baseline"]["test"]
        for k in STUDENTS[1:]:
            ratios[k].append(r[k]["test"] / base)
        lines.append(f"| {seed} | " + " | ".join(f"{r[k]['dev']:.2f} / {r[k]['test']:.2f}" for k in STUDENTS)
                     + " | " + " | ".join(f"{ratios[k][-1]:.3f}" for k in STUDENTS[1:]) + " |")
    summary = {}
    cells = []
    for k in STUDENTS:
        for split in ("dev", "test"):
            summary[f"{k}.{split}"] = mean_std([r[k][split] for r in rows.values()])
        cells.append(f"{summary[f'{k}.dev'][0]:.2f} ± {summary[f'{k}.dev'][1]:.2f} / "
                     f"{summary[f'{k}.test'][0]:.2f} ± {summary[f'{k}.test'][1]:.2f}")
    for k in STUDENTS[1:]:
        summary[f"ratio.{k}"] = mean_std(ratios[k])
    lines.append("| mean ± std | " + " | ".join(cells) + " | "
                 + " | ".join(f"{summary[f'ratio.{k}'][0]:.3f} ± {summary[f'ratio.{k}'][1]:.3f}" for k in STUDENTS[1:])
                 + " |")
    lines.append("")
    base_mean, base_std = summary["slr_baseline.test"]
    for k in STUDENTS[1:]:
        mean, std = summary[f"{k}.test"]
        gain, spread = base_mean - mean, max(base_std, std)
        verdict = "larger than" if gain > spread else "NOT larger than"
        lines.append(f"{names[k]}: test WER gain {gain:.2f} points, {verdict} the seed-to-seed spread "
                     f"(largest std {spread:.2f}).")
    lines.append(f"\nwall time {time.perf_counter() - start:.0f} s")
    text = "\n".join(lines)
    print(text)
    (out / "bench_demo.json").write_text(json.dumps({"seeds": args.seeds, "rows": rows, "summary": summary},
                                                    indent=1), encoding="utf-8")
    (out / "bench_demo.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
