"""The clips a user gives `signkd recognize`: video files, frame folders and globs of frame
images, resolved to `ClipSource`s, and `FrameReader`, which streams a clip's frames one at a time
so a long video is never held in memory.

Why here and not in signkd.data: a corpus names its clips in annotation files, a user on the
command line; only the decoders (`signkd.data.video`) are shared, so both see the same pixels.
"""
from __future__ import annotations

import glob as globlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from signkd.errors import DataError

DEFAULT_FPS = 25.0          # PHOENIX frame rate; frame folders carry no rate of their own


@dataclass
class ClipSource:
    """One clip to recognise: a video file, or an ordered list of frame image files."""
    name: str
    video: Optional[Path] = None
    images: list[Path] = field(default_factory=list)


def _is_image(path: Path) -> bool:
    from signkd.data.video import IMAGE_SUFFIXES
    return path.suffix.lower() in IMAGE_SUFFIXES


def _is_video(path: Path) -> bool:
    from signkd.data.video import VIDEO_SUFFIXES
    return path.suffix.lower() in VIDEO_SUFFIXES


def _folder_source(folder: Path) -> ClipSource:
    """A folder of frames (the first image suffix present, natural order), or a folder holding
    exactly one video file (the synthetic corpus's mp4 layout)."""
    from signkd.data.video import IMAGE_SUFFIXES, frame_files

    for suffix in IMAGE_SUFFIXES:
        for pattern in (f"*{suffix}", f"*{suffix.upper()}"):
            if any(folder.glob(pattern)):
                return ClipSource(str(folder), images=frame_files(folder, pattern))
    videos = sorted(p for p in folder.iterdir() if p.is_file() and _is_video(p))
    if len(videos) == 1:
        return ClipSource(str(folder), video=videos[0])
    raise DataError(f"{folder}: no frame images ({', '.join(IMAGE_SUFFIXES)}) and not exactly one video file")


def resolve_inputs(inputs: Sequence[str]) -> list[ClipSource]:
    """INPUT arguments -> clips. Each is a video file, a frame folder or a (quoted) glob of
    frame images. Image files given one by one (a glob the shell expanded) are taken, in natural
    order, as the frames of one clip, so `recognize ckpt frames/*.png` does what it looks like."""
    from signkd.data.video import natural_key

    clips: list[ClipSource] = []
    loose: list[Path] = []

    def flush() -> None:
        if loose:
            name = str(loose[0].parent / "*") if len({p.parent for p in loose}) == 1 else str(loose[0])
            clips.append(ClipSource(name, images=sorted(loose, key=natural_key)))
            loose.clear()

    for text in inputs:
        path = Path(text)
        if any(ch in text for ch in "*?["):
            flush()
            files = sorted((Path(p) for p in globlib.glob(text, recursive=True)), key=natural_key)
            images = [p for p in files if p.is_file() and _is_image(p)]
            if not images:
                raise DataError(f"{text}: the glob matches no frame images")
            clips.append(ClipSource(text, images=images))
        elif path.is_dir():
            flush()
            clips.append(_folder_source(path))
        elif path.is_file() and _is_image(path):
            loose.append(path)
        elif path.is_file():
            flush()
            clips.append(ClipSource(text, video=path))   # any other file: let the decoder judge
        else:
            raise DataError(f"{text}: no such video file, frame folder or glob")
    flush()
    return clips


class FrameReader:
    """Streams a clip's raw frames as (H, W, 3) uint8 RGB, one at a time, so a long video is
    never held in memory. Decoding mirrors `signkd.data.video.read_video_file` (PyAV, first video
    stream, rgb24; tests check both give the same frames) and `read_image` for images."""

    def __init__(self, source: ClipSource, default_fps: float = DEFAULT_FPS):
        self.source = source
        self.fps = float(default_fps)
        self.frames_read = 0
        self._container = None
        if source.video is not None:
            self._open_video(source.video)

    def _open_video(self, path: Path) -> None:
        import av

        try:
            self._container = av.open(str(path))
            stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError, UnicodeDecodeError) as exc:
            self.close()
            reason = "no video stream" if isinstance(exc, IndexError) else str(exc).splitlines()[0][:120]
            raise DataError(f"{path}: cannot decode video ({reason})") from None
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        if rate and float(rate) > 0:
            self.fps = float(rate)
        self._stream = stream

    def __iter__(self) -> Iterator[np.ndarray]:
        from signkd.data.video import read_image

        if self.source.video is None:
            for path in self.source.images:
                self.frames_read += 1
                yield read_image(path)
            return
        import av

        try:
            for frame in self._container.decode(self._stream):
                self.frames_read += 1
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise DataError(f"{self.source.video}: cannot decode video ({str(exc).splitlines()[0][:120]})") from None
        finally:
            self.close()
        if self.frames_read == 0:
            raise DataError(f"{self.source.video}: video has no frames")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
