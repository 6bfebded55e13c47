"""What a checkpoint records of how training saw its frames (its `preprocessing` entry).

Why its own module: training writes it into every checkpoint and `recognize` / `export` read it
back (or recompute it from an older file's config), so it lives below both and neither imports
the other to agree on it.
"""
from __future__ import annotations

from typing import Optional

from signkd.config import Config
from signkd.data.packed_cache import PackedCache


def preprocessing_of(cfg: Config, frame_size: Optional[list] = None) -> dict:
    """What `recognize` must do to a new video to match training (stored in checkpoints).
    `frame_size`: [H, W] of the frames training read, recorded when it did not resize them, so a
    video of another size is brought to it instead of being centre-cropped to a sliver."""
    a = cfg.data.augment
    resize, keep_aspect = a.resize, a.keep_aspect
    if cfg.data.cache and not resize:
        # Training read frames already resized by `signkd prepare`: new videos need that size too.
        cache = PackedCache(cfg.data.cache)
        resize, keep_aspect = cache.size, cache.keep_aspect
    out = {"resize": resize, "keep_aspect": keep_aspect, "crop": a.crop, "mean": list(a.mean),
           "std": list(a.std), "frame_interval": cfg.data.frame_interval, "cache": bool(cfg.data.cache)}
    if not resize and frame_size:
        out["frame_size"] = [int(x) for x in frame_size]
    return out
