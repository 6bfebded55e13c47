"""Frames in, normalised clip tensors out: reading (PNG/JPG folders, mp4), resizing, the packed
uint8 cache written by `signkd prepare`, and the original's augmentation.

Why a packed cache: decoding one PNG per frame makes training I/O bound (the peers report hours
per epoch from a hard disk). `signkd prepare` resizes every frame once and stores each video as
one ``(T, H, W, 3)`` uint8 ``.npy`` file, listed with its shape and sha256 in ``manifest.json``.
Training opens those files memory-mapped and touches only the frames it keeps.

Why per-sample random generators: augmentation draws from ``numpy.random.default_rng([seed,
epoch, index])``, so a clip's augmentation does not depend on DataLoader workers, ranks or how
far a run got before it was interrupted; that is what makes `--resume` and DDP reproducible.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from signkd.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
MANIFEST = "manifest.json"
CACHE_VERSION = 1


# --------------------------------------------------------------------------------------------
# Locating and decoding frames
# --------------------------------------------------------------------------------------------

def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def frame_files(folder: str | Path, pattern: str = "*.png") -> list[Path]:
    """Sorted frame files of `folder` (natural order: images2 < images10). DataError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: frame folder not found")
    files = sorted((p for p in folder.glob(pattern) if p.is_file()), key=_natural_key)
    if not files:
        raise DataError(f"{folder}: no frames matching {pattern!r}")
    return files


def video_file_of(frames: str | Path, pattern: str = "*.png") -> Optional[Path]:
    """The video file that holds a sample's frames, if it is stored as one (mp4 etc.), else None.
    `frames` may be the file itself or a folder whose glob matches exactly one video file."""
    path = Path(frames)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return path
    if path.is_dir() and Path(pattern).suffix.lower() in VIDEO_SUFFIXES:
        files = sorted(path.glob(pattern))
        if len(files) == 1:
            return files[0]
    return None


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None


