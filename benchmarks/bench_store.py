"""The packed cache's stores side by side: bytes per frame and training-pipeline frames/s per
worker for the PNG tree, the raw store and the jpeg store (`signkd prepare --store`).

The corpus is the synthetic one rendered at PHOENIX's frame size (260 x 210 px, PNGs compressed
as PIL's default, as corpora ship) and packed at the configs' 256 x 256. The pipeline is what one
DataLoader worker does for a training clip (one thread): read or decode the frames the temporal
rescale keeps, random 224 crop, flip, normalise; from the PNG tree that includes the Lanczos
resize to 256 that `prepare` otherwise does once. Each source is timed over the same clips in
interleaved rounds after a warm-up (page cache warm for all; the best round counts), and reported
as ratios. "frames/s per worker" is per CPU second of the process: what a worker delivers when it
has its core, whatever else the (shared) machine runs; the wall-clock rate is printed beside it.

    python benchmarks/bench_store.py [--clips 200] [--rate-clips 40] [--quality 90] [--keep DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.data.corpora import read_corpus  # noqa: E402
from signkd.data.frame_store import jpeg_codec  # noqa: E402
from signkd.data.synthetic import generate_corpus  # noqa: E402
from store_measure import (TARGET_PERCENT, TARGET_RATE, TARGET_VS_PNG, cache_bytes, loader_rates,  # noqa: E402
                           pack_stores, source_names, store_goals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200, help="training clips to render (bytes are measured on all)")
    parser.add_argument("--rate-clips", type=int, default=40, help="clips the frames/s are measured on")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per source (the best counts)")
    parser.add_argument("--size", type=int, default=256, help="packed frame size")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the jpeg store")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering and packing")
    parser.add_argument("--keep", default="", help="keep the corpus and caches in this folder")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)         # what one DataLoader worker gets
    tmp = tempfile.TemporaryDirectory(prefix="signkd-bench-store-")
    base = Path(args.keep or tmp.name)
    start = time.perf_counter()
    corpus = generate_corpus(base / "corpus", preset="tiny", seed=0, overwrite=True, progress=False, width=260,
                             height=210, png_compress_level=6, n_train=args.clips, n_dev=0, n_test=0,
                             workers=args.workers)
    frames_dir = next((corpus / "features").iterdir()).relative_to(corpus)
    samples = read_corpus("synthetic", corpus, "train", frames=str(frames_dir))
    pngs = [p for s in samples for p in Path(s.frames).glob(s.frame_glob)]
    print(f"corpus: {len(samples)} clips, {len(pngs)} frames of 260x210 px rendered in "
          f"{time.perf_counter() - start:.1f} s ({args.workers} workers)")
    pack_seconds = pack_stores(samples, base, size=args.size, quality=args.quality, workers=1)
    raw_bytes, frames = cache_bytes(base / "raw")
    jpeg_bytes, _ = cache_bytes(base / "jpeg")
    png_bytes = sum(p.stat().st_size for p in pngs)

    timed = samples[: args.rate_clips]
    measured = loader_rates(timed, base, size=args.size, rounds=args.rounds)
    names = source_names(args.quality)
    rates = {names[k]: r["cpu"] for k, r in measured.items()}
    walls = {names[k]: r["wall"] for k, r in measured.items()}
    sources = list(rates)

    per_frame = {"PNG tree": png_bytes / len(pngs), "raw": raw_bytes / frames, f"jpeg q{args.quality}": jpeg_bytes / frames}
    raw_per_frame = per_frame["raw"]
    packed = {"raw": pack_seconds["raw"], f"jpeg q{args.quality}": pack_seconds["jpeg"]}
    print(f"\n{'store':<12}{'bytes/frame':>13}{'% of raw':>10}{'frames/s per worker':>21}{'vs PNG':>8}"
          f"{'(wall)':>9}{'prepare frames/s':>18}")
    for name in sources:
        pack = f"{frames / packed[name]:>18.0f}" if name in packed else f"{'-':>18}"
        print(f"{name:<12}{per_frame[name]:>13,.0f}{100 * per_frame[name] / raw_per_frame:>9.1f}%"
              f"{rates[name]:>21,.0f}{rates[name] / rates['PNG tree']:>7.1f}x{walls[name]:>9,.0f}{pack}")
    jpeg = f"jpeg q{args.quality}"
    percent, rate, ratio = 100 * per_frame[jpeg] / raw_per_frame, rates[jpeg], rates[jpeg] / rates["PNG tree"]
    met = all(store_goals(percent, rate, ratio).values())
    print(f"\njpeg store: {percent:.1f} % of raw (target <= {TARGET_PERCENT:.0f} %), {rate:,.0f} frames/s per worker "
          f"(target >= {TARGET_RATE:,.0f}), {ratio:.1f}x the PNG tree (target >= {TARGET_VS_PNG:.0f}x): "
          f"{'met' if met else 'NOT met'}")
    print(f"{frames} frames packed at {args.size} px; rates over {sum(len(list(Path(s.frames).glob(s.frame_glob))) for s in timed)}"
          f" frames of {len(timed)} clips, best of {args.rounds} rounds, one thread, per CPU second of the process "
          f"(wall: per second of this run, lower when the machine is shared); JPEG decoder: "
          f"{jpeg_codec()}; prepare timed with 1 worker (wall)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
