"""Frame writers of the synthetic corpus: reproducible PNG files and lossless mp4 videos."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from signkd.errors import DataError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(frame: np.ndarray, compress_level: int) -> bytes:
    """A minimal RGB8 PNG (IHDR, one IDAT, IEND; no timestamps or metadata, so it is reproducible).

    Why not Pillow: its per-call overhead made PNG writing 6x slower than rendering the frames;
    the format is tiny and Pillow (or any decoder) reads these files back unchanged (tested).
    """
    h, w, _ = frame.shape
    raw = np.empty((h, w * 3 + 1), dtype=np.uint8)
    raw[:, 0] = 0                                   # filter type "none" on every row
    raw[:, 1:] = frame.reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + _png_chunk(b"IEND", b""))


def write_png_folder(frames: np.ndarray, folder: Path, compress_level: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames, start=1):
        (folder / f"images{t:04d}.png").write_bytes(png_bytes(frame, compress_level))


MP4_CODECS = (  # (codec, pixel format, options): the first this PyAV build has
    ("libx264rgb", "rgb24", {"crf": "0", "preset": "medium"}),   # lossless RGB H.264: frames == PNG frames
    ("libx264", "yuv444p", {"crf": "0", "preset": "medium"}),    # lossless in YUV (rounding only)
    ("mpeg4", "yuv420p", {"qscale": "1"}),                        # lossy fallback
)


def mp4_codec() -> tuple[str, str, dict]:
    """The video codec used for `--format mp4` (see MP4_CODECS)."""
    import av
    for name, pix_fmt, options in MP4_CODECS:
        try:
            av.codec.Codec(name, "w")
            return name, pix_fmt, options
        except Exception:  # noqa: BLE001 - PyAV raises different types across versions
            continue
    raise DataError("mp4: this PyAV build has none of libx264rgb, libx264, mpeg4; use --format png")


def write_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """One video file. Lossless H.264 is used because lossy x264 output differed between runs here
    (and would blur the one-pixel cue); single-threaded so the bytes are reproducible."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    codec, pix_fmt, options = mp4_codec()
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = pix_fmt
        video.codec_context.thread_count = 1
        video.options = dict(options)
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