def read_video_file(path: str | Path, indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """Decode a video with PyAV -> (T, H, W, 3) uint8 RGB (only `indices` when given)."""
    import av  # imported here: only mp4 users pay for it

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise DataError(f"{path}: cannot decode video ({exc})") from None
    if not frames:
        raise DataError(f"{path}: video has no frames")
    clip = np.stack(frames)
    return clip if indices is None else clip[np.asarray(indices, dtype=np.int64)]


def count_video_frames(path: str | Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
    return len(read_video_file(path))


def resize_frame(frame: np.ndarray, size: int, keep_aspect: bool) -> np.ndarray:
    """Resize (H, W, 3) to size x size (VAC's 256 x 256, which distorts 210 x 260) or, with
    keep_aspect, so that the short side is `size`. size 0 = unchanged. Lanczos as VAC."""
    if size <= 0:
        return frame
    h, w = frame.shape[:2]
    if keep_aspect:
        scale = size / min(h, w)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    else:
        new_w = new_h = size
    if (new_h, new_w) == (h, w):
        return frame
    return np.asarray(Image.fromarray(frame).resize((new_w, new_h), Image.LANCZOS))


def read_source_frames(frames: str | Path, pattern: str = "*.png", *, size: int = 0, keep_aspect: bool = False,
                       indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """Frames of one sample from its folder of images or its video file -> (T, H, W, 3) uint8,
    resized; only the frames at `indices` are decoded when given."""
    video = video_file_of(frames, pattern)
    if video is not None:
        clip = read_video_file(video, indices)
        return np.stack([resize_frame(f, size, keep_aspect) for f in clip])
    files = frame_files(frames, pattern)
    chosen = files if indices is None else [files[i] for i in indices]
    clip = [resize_frame(read_image(p), size, keep_aspect) for p in chosen]
    shapes = {f.shape for f in clip}
    if len(shapes) > 1:
        raise DataError(f"{frames}: frames of different sizes {sorted(shapes)}; set data.augment.resize")
    return np.stack(clip)


def count_source_frames(frames: str | Path, pattern: str = "*.png") -> int:
    video = video_file_of(frames, pattern)
    return count_video_frames(video) if video is not None else len(frame_files(frames, pattern))


# --------------------------------------------------------------------------------------------
# Packed cache: one (T, H, W, 3) uint8 .npy per video + manifest.json with shapes and sha256
# --------------------------------------------------------------------------------------------

def cache_key(split: str, sample_id: str) -> str:
    """Manifest key of a video: `<split>/<id>` (ids are only unique within a split in general)."""
    return f"{split}/{sample_id}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._/-]", "_", key).strip("/")


@dataclass
class CacheEntry:
    file: str
    shape: tuple
    sha256: str


class PackedCache:
    """Read side of the packed cache. ``load`` returns a read-only memory map (T, H, W, 3)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise DataError(f"{path}: no packed-cache manifest (run `signkd prepare` first or unset data.cache)")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        if manifest.get("version") != CACHE_VERSION:
            raise DataError(f"{path}: cache version {manifest.get('version')!r}, expected {CACHE_VERSION}; re-run `signkd prepare`")
        self.size = int(manifest.get("size", 0))
        self.keep_aspect = bool(manifest.get("keep_aspect", False))
        self.entries = {k: CacheEntry(v["file"], tuple(v["shape"]), v["sha256"]) for k, v in manifest["videos"].items()}

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def entry(self, key: str) -> CacheEntry:
        try:
            return self.entries[key]
        except KeyError:
            raise DataError(f"{self.root / MANIFEST}: video {key!r} is not in the packed cache; re-run `signkd prepare`") from None

    def num_frames(self, key: str) -> int:
        return int(self.entry(key).shape[0])

    def load(self, key: str) -> np.ndarray:
        entry = self.entry(key)
        path = self.root / entry.file
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read packed video ({exc})") from None
        if tuple(array.shape) != entry.shape or array.dtype != np.uint8:
            raise DataError(f"{path}: shape {tuple(array.shape)} {array.dtype}, manifest says {entry.shape} uint8; "
                            "re-run `signkd prepare`")
        return array

    def verify(self, keys: Optional[Iterable[str]] = None) -> list[str]:
        """Keys whose file is missing or whose checksum differs from the manifest."""
        bad = []
        for key in (self.entries if keys is None else keys):
            entry = self.entry(key)
            path = self.root / entry.file
            if not path.is_file() or _sha256(path) != entry.sha256:
                bad.append(key)
        return bad


def pack_videos(items: Sequence[tuple[str, str, str]], out_dir: str | Path, *, size: int = 256,
                keep_aspect: bool = False, progress: bool = True) -> Path:
    """Write the packed cache for `items` = [(key, frames_path, frame_glob)]. Videos already
    packed with the same settings and a matching checksum are kept (so a re-run resumes).
    Every file is written to a temp name and renamed; the manifest is written last."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old: dict = {}
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        try:
            prev = json.loads(manifest_path.read_text(encoding="utf-8"))
            if prev.get("version") == CACHE_VERSION and prev.get("size") == size and prev.get("keep_aspect") == keep_aspect:
                old = prev.get("videos", {})
        except json.JSONDecodeError:
            old = {}
    videos = {}
    total_frames = 0
    bar = tqdm(items, desc=f"packing {out}", unit="video", disable=not progress)
    for key, frames, pattern in bar:
        name = _safe_name(key) + ".npy"
        path = out / name
        prev = old.get(key)
        if prev and prev.get("file") == name and path.is_file() and _sha256(path) == prev.get("sha256"):
            videos[key] = prev
            total_frames += int(prev["shape"][0])
            continue
        clip = read_source_frames(frames, pattern, size=size, keep_aspect=keep_aspect)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(clip, dtype=np.uint8))
        os.replace(tmp, path)
        videos[key] = {"file": name, "shape": list(clip.shape), "sha256": _sha256(path)}
        total_frames += clip.shape[0]
        bar.set_postfix(frames=total_frames, refresh=False)   # redrawn at tqdm's own pace
    manifest = {"version": CACHE_VERSION, "size": size, "keep_aspect": keep_aspect,
                "videos": videos, "total_frames": total_frames}
    tmp = manifest_path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, manifest_path)
    return manifest_path


# --------------------------------------------------------------------------------------------
# Frame source: cache when available, else the original files
# --------------------------------------------------------------------------------------------

