"""What bench_store.py and bench_scale.py both measure on a packed cache: the bytes of a store and
the training pipeline's frames/s per DataLoader worker from the PNG tree, the raw store and the
jpeg store, side by side in one run.

The pipeline is what one worker does for a training clip (one thread): read or decode the frames
the temporal rescale keeps, random 224 crop, flip, normalise; from the PNG tree that includes the
Lanczos resize that `prepare` otherwise does once. Every source is timed over the same clips in
interleaved rounds after a warm-up (page cache warm for all, checksums verified once; the best
round counts). "Per worker" is per CPU second of the process: what a worker delivers when it has
its core, whatever else a shared machine runs; the wall-clock rate is kept beside it.
"""
from __future__ import annotations

import time
from pathlib import Path

from signkd.config import AugmentConfig
from signkd.data.augment import ClipTransform, sample_rng
from signkd.data.packed_cache import FrameSource, PackedCache, cache_key, pack_videos

# the compact store's goals (issue: PHOENIX scale on one machine)
TARGET_PERCENT, TARGET_RATE, TARGET_VS_PNG = 15.0, 1500.0, 3.0
STORES = ("raw", "jpeg")


def pipeline_rate(source: FrameSource, samples, transform: ClipTransform, epoch: int) -> tuple[float, float, int]:
    """(frames per CPU second, frames per wall second, frames) of one pass over `samples`."""
    frames, cpu, wall = 0, time.process_time(), time.perf_counter()
    for i, s in enumerate(samples):
        key = cache_key(s.split, s.id)
        rng = sample_rng(0, epoch, i)
        idx = transform.frame_indices(source.num_frames(key, s.frames, s.frame_glob), rng)
        frames += transform(source.read(key, s.frames, s.frame_glob, idx), rng).shape[0]
    return frames / (time.process_time() - cpu), frames / (time.perf_counter() - wall), frames


def cache_bytes(root: Path) -> tuple[int, int]:
    """(bytes of every packed file, frames) of the cache in `root`."""
    cache = PackedCache(root)
    return (sum((root / e.file).stat().st_size for e in cache.entries.values()),
            sum(e.shape[0] for e in cache.entries.values()))


def pack_stores(samples, base: Path, *, size: int, quality: int, workers: int = 1) -> dict[str, float]:
    """Pack `samples` into base/raw and base/jpeg; seconds (wall) each took."""
    items = [(cache_key(s.split, s.id), s.frames, s.frame_glob) for s in samples]
    seconds = {}
    for store in STORES:
        start = time.perf_counter()
        pack_videos(items, base / store, size=size, store=store, quality=quality, workers=workers, progress=False)
        seconds[store] = time.perf_counter() - start
    return seconds


def source_names(quality: int) -> dict[str, str]:
    """Table name of each source: PNG tree, raw, jpeg q<quality>."""
    return {"png": "PNG tree", "raw": "raw", "jpeg": f"jpeg q{quality}"}


def loader_rates(samples, base: Path, *, size: int, rounds: int) -> dict[str, dict]:
    """{"png" | "raw" | "jpeg": {"cpu": frames/s per CPU second, "wall": frames/s, "frames": per pass}}
    of the training pipeline over `samples`, best of `rounds` interleaved rounds after a warm-up.
    The stores are base/raw and base/jpeg (`pack_stores`)."""
    train = ClipTransform(AugmentConfig(resize=size, crop=min(224, size), flip=0.5, temporal_rescale=0.2), train=True)
    sources = {"png": FrameSource(None, size=size), "raw": FrameSource(PackedCache(base / "raw"), size=size),
               "jpeg": FrameSource(PackedCache(base / "jpeg"), size=size)}
    rates = {name: {"cpu": 0.0, "wall": 0.0, "frames": 0} for name in sources}
    for source in sources.values():
        pipeline_rate(source, samples, train, epoch=0)
    for round_ in range(1, rounds + 1):
        for name, source in sources.items():
            cpu, wall, frames = pipeline_rate(source, samples, train, epoch=round_)
            r = rates[name]
            r["cpu"], r["wall"], r["frames"] = max(r["cpu"], cpu), max(r["wall"], wall), frames
    return rates


def store_goals(percent: float, rate: float, vs_png: float) -> dict[str, bool]:
    """Whether the jpeg store meets each goal."""
    return {"bytes": percent <= TARGET_PERCENT, "rate": rate >= TARGET_RATE, "vs_png": vs_png >= TARGET_VS_PNG}
