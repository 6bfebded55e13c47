"""`make bench-text`: train the Gloss2Text and Text2Gloss teachers on the real PHOENIX-2014-T
annotations through the training engine, then report dev BLEU-1..4, chrF, ROUGE-L (and gloss WER
for Text2Gloss), with the wall time of each run.

Why here and not in the tests: a full run takes tens of minutes on a CPU. What it does, per run:
  1. `Trainer(cfg).fit()` exactly as `signkd train configs/phoenix2014t/<teacher>.yaml` (the
     checkpoint is selected on dev BLEU-4 with greedy decoding);
  2. re-decodes dev with best.pt under each beam size / length penalty of the grid and keeps the
     setting with the best dev BLEU-4 (dev only: the test split never chooses anything);
  3. scores `data.test` with that setting when one is given (`--set data.test=PATH`).

Gloss2Text trains on tagged back-translation by default (the recipe of
configs/phoenix2014t/gloss2text.yaml), so the runs go in two phases:
  1. Text2Gloss, one run per --text2gloss-seeds (side by side with --jobs 2); their ensemble is the
     back-translator (with one seed: that run);
  2. `signkd back-translate` of the train sentences by it (OUT/back-translation/<variant>/), once per
     --back-translation variant (greedy; dropout: sampled with dropout 0.3), every pseudo gloss
     sequence tagged BTTAG; then one Gloss2Text run per variant with data.train = that file, and the
     ensemble of those runs.
`--back-translation none` trains Gloss2Text on the real pairs alone (then both teachers run at once).
Writes OUT/metrics.json and prints a table. Without ../shared/data it says so and exits 0.

    python benchmarks/text_teachers.py [--only gloss2text --bt-from CKPT] [--set train.epochs=4] [--reuse]
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
BT_VARIANTS = ("greedy", "dropout")
TRAIN_FILE = "PHOENIX-2014-T.train.corpus.csv"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the PHOENIX-2014-T *.corpus.csv files")
    p.add_argument("--out", default="runs/bench_text", help="output folder (one sub-folder per teacher)")
    p.add_argument("--only", choices=TEACHERS, action="append", help="run only this teacher (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to both teachers, e.g. data.test=PATH or train.epochs=4")
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4], help="beam sizes tried on dev (1 = greedy)")
    p.add_argument("--alphas", type=float, nargs="+", default=[1.0, 2.0, 3.0], help="length penalties tried with beam > 1")
    p.add_argument("--reuse", action="store_true",
                   help="skip training where OUT/<teacher>/best.pt exists with the same config, and decodings "
                        "already scored for that best.pt")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="CKPT",
                   help="with one --only teacher: also score the ensemble of its best.pt and these checkpoints "
                        "(other runs of the same teacher), beam and length penalty tuned on dev the same way")
    p.add_argument("--seeds", type=int, nargs="+", default=[], metavar="N",
                   help="train each teacher once per seed (train.seed=N; the first in OUT/<teacher>, the others in "
                        "OUT/<teacher>-seedN), score each run and the ensemble of all of them")
    p.add_argument("--back-translation", nargs="+", choices=BT_VARIANTS + ("none",), default=["greedy", "dropout"],
                   metavar="VARIANT", help="Gloss2Text training data: one run per variant on the real pairs + the "
                        "train sentences back-translated by Text2Gloss (greedy, or dropout: sampled with --bt-dropout), "
                        "and their ensemble; none: the real pairs alone (default: greedy dropout)")
    p.add_argument("--bt-from", nargs="+", metavar="CKPT",
                   help="back-translate with these Text2Gloss checkpoints (decoding together) instead of the "
                        "Text2Gloss runs trained here")
    p.add_argument("--bt-tag", default="BTTAG", help="gloss put before every pseudo gloss sequence ('' = untagged)")
    p.add_argument("--bt-dropout", type=float, default=0.3, help="dropout rate of the 'dropout' variant")
    p.add_argument("--text2gloss-seeds", type=int, nargs="+", default=None, metavar="N",
                   help="Text2Gloss runs (default: --seeds, else the config's seed); with back-translation their "
                        "ensemble back-translates")
    p.add_argument("--jobs", type=int, default=1,
                   help="teachers trained at the same time, one process each (2 on a 2-core machine with --threads 1)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
                   help="torch threads (0 = torch's default)")
    return p.parse_args(argv)


def _config_differences(ckpt_path: Path, cfg) -> list[str]:
    """Config keys where the run in ckpt_path differs from cfg (fields added to the schema since
    are filled with their defaults; the work dir, progress bars and data.test do not count)."""
    from signkd.config import ConfigError, from_dict, to_dict
    from signkd.checkpoint import load_checkpoint

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
    with Trainer(cfg, work_dir=work_dir, force=True) as trainer:   # without --reuse, a run is trained afresh
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
    return (f"{teacher:<18} {split:<5} " + " ".join(f"{m[p + k]:6.2f}" for k in ("bleu1", "bleu2", "bleu3", "bleu4"))
            + f" {m[p + 'chrf']:6.2f} {m[p + 'rouge_l']:7.2f} {wer} {minutes} {run['epochs']:>3}/{run['best_epoch']:<3}"
            + f" b{dec['beam']} a{dec['alpha']:g}")


def _run_name(teacher: str, seed, seeds: list) -> str:
    """OUT sub-folder and table label of one run: the teacher's name, or with several seeds, the first
    seed under that name and every other seed as <teacher>-seedN."""
    return teacher if seed is None or seed == seeds[0] else f"{teacher}-seed{seed}"


def _teacher_config(spec, args, data: Path, out_dir: Path):
    """The config of one run: spec = (teacher, name, seed, extra overrides)."""
    from signkd.config import load_config

    teacher, name, seed, extra = spec
    overrides = [f"data.annotations={data}", "train.progress=false"] + args.overrides + list(extra)
    if seed is not None:
        overrides.append(f"train.seed={seed}")
    cfg = load_config(REPO / "configs" / "phoenix2014t" / f"{teacher}.yaml", overrides)
    cfg.work_dir = str(out_dir / name)
    return cfg


def _set_threads(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def run_teacher(spec, args, data: Path, out_dir: Path, settings, threads: int = 0) -> dict:
    """Train (or reuse) and score one run of a teacher (and its ensemble with --ensemble): {label: result}."""
    _set_threads(threads or args.threads)
    teacher, name, seed, extra = spec
    cfg = _teacher_config(spec, args, data, out_dir)
    work_dir = Path(cfg.work_dir)
    print(f"[{name}] training: {cfg.train.epochs} epochs -> {work_dir}", flush=True)
    run = train(name, cfg, work_dir, args.reuse)
    out = {name: {"run": run, **score(teacher, cfg, work_dir, settings, args.reuse, label=name),
                  "config": f"configs/phoenix2014t/{teacher}.yaml"}}
    if seed is not None:
        out[name]["seed"] = seed
    if extra:
        out[name]["overrides"] = list(extra)
    if args.ensemble:
        label = f"{name}+{len(args.ensemble)}"
        scored = score(teacher, cfg, work_dir, settings, args.reuse, ensemble=args.ensemble, label=label)
        out[label] = {"run": run, **scored}
    return out


def score_ensemble(specs, args, data: Path, out_dir: Path, settings, runs: dict, threads: int = 0) -> dict:
    """The ensemble of several runs of one teacher (averaged log-probabilities per step), beam and length
    penalty tuned on dev like a single run. Its time is the sum of the members' (they are trained
    side by side only when --jobs allows)."""
    from signkd.errors import CheckpointError

    _set_threads(threads or args.threads)
    teacher = specs[0][0]
    cfg = _teacher_config(specs[0], args, data, out_dir)
    others = [out_dir / spec[1] / "best.pt" for spec in specs[1:]]
    label = f"{teacher} x{len(specs)}"
    try:
        scored = score(teacher, cfg, Path(cfg.work_dir), settings, args.reuse, ensemble=others, label=label)
    except CheckpointError as exc:   # e.g. runs trained on files with other gloss sets: keep the runs' results
        print(f"[{label}] ensemble not scored: {exc}", flush=True)
        return {}
    members = [runs[spec[1]]["run"] for spec in specs]
    run = {"wall_s": sum(m["wall_s"] or 0 for m in members) or None, "train_s": sum(m["train_s"] for m in members),
           "epochs": members[0]["epochs"], "best_epoch": members[0]["best_epoch"], "members": [s[1] for s in specs]}
    if all(spec[2] is not None for spec in specs):
        run["seeds"] = [spec[2] for spec in specs]
    return {label: {"run": run, **scored, "config": f"configs/phoenix2014t/{teacher}.yaml"}}


def back_translation_file(variant: str, checkpoints: list[Path], args, data: Path, out_dir: Path) -> dict:
    """`signkd back-translate` of the train file by the ensemble of `checkpoints` (one: that teacher)
    into OUT/back-translation/<variant>/ (kept under --reuse when written by the same checkpoints
    with the same settings)."""
    from signkd.backtranslation import back_translate

    folder = out_dir / "back-translation" / variant
    out, summary = folder / TRAIN_FILE, folder / "back-translation.json"
    checkpoint, others = checkpoints[0], checkpoints[1:]
    settings = {"checkpoint": str(checkpoint.resolve()), "ensemble": [str(c.resolve()) for c in others],
                "corpus": str((data / TRAIN_FILE).resolve()), "tag": args.bt_tag,
                "dropout": args.bt_dropout if variant == "dropout" else 0.0, "seed": 0}
    if args.reuse and out.is_file() and summary.is_file():
        record = json.loads(summary.read_text(encoding="utf-8"))
        if record.get("settings") == settings and all(out.stat().st_mtime > c.stat().st_mtime for c in checkpoints):
            print(f"[back-translation {variant}] reusing {out} (same checkpoint and settings)", flush=True)
            return record
    _set_threads(args.threads * args.jobs)   # nothing else runs now
    start = time.perf_counter()
    result = back_translate(checkpoint, data / TRAIN_FILE, out, ensemble=others, tag=settings["tag"],
                            dropout=settings["dropout"], seed=settings["seed"], device="cpu", progress=False,
                            log=lambda m: print(f"[back-translation {variant}] {m}", flush=True))
    record = {"settings": settings, **result, "seconds": time.perf_counter() - start}
    summary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return record


def main(argv=None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if not (data / TRAIN_FILE).is_file():
        print(f"bench-text: skipped, no PHOENIX-2014-T annotations in {data} "
              f"(needs {TRAIN_FILE} and .dev.corpus.csv)")
        return 0
    import torch

    _set_threads(args.threads)
    out_dir = Path(args.out)
    teachers = list(args.only or TEACHERS)
    variants = [v for v in dict.fromkeys(args.back_translation) if v != "none"]
    if "none" in args.back_translation and variants:
        raise SystemExit("bench-text: --back-translation: give variants or none, not both")
    bt = variants if "gloss2text" in teachers else []
    if args.ensemble and len(teachers) != 1:
        raise SystemExit("bench-text: --ensemble needs exactly one --only teacher")
    for flag, seeds in (("--seeds", args.seeds), ("--text2gloss-seeds", args.text2gloss_seeds or [])):
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"bench-text: {flag}: each seed once, got {seeds}")
    if bt and args.seeds:
        raise SystemExit("bench-text: --seeds with back-translation: Gloss2Text runs once per --back-translation "
                         "variant; give --text2gloss-seeds for Text2Gloss, or --back-translation none")
    if bt and "text2gloss" not in teachers and not args.bt_from:
        raise SystemExit("bench-text: Gloss2Text with back-translation needs a Text2Gloss: drop --only, give "
                         "--bt-from CKPT, or --back-translation none")
    if args.bt_from and not bt:
        raise SystemExit("bench-text: --bt-from is for back-translation of the Gloss2Text training data")
    for path in args.bt_from or []:
        if not Path(path).is_file():
            raise SystemExit(f"bench-text: --bt-from {path}: no such checkpoint")
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"data": str(data), "overrides": args.overrides, "torch_threads": torch.get_num_threads(), "teachers": {}}
    settings = decode_settings(args.beams, args.alphas)

    def runs_of(teacher, seeds):
        return [(teacher, _run_name(teacher, s, seeds), s, ()) for s in (seeds or [None])]

    t2g_seeds = args.text2gloss_seeds or args.seeds
    t2g = runs_of("text2gloss", t2g_seeds) if "text2gloss" in teachers else []
    g2t = runs_of("gloss2text", args.seeds) if "gloss2text" in teachers and not bt else []

    def save():   # after each finished task: a long run leaves what it finished
        (out_dir / "metrics.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")

    def run_all(fn, calls):
        """fn(*call) for each call, results in order: side by side in --jobs processes, else here.
        A phase with fewer runs than jobs gives each run the idle jobs' threads."""
        if not calls:
            return
        threads = args.threads * args.jobs // len(calls) if args.threads and len(calls) < args.jobs else 0
        calls = [call + (threads,) for call in calls]
        if args.jobs > 1 and len(calls) > 1:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(fn, *call) for call in calls]
                yield from (future.result() for future in futures)
        else:
            yield from (fn(*call) for call in calls)

    def phase(specs, groups):
        """Train and score the runs (side by side), then each group's ensemble."""
        for result in run_all(run_teacher, [(spec, args, data, out_dir, settings) for spec in specs]):
            results["teachers"].update(result)
            save()
        calls = [(group, args, data, out_dir, settings, results["teachers"]) for group in groups if len(group) > 1]
        for result in run_all(score_ensemble, calls):
            results["teachers"].update(result)
            save()

    # a teacher's runs before the next teacher's, so with --jobs 2 the longest runs start first
    phase(g2t + t2g, [g2t, t2g])
    if bt:
        if args.bt_from:
            checkpoints = [Path(c) for c in args.bt_from]
            source = " + ".join(args.bt_from)
        else:   # the ensemble of the Text2Gloss runs, the best on dev first (it supplies the decoding config)
            names = sorted((spec[1] for spec in t2g), key=lambda n: -results["teachers"][n]["dev"]["gloss_bleu4"])
            checkpoints = [out_dir / n / "best.pt" for n in names]
            source = " + ".join(names)
        variants = {v: back_translation_file(v, checkpoints, args, data, out_dir) for v in bt}
        results["back_translation"] = {"from": source, "checkpoints": [str(c) for c in checkpoints],
                                       "tag": args.bt_tag, "variants": variants}
        save()
        g2t = [("gloss2text", "gloss2text" if i == 0 else f"gloss2text-{v}", None,
                (f"data.train={Path(variants[v]['out']).resolve()}",)) for i, v in enumerate(bt)]
        phase(g2t, [g2t])
        for spec, v in zip(g2t, bt):
            results["teachers"][spec[1]]["back_translation"] = v
        save()

    print("\nPHOENIX-2014-T text teachers (BLEU: sacrebleu tokenize=none; Text2Gloss scored on raw glosses, "
          "WER after the phoenix2014t clean-up)")
    print(f"{'teacher':<18} {'split':<5} {'BLEU-1':>6} {'BLEU-2':>6} {'BLEU-3':>6} {'BLEU-4':>6} {'chrF':>6} "
          f"{'ROUGE-L':>7} {'WER':>6} {'min':>6} ep/best decoding")
    for teacher, r in results["teachers"].items():
        for split in ("dev", "test"):
            if split in r:
                print(_row(teacher, split, r[split], r["run"], r["decoding"]))
    if any(not r["run"].get("wall_s") for r in results["teachers"].values()):
        print("* reused a run trained outside this script: minutes = training epochs only (no evaluation)")
    for label, r in results["teachers"].items():
        if "members" in r["run"]:
            print(f"{label}: the ensemble of {', '.join(r['run']['members'])}; its minutes are theirs added up, "
                  "ep/best the first's")
    if bt:
        b = results["back_translation"]
        for spec, v in zip(g2t, bt):
            made = b["variants"][v]
            print(f"{spec[1]}: real pairs + {made['pseudo_rows']} train sentences back-translated by {b['from']} "
                  f"({v}{f' {args.bt_dropout:g}' if v == 'dropout' else ''}, tagged {b['tag'] or '-'}; pseudo-gloss "
                  f"WER {made['copies'][0]['wer']:.1f} %, {made.get('seconds', 0):.0f} s)")
    print(f"wrote {out_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
