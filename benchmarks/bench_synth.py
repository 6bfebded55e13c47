"""Synthetic corpus: time to generate each preset (target: `demo` < 60 s on 2 CPU cores, `tiny` < 5 s),
and the measured difficulty (nearest-template accuracy on isolated signs: ordinary vs confusable).

    python benchmarks/bench_synth.py [--presets tiny demo] [--workers 1] [--seed 0] [--no-difficulty]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.data.synthetic import generate_corpus, load_description, make_world, resolve_params  # noqa: E402
from signkd.data.synthetic.difficulty import template_accuracy  # noqa: E402

TARGETS = {"tiny": 5.0, "demo": 60.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "demo"])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", dest="fmt", choices=["png", "mp4"], default="png")
    ap.add_argument("--no-difficulty", action="store_true")
    args = ap.parse_args()

    print(f"synthetic corpus generation ({args.fmt}, {args.workers} worker(s), {os.cpu_count()} CPUs)")
    print(f"{'preset':8s} {'size':>7s} {'clips':>6s} {'frames':>8s} {'seconds':>8s} {'frames/s':>9s} "
          f"{'MB':>7s} {'target s':>8s}")
    failed = False
    for preset in args.presets:
        tmp = Path(tempfile.mkdtemp(prefix=f"bench-synth-{preset}-"))
        try:
            start = time.perf_counter()
            generate_corpus(tmp / "c", preset, seed=args.seed, fmt=args.fmt, progress=False, workers=args.workers)
            seconds = time.perf_counter() - start
            info = load_description(tmp / "c")
            clips = sum(s["samples"] for s in info["splits"].values())
            frames = sum(s["frames"] for s in info["splits"].values())
            mb = sum(p.stat().st_size for p in (tmp / "c").rglob("*") if p.is_file()) / 2 ** 20
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        target = TARGETS.get(preset)
        ok = target is None or seconds < target
        failed |= not ok
        size = "x".join(map(str, info["frame_size"]))
        print(f"{preset:8s} {size:>7s} {clips:6d} {frames:8d} {seconds:8.1f} {frames / seconds:9.0f} {mb:7.1f} "
              f"{(f'{target:.0f}' if target else '-'):>8s}{'' if ok else '  SLOW'}", flush=True)

    if not args.no_difficulty:
        print("\nnearest-template accuracy on isolated signs (3 template + 2 query performances per gloss and signer)")
        print(f"{'preset':8s} {'seed':>4s} {'ordinary':>9s} {'confusable':>11s}   per pair (within-pair accuracy)")
        for preset in args.presets:
            world = make_world(resolve_params(preset), seed=args.seed)
            r = template_accuracy(world)
            pairs = " ".join(f"{k}:{v:.2f}" for k, v in r.per_pair.items())
            print(f"{preset:8s} {args.seed:4d} {r.ordinary:9.3f} {r.confusable:11.3f}   {pairs}", flush=True)
        print("acceptance: ordinary >= 0.90, confusable <= 0.70 (chance 0.50)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