class FrameSource:
    """Reads the raw uint8 frames of a sample: from the packed cache when one is configured,
    otherwise from its image folder / video file, resized as the config asks.
    `frame_interval` keeps every n-th frame (the original's config option)."""

    def __init__(self, cache: Optional[PackedCache] = None, *, size: int = 0, keep_aspect: bool = False,
                 frame_interval: int = 1):
        if frame_interval < 1:
            raise DataError(f"data.frame_interval: expected >= 1, got {frame_interval}")
        self.cache = cache
        self.size = size
        self.keep_aspect = keep_aspect
        self.frame_interval = frame_interval

    def _raw_count(self, key: str, frames: str, pattern: str) -> int:
        if self.cache is not None:
            return self.cache.num_frames(key)
        return count_source_frames(frames, pattern)

    def num_frames(self, key: str, frames: str, pattern: str) -> int:
        raw = self._raw_count(key, frames, pattern)
        return (raw + self.frame_interval - 1) // self.frame_interval

    def read(self, key: str, frames: str, pattern: str, indices: Optional[np.ndarray] = None) -> np.ndarray:
        """(T, H, W, 3) uint8; `indices` index the frames left after `frame_interval`."""
        if self.cache is not None:
            clip = self.cache.load(key)[:: self.frame_interval]
            picked = clip if indices is None else clip[np.asarray(indices)]
            return np.ascontiguousarray(picked)  # copies only the kept frames out of the memory map
        raw_indices = None
        if self.frame_interval > 1 or indices is not None:
            n = self._raw_count(key, frames, pattern)
            raw_indices = np.arange(0, n, self.frame_interval)
            if indices is not None:
                raw_indices = raw_indices[np.asarray(indices)]
        if raw_indices is None:
            return read_source_frames(frames, pattern, size=self.size, keep_aspect=self.keep_aspect)
        unique, inverse = np.unique(raw_indices, return_inverse=True)  # decode a repeated frame once
        clip = read_source_frames(frames, pattern, size=self.size, keep_aspect=self.keep_aspect, indices=unique)
        return clip[inverse]


# --------------------------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------------------------

def temporal_rescale_indices(n: int, ratio: float, rng: np.random.Generator, *, min_len: int = 1,
                             max_len: int = 0) -> np.ndarray:
    """The original's TemporalRescale: new length = floor(n * U(1-r, 1+r)), clamped to
    [min_len, max_len]; frames drawn without replacement when shrinking and with replacement when
    growing, then sorted. (The original also rounds up to a multiple of 4 for VAC's padding
    scheme; our collation pads with lengths instead, so we do not.)"""
    if ratio <= 0 or n <= 0:
        return np.arange(n)
    new = int(n * rng.uniform(1.0 - ratio, 1.0 + ratio))
    if max_len > 0:
        new = min(new, max_len)
    new = max(new, min_len, 1)
    if new == n:
        return np.arange(n)
    idx = rng.choice(n, size=new, replace=new > n)
    return np.sort(idx)


class ClipTransform:
    """uint8 frames (T, H, W, 3) -> normalised float clip (T, 3, h, w).

    Train: temporal rescale, one random crop offset for the whole clip, horizontal flip of the
    whole clip with probability `flip`. Eval: centre crop only. Normalisation (x/255 - mean)/std;
    the defaults mean = std = 0.5 give the original's x/127.5 - 1."""

    def __init__(self, augment, train: bool):
        self.crop = int(augment.crop)
        self.flip = float(augment.flip)
        self.rescale = float(augment.temporal_rescale)
        self.min_frames = int(augment.min_frames)
        self.max_frames = int(augment.max_frames)
        self.train = train
        if len(augment.mean) != 3 or len(augment.std) != 3 or any(s <= 0 for s in augment.std):
            raise DataError(f"data.augment: mean/std need 3 values (std > 0), got {augment.mean} / {augment.std}")
        self.mean = torch.tensor(augment.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(augment.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def frame_indices(self, n: int, rng: Optional[np.random.Generator], min_len: int = 1) -> np.ndarray:
        """Which frames to read (decided before reading, so skipped frames are never decoded)."""
        if not self.train or rng is None:
            return np.arange(n)
        return temporal_rescale_indices(n, self.rescale, rng, min_len=max(min_len, self.min_frames),
                                        max_len=self.max_frames)

    def __call__(self, frames: np.ndarray, rng: Optional[np.random.Generator] = None) -> torch.Tensor:
        # frames: (T, H, W, 3) uint8 -> (T, 3, h, w) float32
        t, h, w, _ = frames.shape
        if self.crop > 0:
            if self.crop > h or self.crop > w:
                raise DataError(f"data.augment.crop: {self.crop} is larger than the {h}x{w} frames; "
                                "lower it or set data.augment.resize")
            if self.train and rng is not None:
                top = int(rng.integers(0, h - self.crop + 1))
                left = int(rng.integers(0, w - self.crop + 1))
            else:
                top, left = (h - self.crop) // 2, (w - self.crop) // 2
            frames = frames[:, top: top + self.crop, left: left + self.crop]
        flip = self.train and rng is not None and self.flip > 0 and rng.random() < self.flip
        clip = torch.from_numpy(np.ascontiguousarray(frames))                     # (T, h, w, 3) uint8
        if flip:
            clip = clip.flip(2)
        # permute while still uint8 (4x fewer bytes to move), then normalise in place
        clip = clip.permute(0, 3, 1, 2).contiguous().float()                      # (T, 3, h, w)
        return clip.sub_(self.mean).mul_(self.inv_std)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's augmentation in one epoch (see the module docstring)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, epoch, index])
