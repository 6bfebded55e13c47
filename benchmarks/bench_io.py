"""Frames/s delivered by the packed uint8 cache (`signkd prepare`) against decoding the PNG tree.

One run, side by side, reported as a ratio (the machine is shared and noisy). The corpus is the
synthetic one rendered at 256 x 256 px, the size training reads after `signkd prepare` (as the
peers resize PHOENIX to 256 x 256). Both sources are read twice and timed the second time, so both
come from the page cache: the ratio measures decoding cost, not the disk (from a hard disk the
PNG tree is much worse: many small files). Two columns: raw frames (read only), and the training
pipeline (temporal rescale, random 224 crop, flip, normalisation) as the DataLoader does it.

    python benchmarks/bench_io.py [--clips 16] [--size 256] [--keep DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.config import AugmentConfig  # noqa: E402
from signkd.data.corpora import read_corpus  # noqa: E402
from signkd.data.synthetic import generate_corpus  # noqa: E402
from signkd.data.augment import ClipTransform, sample_rng  # noqa: E402
from signkd.data.packed_cache import FrameSource, PackedCache, cache_key, pack_videos  # noqa: E402


def _rate(source: FrameSource, samples, transform=None) -> float:
    def one_pass() -> tuple[int, float]:
        frames, start = 0, time.perf_counter()
        for i, s in enumerate(samples):
            key = cache_key(s.split, s.id)
            if transform is None:
                clip = source.read(key, s.frames, s.frame_glob)
                frames += clip.shape[0]
            else:
                rng = sample_rng(0, 0, i)
                idx = transform.frame_indices(source.num_frames(key, s.frames, s.frame_glob), rng)
                frames += transform(source.read(key, s.frames, s.frame_glob, idx), rng).shape[0]
        return frames, time.perf_counter() - start

    one_pass()                       # warm the page cache for both sources alike
    frames, seconds = one_pass()
    return frames / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16, help="training clips to render")
    parser.add_argument("--size", type=int, default=256, help="frame size in pixels")
    parser.add_argument("--keep", default="", help="keep the corpus and cache in this folder")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)         # what one DataLoader worker gets
    tmp = tempfile.TemporaryDirectory(prefix="signkd-bench-io-")
    base = Path(args.keep or tmp.name)
    corpus = base / "corpus"
    start = time.perf_counter()
    generate_corpus(corpus, preset="tiny", seed=0, overwrite=True, width=args.size, height=args.size,
                    n_train=args.clips, n_dev=0, n_test=0)
    frames_dir = next((corpus / "features").iterdir()).relative_to(corpus)
    samples = read_corpus("synthetic", corpus, "train", frames=str(frames_dir))
    print(f"corpus: {len(samples)} clips at {args.size} px rendered in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    pack_videos([(cache_key(s.split, s.id), s.frames, s.frame_glob) for s in samples], base / "cache",
                size=args.size, progress=False)
    pack_seconds = time.perf_counter() - start
    png = FrameSource(None, size=args.size)
    packed = FrameSource(PackedCache(base / "cache"), size=args.size)
    crop = min(224, args.size)
    train = ClipTransform(AugmentConfig(resize=args.size, crop=crop, flip=0.5, temporal_rescale=0.2), train=True)
    rows = [("PNG tree", _rate(png, samples), _rate(png, samples, train)),
            ("packed cache (mmap)", _rate(packed, samples), _rate(packed, samples, train))]
    total = sum(png.num_frames(cache_key(s.split, s.id), s.frames, s.frame_glob) for s in samples)
    print(f"\n{'source':<22}{'raw frames/s':>14}{'pipeline frames/s':>20}")
    for name, raw, pipe in rows:
        print(f"{name:<22}{raw:>14.0f}{pipe:>20.0f}")
    print(f"{'ratio cache / PNG':<22}{rows[1][1] / rows[0][1]:>13.1f}x{rows[1][2] / rows[0][2]:>19.1f}x")
    print(f"\n{total} frames; one-off packing cost {pack_seconds:.1f} s ({total / pack_seconds:.0f} frames/s, "
          f"includes the PNG decode); page cache warm for both")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
