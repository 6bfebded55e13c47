"""`make bench-text`: train the Gloss2Text and Text2Gloss teachers on the real PHOENIX-2014-T
annotations through the training engine, then report dev BLEU-1..4, chrF, ROUGE-L (and gloss WER
for Text2Gloss), with the wall time of each run.

Why here and not in the tests: a full run takes tens of minutes on a CPU. What it does, per teacher:
  1. `Trainer(cfg).fit()` exactly as `signkd train configs/phoenix2014t/<teacher>.yaml` (the
     checkpoint is selected on dev BLEU-4 with greedy decoding);
  2. re-decodes dev with best.pt under each beam size / length penalty of the grid and keeps the
     setting with the best dev BLEU-4 (dev only: the test split never chooses anything);
  3. scores `data.test` with that setting when one is given (`--set data.test=PATH`).
Writes OUT/metrics.json and prints a table. Without ../shared/data it says so and exits 0.

    python benchmarks/text_teachers.py [--only gloss2text] [--set train.epochs=4] [--reuse]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "phoenix2014t"
TEACHERS = ("gloss2text", "text2gloss")
SELECT = {"gloss2text": "bleu4", "text2gloss": "gloss_bleu4"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the PHOENIX-2014-T *.corpus.csv files")
    p.add_argument("--out", default="runs/bench_text", help="output folder (one sub-folder per teacher)")
    p.add_argument("--only", choices=TEACHERS, action="append", help="run only this teacher (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to both teachers, e.g. data.test=PATH or train.epochs=4")
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4], help="beam sizes tried on dev (1 = greedy)")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.6, 1.0, 2.0], help="length penalties tried with beam > 1")
    p.add_argument("--reuse", action="store_true",
                   help="skip training where OUT/<teacher>/best.pt exists with the same config, and decodings "
                        "already scored for that best.pt")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="CKPT",
                   help="with one --only teacher: also score the ensemble of its best.pt and these checkpoints "
                        "(other runs of the same teacher), beam and length penalty tuned on dev the same way")
    p.add_argument("--seeds", type=int, nargs="+", default=[], metavar="N",
                   help="train each teacher once per seed (train.seed=N; the first in OUT/<teacher>, the others in "
                        "OUT/<teacher>-seedN), score each run and the ensemble of all of them")
    p.add_argument("--jobs", type=int, default=1,
                   help="teachers trained at the same time, one process each (2 on a 2-core machine with --threads 1)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
                   help="torch threads (0 = torch's default)")
    return p.parse_args(argv)


def _config_differences(ckpt_path: Path, cfg) -> list[str]:
    """Config keys where the run in ckpt_path differs from cfg (fields added to the schema since
    are filled with their defaults; the work dir, progress bars and data.test do not count)."""
    from signkd.config import ConfigError, from_dict, to_dict
    from signkd.training.checkpoint import load_checkpoint

    try:
        stored = to_dict(from_dict(load_checkpoint(ckpt_path).get("config") or {}))
    except ConfigError as exc:
        return [f"stored config no longer loads ({exc})"]
    current = to_dict(cfg)
    for d in (stored, current):
        d.pop("work_dir", None)
        d["data"].pop("test", None)        # scoring another split is not a different model
        d["train"].pop("progress", None)
        if d["data"].get("annotations"):   # relative or absolute: the same files
            d["data"]["annotations"] = str(Path(d["data"]["annotations"]).resolve())

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "weights" else {prefix + k: v})
        return out

    a, b = flat(stored), flat(current)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def train(teacher: str, cfg, work_dir: Path, reuse: bool) -> dict:
    """Train (or reuse) one teacher; returns {wall_s, epochs, best_epoch, ...}."""
    from signkd.training.trainer import Trainer

    record_path = work_dir / "bench_train.json"
    if reuse and (work_dir / "best.pt").is_file():
        diffs = _config_differences(work_dir / "best.pt", cfg)
        if diffs:   # never train over a finished run by accident
            raise SystemExit(f"bench-text: --reuse: {work_dir / 'best.pt'} was trained with another config "
                             f"({'; '.join(diffs[:3])}); drop --reuse or use another --out")
        if record_path.is_file():
            record = json.loads(record_path.read_text(encoding="utf-8"))
        else:   # trained by `signkd train` directly: the epochs' own seconds (evaluation time not included)
            history = json.loads((work_dir / "metrics.json").read_text(encoding="utf-8"))
            record = {"wall_s": None, "train_s": sum(h["train"]["seconds"] for h in history["history"]),
                      "epochs": len(history["history"]), "best_epoch": history["best_epoch"]}
        print(f"[{teacher}] reusing {work_dir / 'best.pt'} (same config)", flush=True)
        return dict(record, reused=True)
    start = time.perf_counter()
    trainer = Trainer(cfg, work_dir=work_dir)
    result = trainer.fit()
    wall = time.perf_counter() - start
    record = {"wall_s": wall, "train_s": sum(h["train"]["seconds"] for h in trainer.state.history),
              "epochs": trainer.state.epoch, "best_epoch": result["best_epoch"]}
    record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return dict(record, reused=False)


def decode_settings(beams, alphas) -> list[tuple[int, float]]:
    out = []
    for beam in beams:
        for alpha in (alphas if beam > 1 else [1.0]):
            out.append((beam, alpha))
    return out


def score(teacher: str, cfg, work_dir: Path, settings, reuse: bool = False, ensemble=(), label: str = "") -> dict:
    """Dev metrics of best.pt per decoding setting; the best on dev, then test with it."""
    from signkd.config import load_config  # noqa: F401  (keeps the import cost out of the timings below)
    from signkd.training.testing import run_test

    metric = SELECT[teacher]
    members = [str(work_dir / "best.pt")] + [str(p) for p in ensemble] if ensemble else None   # as run_test records
    tried = []
    for beam, alpha in settings:
        c = _with(cfg, translation_beam=beam, length_penalty=alpha)
        start = time.perf_counter()
        folder = work_dir / f"decode{'-ensemble' if ensemble else ''}-b{beam}-a{alpha:g}"
        cached = folder / "test_metrics.json"
        res = None
        if reuse and cached.is_file() and cached.stat().st_mtime > (work_dir / "best.pt").stat().st_mtime:
            res, how = json.loads(cached.read_text(encoding="utf-8")), "scored earlier for this best.pt"
            if res.get("ensemble") != members:   # scored with other ensemble members: score again
                res = None
        if res is None:
            res = run_test(c, work_dir / "best.pt", work_dir=folder, splits=("dev",), log=lambda m: None,
                           ensemble=ensemble)
            how = f"{time.perf_counter() - start:.0f} s"
        dev = res["dev"]
        tried.append({"beam": beam, "alpha": alpha, "seconds": time.perf_counter() - start, "dev": dev})
        print(f"[{label or teacher}] dev beam {beam} alpha {alpha:g}: {metric} {dev[metric]:.2f} ({how})", flush=True)
    best = max(tried, key=lambda t: t["dev"][metric])
    out = {"select_metric": metric, "decoding": {"beam": best["beam"], "alpha": best["alpha"]},
           "dev": best["dev"], "tried": tried}
    if members:
        out["ensemble"] = members
    if cfg.data.test:
        c = _with(cfg, translation_beam=best["beam"], length_penalty=best["alpha"])
        res = run_test(c, work_dir / "best.pt", work_dir=work_dir / ("test-ensemble" if ensemble else "test"),
                       splits=("test",), log=lambda m: None, ensemble=ensemble)
        out["test"] = res["test"]
        out["test_file"] = cfg.data.test
    return out


def _with(cfg, **eval_fields):
    import copy
    import dataclasses

    c = copy.deepcopy(cfg)
    c.eval = dataclasses.replace(c.eval, **eval_fields)
    return c


def _row(teacher: str, split: str, m: dict, run: dict, dec: dict) -> str:
    p = "gloss_" if teacher.startswith("text2gloss") else ""
    wer = f"{m['wer']:6.2f}" if "wer" in m else "     -"
    wall = run.get("wall_s")
    minutes = f"{wall / 60:6.1f}" if wall else f"{run['train_s'] / 60:5.1f}*"
    return (f"{teacher:<16} {split:<5} " + " ".join(f"{m[p + k]:6.2f}" for k in ("bleu1", "bleu2", "bleu3", "bleu4"))
            + f" {m[p + 'chrf']:6.2f} {m[p + 'rouge_l']:7.2f} {wer} {minutes} {run['epochs']:>3}/{run['best_epoch']:<3}"
            + f" b{dec['beam']} a{dec['alpha']:g}")


def _run_name(teacher: str, seed, seeds: list) -> str:
    """OUT sub-folder and table label of one run: the teacher's name, or with --seeds, the first
    seed under that name and every other seed as <teacher>-seedN."""
    return teacher if seed is None or seed == seeds[0] else f"{teacher}-seed{seed}"


def _teacher_config(teacher: str, args, data: Path, out_dir: Path, seed=None):
    from signkd.config import load_config

    overrides = [f"data.annotations={data}", "train.progress=false"] + args.overrides
    if seed is not None:
        overrides.append(f"train.seed={seed}")
    cfg = load_config(REPO / "configs" / "phoenix2014t" / f"{teacher}.yaml", overrides)
    cfg.work_dir = str(out_dir / _run_name(teacher, seed, args.seeds))
    return cfg


def run_teacher(teacher: str, args, data: Path, out_dir: Path, settings, seed=None) -> dict:
    """Train (or reuse) and score one run of a teacher (and its ensemble with --ensemble): {label: result}."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _teacher_config(teacher, args, data, out_dir, seed)
    work_dir = Path(cfg.work_dir)
    name = work_dir.name
    print(f"[{name}] training: {cfg.train.epochs} epochs -> {work_dir}", flush=True)
    run = train(name, cfg, work_dir, args.reuse)
    out = {name: {"run": run, **score(teacher, cfg, work_dir, settings, args.reuse, label=name),
                  "config": f"configs/phoenix2014t/{teacher}.yaml"}}
    if seed is not None:
        out[name]["seed"] = seed
    if args.ensemble:
        label = f"{teacher}+{len(args.ensemble)}"
        scored = score(teacher, cfg, work_dir, settings, args.reuse, ensemble=args.ensemble, label=label)
        out[label] = {"run": run, **scored}
    return out


