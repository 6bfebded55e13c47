"""`make bench-demo`: the demo's claim over seeds, with its controls. For every training seed, on the
same corpus and the same teachers: both SLR students (Transformer, BiLSTM) without distillation,
distilled from the two text teachers, and the two controls (distilled from a video-only teacher of
the dialogue teacher's size; from the dialogue teacher with its text removed); at every seed also
the SLT student with and without Gloss2Text distillation (both from that seed's distilled
Transformer, the same SLR checkpoint) and its two controls (the same terms from a video-only
translator, that seed's SLT baseline; label smoothing without a teacher). Prints mean ± std of
every test score, the distilled / baseline ratios per seed and the demo's goals (met or not: a
statement over seeds, never over one), and writes them as <out>/bench_demo.json and
<out>/bench_demo.md.

Seed s runs in <out>-seed<s> (the first seed in <out> itself, so a finished `make demo` is reused:
its stages are up to date and are not retrained). The corpus and the teachers of <out> are shared
by every seed through symbolic links, so only the students differ: each seed folder runs
<folder>/bench_pipeline.yaml, a variant of the demo pipeline with the teachers at the first seed
and the students at that seed, through `signkd run`'s runner. The seeds train side by side, one
runner per folder, sharing --jobs slots: every baseline from the start, the other students as soon
as the teachers are done.

    python benchmarks/demo_seeds.py --seeds 0 1 2 3 4 [--slt-seeds 0 1 2] [--preset demo] [--out runs/demo]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.data.synthetic.params import parse_set_options  # noqa: E402
from signkd.demo import frames_folder, pipeline_file, prepare_corpus  # noqa: E402
from signkd.demo_report import (error_anatomy, final_metric, load_twins, read_gloss_hypotheses,  # noqa: E402
                                read_metrics, trained_on)
from signkd.demo_stages import CONTROLS, PAIRS, SLT_CONTROLS  # noqa: E402
from signkd.hardware import cpu_description  # noqa: E402
from signkd.pipeline import SharedSlots, load_pipeline, plan, resolve, run_pipeline  # noqa: E402
from signkd.pipeline.resolve import read_stage_state  # noqa: E402
from signkd.pipeline.runner import sigterm_interrupts  # noqa: E402

TEACHERS = ["dialogue_teacher", "text2gloss"]
CONTROL_TEACHERS = ["video_teacher"]
SLT_TEACHERS = ["gloss2text"]
SLT_PAIR = ("slt_baseline", "slt_distilled")
# The demo's goals (issue: "the showcase shows what holds"): per SLR student, distilled below the
# baseline at every seed with a mean ratio <= 0.80; each control's mean gain at most half the text
# teachers'; the SLT student with Gloss2Text at or above its baseline's test BLEU-4 at every seed.
GOAL_RATIO = 0.80
GOAL_CONTROL_SHARE = 0.5
STUDENTS = tuple(p[2] for p in PAIRS)      # ("Transformer", "BiLSTM")


def seed_dir(out: Path, seed: int, first: int) -> Path:
    return out if seed == first else out.with_name(f"{out.name}-seed{seed}")


def link_shared(src: Path, dst: Path, shared: list[str]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in shared:
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


def train_seeds(out: Path, students_of: dict[int, list[str]], teachers: list[str], slr: list[str],
                settings: list[str], args) -> bool:
    """Train the teachers (at the first seed, in <out>) and every seed's students, all seeds side by
    side: one thread per seed folder, each with its own `signkd run` runner, sharing `args.jobs`
    slots (a free one goes to the first seed with a stage ready, so an interrupted bench leaves its
    first seeds complete). So no seed waits for the last stage of the one before (one seed after
    the other left a slot idle at the end of each: 7 of 69 minutes). A seed's baselines need no
    teacher and start at once; its other students start when the teachers are done.
    `students_of`: {seed: its students}, the first seed first. Returns whether anything trained."""
    first = next(iter(students_of))
    slots, stop, teachers_done = SharedSlots(args.jobs), threading.Event(), threading.Event()
    errors: list[BaseException] = []
    trained: list[bool] = []
    baselines = [p[0] for p in PAIRS if p[0] in slr]

    def run(variant: Path, folder: Path, only: list[str], rank: int) -> None:
        log = lambda text: print(f"[{folder.name}] {text}", flush=True)  # noqa: E731
        if run_pipeline(variant, out=folder, jobs=args.jobs, threads=args.threads, only=only, overrides=settings,
                        log=log, slots=slots, rank=rank, stop=stop):
            raise SystemExit(f"{variant}: the checks found the problems above; nothing was trained")
        trained.append(trained_here(folder))

    def train(seed: int, folder: Path, variant: Path, students: list[str]) -> None:
        rank = list(students_of).index(seed)
        try:
            if seed == first:
                run(variant, folder, teachers + baselines, rank)
                teachers_done.set()
            else:
                run(variant, folder, baselines, rank)
                while not teachers_done.wait(1.0):
                    if stop.is_set():
                        return
                pipe = load_pipeline(variant)
                verdicts = plan(pipe.subset(teachers), resolve(pipe, folder, settings, args.threads), set())
                stale = [(k, v.why) for k, v in verdicts.items() if v.action != "up to date"]
                if stale:   # they are <out>'s own teachers, linked: never retrain them from here
                    raise SystemExit(f"{folder / stale[0][0]}: the shared teacher is not up to date for seed {seed}'s "
                                     f"pipeline ({stale[0][1]}); nothing was trained")
            run(variant, folder, students, rank)
        except BaseException as exc:   # the others stop too; the main thread raises it
            errors.append(exc)
            stop.set()

    threads = []
    for seed, students in students_of.items():
        folder = seed_dir(out, seed, first)
        if folder != out:
            link_shared(out, folder, ["corpus"] + teachers)   # the teachers' links resolve once <out> has them
        variant = seed_pipeline(folder, args.preset, first, seed, students)
        threads.append(threading.Thread(target=train, args=(seed, folder, variant, students), name=f"seed {seed}"))
    with sigterm_interrupts():   # this thread gets Ctrl-C and SIGTERM, not the runners' threads
        try:
            for t in threads:
                t.start()
            # sleep, not join(timeout): a join interrupted by the signal can leave its thread looking
            # finished while it runs (CPython before 3.13), and the runners must get to stop their stages
            while any(t.is_alive() for t in threads):
                time.sleep(0.5)
        except KeyboardInterrupt:   # the runners stop their stages and mark them
            stop.set()
            for t in threads:
                if t.is_alive():
                    t.join()
            raise
    if errors:
        raise next((e for e in errors if not isinstance(e, KeyboardInterrupt)), errors[0])
    return any(trained)


def trained_here(folder: Path) -> bool:
    """Whether the last `signkd run` in `folder` trained a stage (rather than finding all up to date)."""
    path = folder / "pipeline.json"
    stages = json.loads(path.read_text(encoding="utf-8")).get("stages", {}) if path.is_file() else {}
    return any(v.get("status") != "up to date" for v in stages.values())


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _ms(pair: tuple[float, float], digits: int = 2) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def scores(folder: Path, key: str, twins: Optional[dict] = None) -> dict:
    """Final dev/test scores and the dev WER curve (one value per epoch) of a stage's metrics.json;
    with `twins`, where its test errors are (error_anatomy of hypotheses/final-test.glosses.txt)."""
    m = read_metrics(folder / key)
    out = {f"{split}_{k}": final_metric(m, split, k) for split in ("dev", "test") for k in ("wer", "bleu4")}
    out["dev_wer_curve"] = [h["dev"]["wer"] for h in (m or {}).get("history", []) if (h.get("dev") or {}).get("wer")
                            is not None]
    out["train_seconds"] = (read_stage_state(folder / key) or {}).get("seconds")   # how long the runner trained it
    hyps = folder / key / "hypotheses" / "final-test.glosses.txt"
    if twins and hyps.is_file():
        out["test_errors"] = error_anatomy(*read_gloss_hypotheses(hyps), twins)
    return out


CONVERGED_EPOCHS = 3   # the baseline's converged dev WER: the mean of its last 3 epochs


def epochs_to_reach(curve: list[float], level: float) -> Optional[int]:
    """The first epoch (1-based) whose dev WER is at or below `level`; None when none is."""
    return next((i for i, wer in enumerate(curve, 1) if wer <= level), None)


EARLY_WER = 20.0       # a level every student of the demo reaches: how soon it gets there


def convergence(rows: dict, seeds: list[int], base_key: str, key: str) -> dict:
    """How soon `key` reaches its baseline's converged dev WER, and a dev WER of EARLY_WER %, per seed,
    against the baseline itself: what may hold where the converged WERs do not separate."""
    per_seed = []
    for seed in seeds:
        base_curve, curve = rows[seed][base_key]["dev_wer_curve"], rows[seed][key]["dev_wer_curve"]
        if len(base_curve) < CONVERGED_EPOCHS or not curve:
            continue
        level = statistics.fmean(base_curve[-CONVERGED_EPOCHS:])
        per_seed.append({"seed": seed, "level": level, "baseline_epoch": epochs_to_reach(base_curve, level),
                         "epoch": epochs_to_reach(curve, level), "epochs": len(curve),
                         "baseline_early": epochs_to_reach(base_curve, EARLY_WER),
                         "early": epochs_to_reach(curve, EARLY_WER)})
    reached = [r for r in per_seed if r["epoch"] is not None]
    early = [r for r in per_seed if r["early"] is not None and r["baseline_early"] is not None]
    return {"per_seed": per_seed, "reached": len(reached), "seeds": len(per_seed),
            "epoch": mean_std([r["epoch"] for r in reached]) if reached else None,
            "baseline_epoch": mean_std([r["baseline_epoch"] for r in per_seed]) if per_seed else None,
            "faster": sum(r["epoch"] is not None and r["epoch"] < r["baseline_epoch"] for r in per_seed),
            "early_epoch": mean_std([r["early"] for r in early]) if early else None,
            "baseline_early_epoch": mean_std([r["baseline_early"] for r in early]) if early else None,
            "early_faster": sum(r["early"] < r["baseline_early"] for r in early), "early_seeds": len(early)}


def summarise(rows: dict, seeds: list[int], slt_seeds: list[int], controls: bool,
              students: tuple[str, ...] = STUDENTS, teachers: Optional[dict] = None) -> dict:
    """Goals and spreads from {seed: {stage: scores}}; every entry says what it was computed over."""
    out: dict = {"students": {}, "controls": {}, "slt": None}
    for base_key, dist_key, label in (p for p in PAIRS if p[2] in students):
        base = [rows[s][base_key]["test_wer"] for s in seeds]
        dist = [rows[s][dist_key]["test_wer"] for s in seeds]
        ratios = [d / b for d, b in zip(dist, base)]
        gains = [b - d for d, b in zip(dist, base)]
        wins = sum(d < b for d, b in zip(dist, base))
        out["students"][label] = {
            "baseline_test_wer": mean_std(base), "distilled_test_wer": mean_std(dist),
            "baseline_dev_wer": mean_std([rows[s][base_key]["dev_wer"] for s in seeds]),
            "distilled_dev_wer": mean_std([rows[s][dist_key]["dev_wer"] for s in seeds]),
            "ratios": ratios, "ratio": mean_std(ratios), "gain": mean_std(gains), "wins": wins, "seeds": len(seeds),
            "goal_met": wins == len(seeds) and statistics.fmean(ratios) <= GOAL_RATIO,
            "convergence": convergence(rows, seeds, base_key, dist_key)}
    if controls:
        for base_key, key, label, name in (c for c in CONTROLS if c[2] in students):
            base = [rows[s][base_key]["test_wer"] for s in seeds]
            ctrl = [rows[s][key]["test_wer"] for s in seeds]
            gain = mean_std([b - c for b, c in zip(base, ctrl)])
            text_gain, text_spread = out["students"][label]["gain"]
            # a share of a gain is meaningful only when that gain stands above its seed-to-seed spread
            share = gain[0] / text_gain if text_gain > text_spread else None
            out["controls"][key] = {
                "student": label, "teacher": name, "test_wer": mean_std(ctrl),
                "ratio": mean_std([c / b for c, b in zip(ctrl, base)]), "gain": gain,
                "share_of_text_gain": share,
                "goal_met": share is not None and share <= GOAL_CONTROL_SHARE,
                "convergence": convergence(rows, seeds, base_key, key)}
    out["errors"] = error_summary(rows, seeds, students, controls, teachers or {})
    if slt_seeds:
        base = [rows[s][SLT_PAIR[0]]["test_bleu4"] for s in slt_seeds]
        dist = [rows[s][SLT_PAIR[1]]["test_bleu4"] for s in slt_seeds]
        at_or_above = sum(d >= b for d, b in zip(dist, base))
        gain = mean_std([d - b for d, b in zip(dist, base)])
        out["slt"] = {"baseline_test_bleu4": mean_std(base), "distilled_test_bleu4": mean_std(dist),
                      "per_seed": list(zip(slt_seeds, base, dist)), "at_or_above": at_or_above,
                      "seeds": len(slt_seeds), "goal_met": at_or_above == len(slt_seeds), "gain": gain,
                      "controls": {}}
        for base_key, key, name in (SLT_CONTROLS if controls else ()):
            ctrl = [rows[s][key]["test_bleu4"] for s in slt_seeds]
            ctrl_gain = mean_std([c - b for c, b in zip(ctrl, base)])
            out["slt"]["controls"][key] = {
                "teacher": name, "test_bleu4": mean_std(ctrl), "per_seed": ctrl, "gain": ctrl_gain,
                "at_or_above": sum(c >= b for c, b in zip(ctrl, base)),
                "below_distilled": sum(c < d for c, d in zip(ctrl, dist)),
                # as the SLR controls': a share only of a gain above its seed-to-seed spread
                "share_of_gloss2text_gain": ctrl_gain[0] / gain[0] if gain[0] > gain[1] else None}
    return out


def training_time(rows: dict, teachers: dict) -> dict:
    """Minutes of training summed over every stage of the bench (each teacher once, every seed's
    students), whichever invocation trained them: what the bench costs from scratch, which a
    re-run that reuses stages cannot show by its own wall time."""
    teacher = sum(v.get("train_seconds") or 0 for v in teachers.values()) / 60
    students = sum(v.get("train_seconds") or 0 for r in rows.values() for v in r.values()) / 60
    missing = sum(v.get("train_seconds") is None for r in (teachers, *rows.values()) for v in r.values())
    return {"teachers_min": round(teacher, 1), "students_min": round(students, 1),
            "total_min": round(teacher + students, 1), "stages_without_record": missing}


def error_summary(rows: dict, seeds: list[int], students: tuple[str, ...], controls: bool, teachers: dict) -> dict:
    """Twin swaps and other test errors per student and teacher (mean ± std over seeds), and what the
    twin swaps bound: the ratio if a baseline's twin swaps fell to the dialogue teacher's (its other
    errors unchanged), and with no twin swap at all. Empty when the runs have no error anatomy."""
    if not all("test_errors" in rows[s].get(k, {}) for s in seeds for p in PAIRS if p[2] in students for k in p[:2]):
        return {}
    teacher = teachers.get("dialogue_teacher", {}).get("test_errors")
    out: dict = {"students": {}}
    for base_key, dist_key, label in (p for p in PAIRS if p[2] in students):
        keys = [(base_key, "no distillation"), (dist_key, "the two text teachers")]
        keys += [(c[1], c[3]) for c in CONTROLS if controls and c[2] == label]
        entry = {"rows": [{"stage": k, "teachers": name,
                           "twin_swaps": mean_std([rows[s][k]["test_errors"]["twin_swaps"] for s in seeds]),
                           "other_errors": mean_std([rows[s][k]["test_errors"]["other_errors"] for s in seeds])}
                          for k, name in keys]}
        base = [rows[s][base_key]["test_errors"] for s in seeds]
        total = [b["twin_swaps"] + b["other_errors"] for b in base]
        entry["twin_share_of_baseline_errors"] = mean_std([b["twin_swaps"] / t for b, t in zip(base, total) if t])
        entry["ratio_without_twin_swaps"] = mean_std([b["other_errors"] / t for b, t in zip(base, total) if t])
        if teacher:
            entry["ratio_at_teacher_twin_swaps"] = mean_std(
                [(b["other_errors"] + min(b["twin_swaps"], teacher["twin_swaps"])) / t
                 for b, t in zip(base, total) if t])
        out["students"][label] = entry
    out["teachers"] = {k: v["test_errors"] for k, v in teachers.items() if "test_errors" in v}
    return out


TEACHER_NAMES = {"dialogue_teacher": "dialogue teacher (video + dialogue turn)",
                 "video_teacher": "video-only teacher (same size, no text)",
                 "text2gloss": "Text2Gloss (the spoken sentence, no video)"}


def render_errors(errors: dict, seeds: list[int]) -> list[str]:
    if not errors:
        return []
    some = next(iter(errors["teachers"].values()), None)
    of = f" (of {some['twin_refs']} twin glosses)" if some else ""
    lines = ["", "### Where the errors are (test, errors per seed, mean ± std)", "",
             "Twin swaps: a gloss of a confusable pair read as its twin, the only errors the privileged text speaks "
             "to; other errors (deletions, insertions, other substitutions) a video-only teacher can teach as well.",
             "", f"| student | trained with | twin swaps{of} | other errors |", "|---|---|---|---|"]
    for label, e in errors["students"].items():
        lines += [f"| {label} | {r['teachers']} | {_ms(r['twin_swaps'], 1)} | {_ms(r['other_errors'], 1)} |"
                  for r in e["rows"]]
    lines += [f"| teacher (seed {seeds[0]}) | {TEACHER_NAMES.get(k, k)} | {v['twin_swaps']} | {v['other_errors']} |"
              for k, v in errors["teachers"].items()]
    lines.append("")
    for label, e in errors["students"].items():
        at_teacher = e.get("ratio_at_teacher_twin_swaps")
        lines.append(f"- {label}: twin swaps are {e['twin_share_of_baseline_errors'][0]:.0%} of the baseline's errors. "
                     + (f"Had its twin swaps fallen to the dialogue teacher's and its other errors stayed, the ratio "
                        f"would be {_ms(at_teacher, 3)}; " if at_teacher else "")
                     + f"with no twin swap at all, {_ms(e['ratio_without_twin_swaps'], 3)}.")
    return lines


def render(rows: dict, summary: dict, seeds: list[int], slt_seeds: list[int], header: str) -> str:
    yes = {True: "**met**", False: "not met"}
    lines = [header, "", "### SLR: distilled from the two text teachers vs no distillation (test WER %)", "",
             "| student | baseline | distilled | ratio per seed (" + " / ".join(map(str, seeds)) + ") "
             f"| ratio mean ± std | distilled better at | goal (every seed, mean ratio ≤ {GOAL_RATIO:.2f}) |",
             "|---|---|---|---|---|---|---|"]
    for label, s in summary["students"].items():
        lines.append(f"| {label} | {_ms(s['baseline_test_wer'])} | {_ms(s['distilled_test_wer'])} | "
                     + " / ".join(f"{r:.3f}" for r in s["ratios"])
                     + f" | {_ms(s['ratio'], 3)} | {s['wins']} of {s['seeds']} seeds | {yes[s['goal_met']]} |")
    if summary["controls"]:
        lines += ["", "### Controls: the same students distilled without the privileged text (test WER %)", "",
                  "| student | teacher | test WER | ratio to baseline | gain (points) | share of the text teachers' gain "
                  f"| goal (≤ {GOAL_CONTROL_SHARE:.0%}) |", "|---|---|---|---|---|---|---|"]
        for label, s in summary["students"].items():
            lines.append(f"| {label} | the two text teachers | {_ms(s['distilled_test_wer'])} | {_ms(s['ratio'], 3)} | "
                         f"{_ms(s['gain'])} | 100 % | |")
            for c in (c for c in summary["controls"].values() if c["student"] == label):
                share = ("– (the text teachers' gain is within its seed spread)" if c["share_of_text_gain"] is None
                         else f"{c['share_of_text_gain']:.0%}")
                lines.append(f"| {label} | {c['teacher']} | {_ms(c['test_wer'])} | {_ms(c['ratio'], 3)} | "
                             f"{_ms(c['gain'])} | {share} | {yes[c['goal_met']]} |")
    epochs = sorted({len(rows[seed][k]["dev_wer_curve"]) for seed in seeds for k in rows[seed]
                     if not k.startswith("slt_") and rows[seed][k].get("dev_wer_curve")})
    lines += ["", "### Convergence: how soon each student gets there (dev WER, epochs of "
              + " / ".join(map(str, epochs)) + ")", "",
              f"Level A: the baseline's converged dev WER (the mean of its last {CONVERGED_EPOCHS} epochs); level B: "
              f"{EARLY_WER:.0f} % dev WER.", "",
              "| student | teachers | A: baseline at epoch | A: this student at epoch | A: reached, sooner | "
              "B: baseline at epoch | B: this student at epoch | B: sooner |", "|---|---|---|---|---|---|---|---|"]
    entries = [(label, "the two text teachers", s["convergence"]) for label, s in summary["students"].items()]
    entries += [(c["student"], c["teacher"], c["convergence"]) for c in summary["controls"].values()]
    def ep(pair):
        return _ms(pair, 1) if pair else "-"

    for label, teacher, c in sorted(entries, key=lambda e: e[0], reverse=True):
        lines.append(f"| {label} | {teacher} | {ep(c['baseline_epoch'])} | {ep(c['epoch']) if c['epoch'] else 'never'} "
                     f"| {c['reached']} / {c['faster']} of {c['seeds']} seeds | {ep(c['baseline_early_epoch'])} | "
                     f"{ep(c['early_epoch'])} | {c['early_faster']} of {c['early_seeds']} seeds |")
    lines += render_errors(summary.get("errors") or {}, seeds)
    if summary["slt"]:
        s = summary["slt"]
        controls = list(s["controls"].values())
        lines += ["", "### SLT: Gloss2Text distillation vs none, both from the same SLR checkpoint (test BLEU-4)", "",
                  "| seed | baseline | distilled from Gloss2Text |" + "".join(f" {c['teacher']} |" for c in controls),
                  "|---|---|---|" + "---|" * len(controls)]
        lines += [f"| {seed} | {b:.2f} | {d:.2f} |" + "".join(f" {c['per_seed'][i]:.2f} |" for c in controls)
                  for i, (seed, b, d) in enumerate(s["per_seed"])]
        lines.append(f"| mean ± std | {_ms(s['baseline_test_bleu4'])} | {_ms(s['distilled_test_bleu4'])} |"
                     + "".join(f" {_ms(c['test_bleu4'])} |" for c in controls))
        lines += ["", f"Distilled at or above the baseline at {s['at_or_above']} of {s['seeds']} seeds: goal "
                      f"{yes[s['goal_met']]} (gain {_ms(s['gain'])} BLEU-4)."]
        for c in controls:
            share = ("" if c["share_of_gloss2text_gain"] is None
                     else f", {c['share_of_gloss2text_gain']:.0%} of Gloss2Text distillation's")
            lines.append(f"- Control, {c['teacher']}: gain {_ms(c['gain'])}{share}; at or above the baseline at "
                         f"{c['at_or_above']} of {s['seeds']} seeds, below the Gloss2Text-distilled student at "
                         f"{c['below_distilled']} of {s['seeds']}.")
    columns = [k for k in rows[seeds[0]] if all(k in rows[s] for s in seeds)]
    lines += ["", "Per seed (dev / test WER %):", "",
              "| seed | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for seed in seeds:
        lines.append(f"| {seed} | " + " | ".join(
            f"{rows[seed][k]['dev_wer']:.2f} / {rows[seed][k]['test_wer']:.2f}"
            if rows[seed][k]["test_wer"] is not None else "-" for k in columns) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--slt-seeds", type=int, nargs="*", default=None,
                    help="seeds of the SLT pair (default: every seed of --seeds; none: no SLT)")
    ap.add_argument("--no-controls", dest="controls", action="store_false", help="skip the controls (SLR and SLT)")
    ap.add_argument("--students", nargs="+", choices=STUDENTS, default=list(STUDENTS),
                    help="the SLR students to train (default: both; one is a quicker probe, e.g. of a --synth value)")
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--synth", action="append", default=[], metavar="KEY=VALUE",
                    help="a corpus parameter changed from the preset's (as `signkd demo --synth`)")
    ap.add_argument("--out", default="runs/demo", help="folder of the first seed; others go to <out>-seed<s>")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="stages trained at the same time (one process each)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    seeds = list(dict.fromkeys(args.seeds))
    slt_seeds = seeds if args.slt_seeds is None else [s for s in args.slt_seeds if s in seeds]
    first = seeds[0]
    teachers = TEACHERS + (CONTROL_TEACHERS if args.controls else []) + (SLT_TEACHERS if slt_seeds else [])
    slr = ([k for p in PAIRS if p[2] in args.students for k in p[:2]]
           + ([c[1] for c in CONTROLS if c[2] in args.students] if args.controls else []))
    start = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    prepare_corpus(out, args.preset, 0, print, parse_set_options(args.synth))
    frames = frames_folder(out / "corpus")
    settings = [f"data.frames={frames}"] if frames else []
    twins = load_twins(out / "corpus")
    slt = list(SLT_PAIR) + ([c[1] for c in SLT_CONTROLS] if args.controls else [])
    students_of = {seed: slr + (slt if seed in slt_seeds else []) for seed in seeds}
    trained = train_seeds(out, students_of, teachers, slr, settings, args)
    teacher_scores = {k: scores(out, k, twins) for k in teachers}
    rows = {seed: {key: scores(seed_dir(out, seed, first), key, twins) for key in students}
            for seed, students in students_of.items()}

    summary = summarise(rows, seeds, slt_seeds, args.controls, tuple(args.students), teacher_scores)
    summary["training_time"] = cost = training_time(rows, teacher_scores)
    wall = time.perf_counter() - start
    earlier = out / "bench_demo.json"
    if not trained and earlier.is_file():   # nothing trained: keep the time of the run that trained them
        before = json.loads(earlier.read_text(encoding="utf-8"))
        if (before.get("seeds") == seeds and before.get("students", list(STUDENTS)) == args.students
                and before.get("wall_seconds", 0) > wall):
            wall, load_at_start = before["wall_seconds"], before.get("load_average_at_start", load_at_start)
    corpus = json.loads((out / "corpus" / "demo_corpus.json").read_text(encoding="utf-8")).get("request", {})
    params = json.loads((out / "corpus" / "corpus.json").read_text(encoding="utf-8")).get("params", {})
    cpu = cpu_description(torch.backends.cpu.get_cpu_capability())   # which CPU reports these numbers
    machines = trained_on([out / k for k in teachers]              # and which trained them
                          + [seed_dir(out, s, first) / k for s, keys in students_of.items() for k in keys])
    header = (f"## make bench-demo: seeds {' '.join(map(str, seeds))}, preset {args.preset} "
              f"(twin_context {params.get('twin_context', 0)})"
              + "".join(f", {k}={v}" for k, v in (corpus.get("synth") or {}).items())
              + f"\n\nTeachers trained once at seed {first}; students at each seed. {cpu}, {os.cpu_count()} CPUs, "
              f"{args.jobs} stage(s) at a time; wall time {wall / 60:.1f} min (1-minute load average "
              f"{load_at_start:.1f} at the start)"
              + ("." if trained else "; this invocation trained nothing and re-read the runs.")
              + (f" Trained on: {'; '.join(machines)}." if machines != [cpu] else "")
              + f" Training summed over every stage, whichever invocation trained it: {cost['total_min']:.1f} min "
              f"(teachers {cost['teachers_min']:.1f}, students {cost['students_min']:.1f}), so at least "
              f"{cost['total_min'] / args.jobs:.1f} min of wall time from scratch at {args.jobs} stage(s) at a time.")
    text = render(rows, summary, seeds, slt_seeds, header)
    print(text)
    record = {"seeds": seeds, "slt_seeds": slt_seeds, "preset": args.preset, "corpus": corpus,
              "twin_context": params.get("twin_context", 0), "rows": rows, "teachers": teacher_scores,
              "summary": summary, "cpu": cpu, "trained_on": machines, "cpus": os.cpu_count(), "jobs": args.jobs,
              "students": args.students, "trained": trained,
              "wall_seconds": round(wall, 1), "load_average_at_start": load_at_start,
              "goals": {"ratio": GOAL_RATIO, "control_share": GOAL_CONTROL_SHARE}}
    (out / "bench_demo.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    (out / "bench_demo.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:   # Ctrl-C or SIGTERM: the runners have stopped and marked their stages
        print("bench-demo: interrupted; run it again to resume the stages it stopped", file=sys.stderr)
        raise SystemExit(130)
