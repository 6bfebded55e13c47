"""How one video's frames are stored in the packed cache: ``raw`` (one (T, H, W, 3) uint8 .npy,
read memory-mapped) or ``jpeg`` (every frame a JPEG, back to back in one ``.jpegs`` file behind
an offset index, so any frame is decoded without touching the others).

Why JPEG and not one H.264 stream per video (measured on this project's 256 px frames, docs/scale.md):
JPEG at quality 90 with 4:2:0 chroma is ~12 % of the raw bytes and libjpeg-turbo (simplejpeg)
decodes 2,000-3,000 frames per CPU second, fast enough that the whole training pipeline stays
above 2,000 frames/s per worker. H.264 (libx264 through PyAV, crf 23) is smaller (~3 %) but
decoded 800-1,600 frames per CPU second, too few once crop and normalisation are added, encoded
~25x slower, and must decode a clip from its start to reach a frame the temporal rescale keeps.

``.jpegs`` layout, little-endian: ``SKDJPEG1``, uint32 frames T, height, width, 0; uint64
offsets[T + 1] from the start of the file (offsets[T] = the file's size); the JPEGs.
"""
from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Optional

import numpy as np

STORES = ("raw", "jpeg")
SUFFIX = {"raw": ".npy", "jpeg": ".jpegs"}
DEFAULT_QUALITY = 90
JPEG_MAGIC = b"SKDJPEG1"
_HEAD = struct.Struct("<8sIIII")


def _simplejpeg():
    """libjpeg-turbo through simplejpeg when installed (about twice PIL's decode rate measured
    here, same pixels: both are libjpeg-turbo with the same defaults), else None (PIL is used)."""
    try:
        import simplejpeg
    except ImportError:
        return None
    return simplejpeg


def jpeg_codec() -> str:
    """Which JPEG codec this process uses (benchmarks print it)."""
    return "simplejpeg (libjpeg-turbo)" if _simplejpeg() is not None else "PIL"


def encode_frame(frame: np.ndarray, quality: int) -> bytes:
    """(H, W, 3) uint8 -> JPEG bytes, 4:2:0 chroma."""
    fast = _simplejpeg()
    if fast is not None:
        return fast.encode_jpeg(np.ascontiguousarray(frame), quality=quality, colorspace="RGB",
                                colorsubsampling="420")
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format="JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


def encode_clip(clip: np.ndarray, store: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """The bytes of one stored video: clip (T, H, W, 3) uint8."""
    clip = np.ascontiguousarray(clip, dtype=np.uint8)
    if store == "raw":
        buf = io.BytesIO()
        np.save(buf, clip)
        return buf.getvalue()
    if store != "jpeg":
        raise ValueError(f"unknown store {store!r}; expected one of {', '.join(STORES)}")
    t, h, w, _ = clip.shape
    frames = [encode_frame(f, quality) for f in clip]
    start = _HEAD.size + 8 * (t + 1)
    offsets = np.cumsum([start] + [len(f) for f in frames], dtype=np.uint64)
    return b"".join([_HEAD.pack(JPEG_MAGIC, t, h, w, 0), offsets.astype("<u8").tobytes(), *frames])


class JpegClip:
    """The header of a ``.jpegs`` file, checked against its size; `read` decodes frames."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as fh:
            head = fh.read(_HEAD.size)
            if len(head) < _HEAD.size:
                raise ValueError(f"{len(head)} bytes, shorter than a header")
            magic, t, h, w, _ = _HEAD.unpack(head)
            if magic != JPEG_MAGIC:
                raise ValueError("not a jpeg frame file (bad magic)")
            table = fh.read(8 * (t + 1))
            size = fh.seek(0, io.SEEK_END)
        if len(table) < 8 * (t + 1):
            raise ValueError(f"truncated offset index ({len(table)} of {8 * (t + 1)} bytes)")
        self.offsets = np.frombuffer(table, dtype="<u8").astype(np.int64)
        if (self.offsets[0] != _HEAD.size + 8 * (t + 1) or np.any(np.diff(self.offsets) <= 0)
                or self.offsets[-1] != size):
            raise ValueError(f"offset index does not match the file's {size} bytes (truncated or appended to)")
        self.shape = (t, h, w, 3)

    def read(self, indices: Optional[np.ndarray] = None) -> np.ndarray:
        """(len(indices), H, W, 3) uint8; a frame asked for twice is decoded once."""
        t, h, w, _ = self.shape
        wanted = np.arange(t) if indices is None else np.asarray(indices, dtype=np.int64)
        unique, inverse = np.unique(wanted, return_inverse=True)
        if len(unique) and (unique[0] < -t or unique[-1] >= t):
            raise IndexError(f"frame {int(unique[-1])} asked for, the file holds {t}")
        unique = unique % t if len(unique) else unique
        data = memoryview(self.path.read_bytes())
        out = np.empty((len(unique), h, w, 3), dtype=np.uint8)
        fast = _simplejpeg()
        for k, i in enumerate(unique):
            jpeg = data[self.offsets[i]: self.offsets[i + 1]]
            if fast is not None:
                frame = fast.decode_jpeg(jpeg, colorspace="RGB")
            else:
                from PIL import Image

                with Image.open(io.BytesIO(jpeg)) as img:
                    frame = np.asarray(img.convert("RGB"))
            if frame.shape != (h, w, 3):
                raise ValueError(f"frame {int(i)} decodes to {frame.shape}, the header says {(h, w, 3)}")
            out[k] = frame
        return out if indices is None else out[inverse.reshape(-1)]


def bytes_per_frame(store: str, height: int, width: int, sample_jpeg_bytes: float = 0.0) -> float:
    """What one frame costs on disk: exact for raw, the measured mean of sample frames for jpeg
    (plus its 8-byte index slot)."""
    return float(height * width * 3) if store == "raw" else sample_jpeg_bytes + 8.0


def header_bytes(store: str) -> int:
    """Per-video overhead: the .npy header (128 bytes) or the .jpegs header and last offset."""
    return 128 if store == "raw" else _HEAD.size + 8