def score_seed_ensemble(teacher: str, args, data: Path, out_dir: Path, settings, runs: dict) -> dict:
    """The ensemble of a teacher's --seeds runs (averaged log-probabilities per step), beam and length
    penalty tuned on dev like a single run. Its time is the sum of the members' (they are trained
    side by side only when --jobs allows)."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _teacher_config(teacher, args, data, out_dir, args.seeds[0])
    others = [out_dir / _run_name(teacher, s, args.seeds) / "best.pt" for s in args.seeds[1:]]
    label = f"{teacher} x{len(args.seeds)}"
    scored = score(teacher, cfg, Path(cfg.work_dir), settings, args.reuse, ensemble=others, label=label)
    members = [runs[_run_name(teacher, s, args.seeds)]["run"] for s in args.seeds]
    run = {"wall_s": sum(m["wall_s"] or 0 for m in members) or None, "train_s": sum(m["train_s"] for m in members),
           "epochs": members[0]["epochs"], "best_epoch": members[0]["best_epoch"], "seeds": args.seeds}
    return {label: {"run": run, **scored, "config": f"configs/phoenix2014t/{teacher}.yaml"}}


def main(argv=None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if not (data / "PHOENIX-2014-T.train.corpus.csv").is_file():
        print(f"bench-text: skipped, no PHOENIX-2014-T annotations in {data} "
              f"(needs PHOENIX-2014-T.train.corpus.csv and .dev.corpus.csv)")
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"data": str(data), "overrides": args.overrides, "torch_threads": torch.get_num_threads(), "teachers": {}}
    settings = decode_settings(args.beams, args.alphas)
    if args.ensemble and len(args.only or TEACHERS) != 1:
        raise SystemExit("bench-text: --ensemble needs exactly one --only teacher")
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"bench-text: --seeds: each seed once, got {args.seeds}")
    teachers = list(args.only or TEACHERS)
    # one task per (teacher, seed); a teacher's seeds before the next teacher, so with --jobs 2 the
    # longest teacher's runs start first
    tasks = [(t, s) for t in teachers for s in (args.seeds or [None])]

    def save():   # after each finished task: a long run leaves what it finished
        (out_dir / "metrics.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")

    def run_all(fn, calls):
        """fn(*call) for each call, results in order: side by side in --jobs processes, else here."""
        if args.jobs > 1 and len(calls) > 1:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(fn, *call) for call in calls]
                yield from (future.result() for future in futures)
        else:
            yield from (fn(*call) for call in calls)

    for result in run_all(run_teacher, [(t, args, data, out_dir, settings, s) for t, s in tasks]):
        results["teachers"].update(result)
        save()
    if len(args.seeds) > 1:
        calls = [(t, args, data, out_dir, settings, results["teachers"]) for t in teachers]
        for result in run_all(score_seed_ensemble, calls):
            results["teachers"].update(result)
            save()

    print("\nPHOENIX-2014-T text teachers (BLEU: sacrebleu tokenize=none; Text2Gloss scored on raw glosses, "
          "WER after the phoenix2014t clean-up)")
    print(f"{'teacher':<16} {'split':<5} {'BLEU-1':>6} {'BLEU-2':>6} {'BLEU-3':>6} {'BLEU-4':>6} {'chrF':>6} "
          f"{'ROUGE-L':>7} {'WER':>6} {'min':>6} ep/best decoding")
    for teacher, r in results["teachers"].items():
        for split in ("dev", "test"):
            if split in r:
                print(_row(teacher, split, r[split], r["run"], r["decoding"]))
    if any(not r["run"].get("wall_s") for r in results["teachers"].values()):
        print("* reused a run trained outside this script: minutes = training epochs only (no evaluation)")
    if len(args.seeds) > 1:
        print(f"x{len(args.seeds)}: the ensemble of the runs above (seeds {', '.join(map(str, args.seeds))}); "
              "its minutes are theirs added up, ep/best are the first run's")
    print(f"wrote {out_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
