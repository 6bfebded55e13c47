"""Frames of one sample from its files: a folder of images (PNG/JPG) or a video file (mp4 etc.),
in natural order, decoded and resized (the packed cache is signkd/data/packed_cache.py, the
augmentation signkd/data/augment.py).

Why `FrameError`: a sample whose frames cannot be read (empty folder, undecodable image or video,
corrupt packed file) is the sample's fault, not the configuration's; `data.skip_bad` leaves such
samples out (recorded in the report) instead of stopping, whether found before training or mid-epoch.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from signkd.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


class FrameError(DataError):
    """The frames of one sample cannot be read: missing or empty folder, 0-byte or undecodable
    image, undecodable, truncated or 0-frame video, packed file missing or not matching its
    checksum. `file` names the file or folder at fault."""

    def __init__(self, message: str, file: str | Path = ""):
        super().__init__(message)
        self.file = str(file)


def _av_errors() -> tuple:
    """What PyAV raises for a file it cannot demux or decode (plus a missing video stream)."""
    import av

    return (av.error.FFmpegError, OSError, ValueError, IndexError, RuntimeError)


def natural_key(path: Path) -> list:
    """Sort key putting frame2 before frame10. On the whole path: inside one folder the order is
    the file names' own, and the files of a glob over several folders stay together, folder by
    folder (`recognize 'clips/**/*.png'`), instead of interleaving by file name."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def frame_files(folder: str | Path, pattern: str = "*.png") -> list[Path]:
    """Sorted frame files of `folder` (natural order: images2 < images10). FrameError if none, or
    if one is empty (a 0-byte file is what an interrupted copy or extraction leaves)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FrameError(f"{folder}: frame folder not found", folder)
    try:
        sized = [(p, p.stat().st_size) for p in folder.glob(pattern) if p.is_file()]
    except ValueError as exc:   # a pattern glob cannot use, e.g. 'a**'
        raise FrameError(f"{folder}: frame pattern {pattern!r}: {exc}", folder) from None
    except OSError as exc:
        raise FrameError(f"{folder}: cannot list frames ({exc.strerror})", folder) from None
    if not sized:
        raise FrameError(f"{folder}: no frames matching {pattern!r}", folder)
    empty = [p for p, size in sized if size == 0]
    if empty:
        raise FrameError(f"{empty[0]}: empty (0-byte) frame file", empty[0])
    return sorted((p for p, _ in sized), key=natural_key)


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


def error_text(exc: BaseException) -> str:
    """An exception as one short line (its message with the whitespace collapsed, or its type)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise FrameError(f"{path}: cannot decode image ({error_text(exc)})", path) from None


def check_image_header(path: Path) -> None:
    """Cheap check that `path` is an image PIL can read (format and size from the header only;
    the pixels are decoded when the frame is used)."""
    try:
        with Image.open(path) as img:
            if img.width < 1 or img.height < 1:
                raise ValueError(f"size {img.width}x{img.height}")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise FrameError(f"{path}: cannot decode image ({error_text(exc)})", path) from None


def read_video_file(path: str | Path, indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """Decode a video with PyAV -> (T, H, W, 3) uint8 RGB (only `indices` when given)."""
    import av  # imported here: only mp4 users pay for it

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except _av_errors() as exc:
        raise FrameError(f"{path}: cannot decode video ({error_text(exc)})", path) from None
    if not frames:
        raise FrameError(f"{path}: video has no frames (empty or truncated)", path)
    clip = np.stack(frames)
    if indices is None:
        return clip
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) and (indices.max() >= len(clip) or indices.min() < -len(clip)):
        raise FrameError(f"{path}: video decodes to {len(clip)} frames, frame {int(indices.max())} was asked for "
                         "(truncated, or its header counts more frames than it holds)", path)
    return clip[indices]


def count_video_frames(path: str | Path, *, check: bool = False) -> int:
    """Frames of a video: the container's count, or a full decode when it has none. `check`
    also decodes the first frame, a cheap test that the file is a decodable video."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = int(stream.frames or 0)
            if check:
                next(iter(container.decode(stream)))
    except StopIteration:
        raise FrameError(f"{path}: video has no frames (empty or truncated)", path) from None
    except _av_errors() as exc:
        raise FrameError(f"{path}: cannot decode video ({error_text(exc)})", path) from None
    return count if count > 0 else len(read_video_file(path))


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
    if indices is not None and len(indices) and max(indices) >= len(files):
        raise FrameError(f"{frames}: {len(files)} frames, frame {max(indices)} was asked for "
                         "(frames removed since the corpus was read?)", frames)
    chosen = files if indices is None else [files[i] for i in indices]
    clip = [resize_frame(read_image(p), size, keep_aspect) for p in chosen]
    shapes = {f.shape for f in clip}
    if len(shapes) > 1:
        raise DataError(f"{frames}: frames of different sizes {sorted(shapes)}; set data.augment.resize")
    return np.stack(clip)


def count_source_frames(frames: str | Path, pattern: str = "*.png", *, check: bool = False) -> int:
    """Frames of one sample. `check`: also the cheap checks `probe` makes before training (a
    video's first frame decodes; the first and last image headers are readable)."""
    video = video_file_of(frames, pattern)
    if video is not None:
        return count_video_frames(video, check=check)
    files = frame_files(frames, pattern)
    if check:
        for path in {files[0], files[-1]}:
            check_image_header(path)
    return len(files)
