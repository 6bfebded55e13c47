"""`make bench-text`: the text teachers on the real PHOENIX-2014-T annotations, trained and scored by
the pipeline configs/phoenix2014t/pipeline_text_teachers.yaml (`signkd run`), then one table of dev (and test,
with `--set data.test=PATH`) BLEU-1..4, chrF, ROUGE-L (and gloss WER for Text2Gloss) with the wall
time of each run.

Why here and not in the tests: a full run takes about an hour on a CPU. What the pipeline does
(its header says more): Text2Gloss with two seeds and their ensemble; that ensemble back-translates
the train sentences (greedy, and sampled with dropout), every pseudo gloss sequence tagged BTTAG;
Gloss2Text on the real pairs + each file, and their ensemble. Every scored stage tries the decoding
grid (beam, length penalty) on dev and scores test with the best: the test split never chooses.
The runner skips what is up to date and resumes what was interrupted, so a second invocation only
prints the table. A variant (other seeds, no back-translation, given checkpoints) is a pipeline file
with `base: configs/phoenix2014t/pipeline_text_teachers.yaml`, passed with --pipeline.

Writes OUT/metrics.json (every scored stage's results) and prints the table. Without ../shared/data it
says so and exits 0.

    python benchmarks/text_teachers.py [--jobs 2 --threads 1] [--only STAGE ...] [--set KEY=VALUE] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "phoenix2014t"
DEFAULT_PIPELINE = REPO / "configs" / "phoenix2014t" / "pipeline_text_teachers.yaml"
TRAIN_FILE = "PHOENIX-2014-T.train.corpus.csv"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the PHOENIX-2014-T *.corpus.csv files")
    p.add_argument("--out", default="runs/bench_text", help="output folder (one sub-folder per stage)")
    p.add_argument("--pipeline", default=str(DEFAULT_PIPELINE), help="the pipeline file (a variant of the default)")
    p.add_argument("--only", nargs="+", default=[], metavar="STAGE",
                   help="run these stages and those they need (e.g. text2gloss-x2-scored)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every stage, e.g. data.test=PATH or train.epochs=4")
    p.add_argument("--jobs", type=int, default=1, help="stages trained at the same time, one process each")
    p.add_argument("--threads", type=int, default=0, help="torch threads per stage (0 = torch's default)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and check every input; train nothing")
    return p.parse_args(argv)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def collect(pipeline_path: Path, out: Path, stages: list[str]) -> dict:
    """Every scored (`command: test`) stage that has run: its metrics, the decoding it chose, and
    the runs it scored (their minutes added up, epochs and best epoch of the first)."""
    from signkd.pipeline import load_pipeline, resolve

    pipe = load_pipeline(pipeline_path)
    runs = resolve(pipe, out)
    results = {}
    for name in stages:
        run = runs[name]
        if run.stage.command != "test":
            continue
        scores = _read(run.folder / "test_metrics.json")
        if not scores:
            continue
        members = [Path(p).parent for p in [run.weights, *run.ensemble]]
        records = [_read(folder / "stage.json") for folder in members]
        history = _read(members[0] / "metrics.json")
        label = name.removesuffix("-scored")
        results[label] = {
            "stage": name, "members": [m.name for m in members], "checkpoint": scores.get("checkpoint"),
            "dev": scores.get("dev"), "test": scores.get("test"), "tuning": scores.get("tuning"),
            "minutes": sum(float(r.get("seconds") or 0.0) for r in records) / 60,
            "epochs": len(history.get("history") or []), "best_epoch": history.get("best_epoch"),
            "load_average": max((r.get("load_average") or 0.0) for r in records),
        }
        if scores.get("ensemble"):
            results[label]["ensemble"] = scores["ensemble"]
    return results


def _cell(metrics: dict, key: str, width: int) -> str:
    value = metrics.get(key)
    return f"{value:{width}.2f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"


def table(results: dict) -> str:
    lines = [f"{'teacher':<22} {'split':<5} {'BLEU-1':>6} {'BLEU-2':>6} {'BLEU-3':>6} {'BLEU-4':>6} {'chrF':>6} "
             f"{'ROUGE-L':>7} {'WER':>6} {'min':>6} ep/best decoding"]
    for label, r in results.items():
        p = "gloss_" if label.startswith("text2gloss") else ""
        chosen = (r.get("tuning") or {}).get("chosen") or {}
        decoding = (f"b{chosen.get('eval.translation_beam', 1)} a{chosen.get('eval.length_penalty', 1.0):g}"
                    if chosen else "config")
        for split in ("dev", "test"):
            m = r.get(split)
            if not m:
                continue
            lines.append(f"{label:<22} {split:<5} " + " ".join(_cell(m, p + k, 6) for k in ("bleu1", "bleu2", "bleu3",
                                                                                            "bleu4", "chrf"))
                         + f" {_cell(m, p + 'rouge_l', 7)} {_cell(m, 'wer', 6)} {r['minutes']:6.1f}"
                         + f" {r['epochs']:>3}/{r['best_epoch'] if r['best_epoch'] is not None else '-':<3} {decoding}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if not (data / TRAIN_FILE).is_file():
        print(f"bench-text: skipped, no PHOENIX-2014-T annotations in {data} "
              f"(needs {TRAIN_FILE} and .dev.corpus.csv)")
        return 0
    from signkd.errors import SignkdError
    from signkd.pipeline import load_pipeline, run_pipeline

    out = Path(args.out)
    overrides = [f"data.annotations={data.resolve()}"] + list(args.overrides)
    try:
        code = run_pipeline(args.pipeline, out=out, jobs=args.jobs, threads=args.threads, dry_run=args.dry_run,
                            overrides=overrides, only=args.only)
    except SignkdError as exc:
        print(f"bench-text: {exc}", file=sys.stderr)
        return 1
    if code or args.dry_run:
        return code
    pipe = load_pipeline(args.pipeline)
    stages = list(pipe.subset(args.only).order if args.only else pipe.order)
    results = collect(Path(args.pipeline), out, stages)
    record = {"data": str(data), "pipeline": str(args.pipeline), "overrides": args.overrides, "teachers": results}
    (out / "metrics.json").write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    print("\nPHOENIX-2014-T text teachers (BLEU: sacrebleu tokenize=none; Text2Gloss scored on raw glosses, "
          "WER after the phoenix2014t clean-up; min: the training run(s), added up for an ensemble)")
    print(table(results))
    busy = max((r["load_average"] for r in results.values()), default=0.0)
    if busy:
        print(f"load average at the end of the runs: up to {busy:.1f} (times are longer on a shared machine)")
    print(f"wrote {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
