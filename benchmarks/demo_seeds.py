"""`make bench-demo`: demo steps 3-4 (baseline student, distilled BiLSTM and Transformer students)
over several training seeds, on the same corpus and the same teachers; prints mean ± std of the
WERs and of the ratio distilled / baseline, and whether the gain exceeds the seed-to-seed spread.

Seed s runs in <out>-seed<s> (seed 0 in <out> itself, so a finished `make demo` is reused: its
stages are up to date and are not retrained). The corpus and the two teachers of <out> are
shared by every seed through symbolic links, so only the students differ: each seed folder runs
<folder>/bench_pipeline.yaml, a variant of the demo pipeline with the teachers at the first seed
and the students at that seed, through `signkd run`'s runner (only the students and what they need).

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

from signkd.demo import frames_folder, pipeline_file, run_demo  # noqa: E402
from signkd.demo_stages import PAIRS  # noqa: E402
from signkd.demo_report import final_metric, read_metrics  # noqa: E402
from signkd.pipeline import load_pipeline, plan, resolve, run_pipeline  # noqa: E402

TEACHERS = ["dialogue_teacher", "text2gloss"]
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


def seed_pipeline(folder: Path, preset: str, teacher_seed: int, seed: int, students: list[str]) -> Path:
    """The preset's demo pipeline with every stage at `teacher_seed` but `students`, at `seed`."""
    lines = [f"# benchmarks/demo_seeds.py: the students at seed {seed}, the shared teachers at seed {teacher_seed}",
             f"base: {json.dumps(str(pipeline_file(preset).resolve()))}",
             f"set: {{train.seed: {teacher_seed}}}", "stages:"]
    lines += [f"  {key}: {{set: {{train.seed: {seed}}}}}" for key in students]
    path = folder / "bench_pipeline.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--out", default="runs/demo", help="folder of the first seed; others go to <out>-seed<s>")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="stages trained at the same time (one process each)")
    ap.add_argument("--pairs", nargs="+", default=[label for _, _, label in PAIRS],
                    choices=[label for _, _, label in PAIRS], help="student pairs to run (default: all)")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    first = args.seeds[0]
    pairs = [p for p in PAIRS if p[2] in args.pairs]
    students = [k for p in pairs for k in p[:2]]
    start = time.perf_counter()
    # teachers (and corpus) once, with the first seed
    run_demo(preset=args.preset, out=out, seed=first, stages=TEACHERS, report=False,
             jobs=args.jobs, threads=args.threads)
    frames = frames_folder(out / "corpus")
    settings = [f"data.frames={frames}"] if frames else []
    rows = {}
    for seed in args.seeds:
        folder = seed_dir(out, seed, first)
        if folder != out:
            link_shared(out, folder)
        variant = seed_pipeline(folder, args.preset, first, seed, students)
        pipe = load_pipeline(variant)
        verdicts = plan(pipe.subset(TEACHERS), resolve(pipe, folder, settings, args.threads), set())
        stale = [(k, v.why) for k, v in verdicts.items() if v.action != "up to date"]
        if stale:   # they are <out>'s own teachers, linked: never retrain them from here
            raise SystemExit(f"{folder / stale[0][0]}: the shared teacher is not up to date for seed {seed}'s "
                             f"pipeline ({stale[0][1]}); nothing was trained")
        if run_pipeline(variant, out=folder, jobs=args.jobs, threads=args.threads, only=students, overrides=settings):
            raise SystemExit(f"{variant}: the checks found the problems above; nothing was trained")
        rows[seed] = {key: {split: final_metric(read_metrics(folder / key), split, "wer") for split in ("dev", "test")}
                      for key in students}

    lines = [f"demo steps 3-4 over seeds {' '.join(map(str, args.seeds))} (preset {args.preset}; teachers of seed {first})",
             "", "| seed | " + " | ".join(f"{k} dev / test WER %" for k in students)
             + " | " + " | ".join(f"ratio {label} distilled / baseline (test)" for _, _, label in pairs) + " |",
             "|---|" + "---|" * (len(students) + len(pairs))]
    ratios = {label: [] for _, _, label in pairs}
    for seed, r in rows.items():
        for base_key, dist_key, label in pairs:
            ratios[label].append(r[dist_key]["test"] / r[base_key]["test"])
        lines.append(f"| {seed} | " + " | ".join(f"{r[k]['dev']:.2f} / {r[k]['test']:.2f}" for k in students)
                     + " | " + " | ".join(f"{ratios[label][-1]:.3f}" for _, _, label in pairs) + " |")
    summary = {}
    cells = []
    for k in students:
        for split in ("dev", "test"):
            summary[f"{k}.{split}"] = mean_std([r[k][split] for r in rows.values()])
        cells.append(f"{summary[f'{k}.dev'][0]:.2f} ± {summary[f'{k}.dev'][1]:.2f} / "
                     f"{summary[f'{k}.test'][0]:.2f} ± {summary[f'{k}.test'][1]:.2f}")
    for _, _, label in pairs:
        summary[f"ratio.{label}"] = mean_std(ratios[label])
    lines.append("| mean ± std | " + " | ".join(cells) + " | "
                 + " | ".join(f"{summary[f'ratio.{label}'][0]:.3f} ± {summary[f'ratio.{label}'][1]:.3f}"
                              for _, _, label in pairs) + " |")
    lines.append("")
    for base_key, dist_key, label in pairs:
        base_mean, base_std = summary[f"{base_key}.test"]
        mean, std = summary[f"{dist_key}.test"]
        gain, spread = base_mean - mean, max(base_std, std)
        paired = mean_std([r[base_key]["test"] - r[dist_key]["test"] for r in rows.values()])
        summary[f"paired.{label}"] = paired
        if gain > 0:
            verdict = (f"lowers the mean test WER by {gain:.2f} points, "
                       f"{'larger than' if gain > spread else 'NOT larger than'} the seed-to-seed spread "
                       f"(largest std {spread:.2f})")
        else:
            verdict = f"raises the mean test WER by {-gain:.2f} points (seed-to-seed spread: largest std {spread:.2f})"
        lines.append(f"{label} student: distillation {verdict}; baseline minus distilled, per seed: "
                     f"{paired[0]:.2f} ± {paired[1]:.2f} points.")
    lines.append(f"\nwall time {time.perf_counter() - start:.0f} s")
    text = "\n".join(lines)
    print(text)
    (out / "bench_demo.json").write_text(json.dumps({"seeds": args.seeds, "rows": rows, "summary": summary},
                                                    indent=1), encoding="utf-8")
    (out / "bench_demo.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
