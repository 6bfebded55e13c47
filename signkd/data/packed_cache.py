"""The packed cache written by `signkd prepare`, and `FrameSource`, which reads a sample's frames
from it when one is configured and from the original files otherwise.

Why a packed cache: decoding one PNG per frame makes training I/O bound (the peers report hours
per epoch from a hard disk). `signkd prepare` resizes every frame once and stores each video as
one file, listed with its shape and sha256 in ``manifest.json``: a ``(T, H, W, 3)`` uint8 ``.npy``
opened memory-mapped (store ``raw``), or its frames as JPEGs behind an offset index (store
``jpeg``, ~12 % of the bytes; see `signkd.data.frame_store`). The manifest records the store,
so a config reads either without a change. The writer is `signkd.data.cache_writer`.

Why the checksums are checked in training too: a flipped byte in a packed file would otherwise
train silently. Each entry is hashed before its first use in a process and remembered by its
file's (size, mtime, ctime, inode), in memory and in ``verified.jsonl`` beside the manifest, so
later epochs, DataLoader workers and later runs do not hash an unchanged file again (see
`PackedCache.check`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from signkd.atomic import sha256_file
from signkd.data.cache_manifest import (MANIFEST, VERIFIED, CacheEntry, cache_key, parse_entry, read_manifest,
                                        short, store_of, write_atomic)
from signkd.data.cache_writer import pack_videos
from signkd.data.frame_store import JpegClip
from signkd.data.video import FrameError, count_source_frames, error_text, read_source_frames
from signkd.errors import DataError

__all__ = ["FrameSource", "PackedCache", "cache_key", "pack_videos"]   # the writer, re-exported for its callers


def _signature(path: Path) -> tuple:
    """What must be unchanged for an earlier hash of `path` to stand. ctime moves on every write
    and cannot be set back by a user, and the inode changes when a file is replaced or unpacked
    elsewhere, so a record made for another file never matches this one."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class PackedCache:
    """Read side of the packed cache, either store. ``frames`` returns the (T, H, W, 3) uint8
    frames of a file whose checksum was checked (see `check`); ``load`` all of them (a read-only
    memory map for the raw store)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.manifest_path = self.root / MANIFEST
        if not path.is_file():
            raise DataError(f"{path}: no packed-cache manifest (run `signkd prepare` first or unset data.cache)")
        manifest = read_manifest(path)
        size, keep_aspect, videos = manifest.get("size", 0), manifest.get("keep_aspect", False), manifest.get("videos")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise DataError(f"{path}: size: expected a non-negative integer, got {short(size)!r}")
        if not isinstance(keep_aspect, bool):
            raise DataError(f"{path}: keep_aspect: expected true or false, got {short(keep_aspect)!r}")
        if not isinstance(videos, dict):
            raise DataError(f"{path}: videos: expected an object of key -> {{file, shape, sha256}}, "
                            f"got {type(videos).__name__}")
        self.size, self.keep_aspect = size, keep_aspect
        self.store, self.quality = store_of(path, manifest)
        self.entries = {k: parse_entry(path, k, v) for k, v in videos.items()}
        self._verified: dict[str, tuple] = {}   # file -> (signature, sha256) it was found good at
        self._record_at = (None, 0)   # (inode, offset) of verified.jsonl read so far

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def entry(self, key: str) -> CacheEntry:
        try:
            return self.entries[key]
        except KeyError:
            raise FrameError(f"{self.manifest_path}: video {key!r} is not in the packed cache; re-run `signkd prepare`",
                             self.manifest_path) from None

    def num_frames(self, key: str) -> int:
        return int(self.entry(key).shape[0])

    def _open(self, key: str) -> tuple[CacheEntry, "np.ndarray | JpegClip"]:
        """The entry and its file opened: a memory map (raw) or a checked .jpegs header (jpeg)."""
        entry = self.entry(key)
        path = self.root / entry.file
        try:
            opened = JpegClip(path) if self.store == "jpeg" else np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            raise FrameError(f"{path}: cannot read packed video {key!r} ({error_text(exc)}); re-run `signkd prepare`",
                             path) from None
        dtype = getattr(opened, "dtype", np.uint8)
        if tuple(opened.shape) != entry.shape or dtype != np.uint8:
            raise FrameError(f"{path}: shape {tuple(opened.shape)} {dtype}, manifest says {entry.shape} uint8; "
                             "re-run `signkd prepare`", path)
        return entry, opened

    def probe(self, key: str) -> int:
        """Frames of `key`, after the cheap checks made before training: listed, file present,
        header matching the manifest, at least one frame (the checksum is checked at first use)."""
        entry, _ = self._open(key)
        if entry.shape[0] == 0:
            raise FrameError(f"{self.root / entry.file}: packed video {key!r} has 0 frames", self.root / entry.file)
        return entry.shape[0]

    def load(self, key: str) -> np.ndarray:
        """All frames of `key` (T, H, W, 3) uint8."""
        return self.frames(key)

    def frames(self, key: str, indices: Optional[np.ndarray] = None) -> np.ndarray:
        """Frames `indices` of `key` (all when None), checksum checked first. The raw store gives
        a read-only memory map for all frames and a copy of the chosen ones; the jpeg store
        decodes only the chosen frames, each once."""
        self.check(key)
        entry, opened = self._open(key)
        if isinstance(opened, np.ndarray):
            return opened if indices is None else opened[np.asarray(indices)]
        try:
            return opened.read(indices)
        except (OSError, ValueError) as exc:
            path = self.root / entry.file
            raise FrameError(f"{path}: cannot decode packed video {key!r} ({error_text(exc)}); "
                             "re-run `signkd prepare`", path) from None

    def check(self, key: str, *, force: bool = False) -> Path:
        """The path of `key`'s file once its sha256 matches the manifest (FrameError otherwise).
        Hashed at most once per unchanged file: the result is remembered by `_signature` in memory
        and in verified.jsonl, and counts only while the signature and the manifest's checksum are
        the same, so a changed file, a re-packed cache or a record from another machine is hashed
        again. `force`: hash even so (`signkd prepare --verify`)."""
        entry = self.entry(key)
        path = self.root / entry.file
        try:
            before = _signature(path)
        except OSError as exc:
            raise FrameError(f"{path}: packed video {key!r} cannot be read ({exc.strerror}); re-run `signkd prepare`",
                             path) from None
        if not force:
            if self._verified.get(entry.file) != (before, entry.sha256):
                self._read_record()   # another worker, rank or run may have hashed it since
            if self._verified.get(entry.file) == (before, entry.sha256):
                return path
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise FrameError(f"{path}: packed video {key!r} cannot be read ({exc.strerror})", path) from None
        if digest != entry.sha256:
            raise FrameError(f"{path}: packed video {key!r} does not match its sha256 in {self.manifest_path} "
                             "(corrupt, or changed since `signkd prepare`); re-run `signkd prepare`", path)
        try:
            after = _signature(path)
        except OSError:
            after = None
        if after == before:   # not written to while it was hashed
            self._verified[entry.file] = (before, entry.sha256)
            self._append_record(entry.file, before, entry.sha256)
        return path

    def verify(self, keys: Optional[Iterable[str]] = None) -> list[str]:
        """Keys whose file is missing or whose checksum differs from the manifest (all hashed)."""
        bad = []
        for key in (self.entries if keys is None else keys):
            try:
                self.check(key, force=True)
            except FrameError:
                bad.append(key)
        return bad

    # --- the record of verified files (verified.jsonl, one JSON object per line)
    def _read_record(self) -> None:
        """Merge what was appended to verified.jsonl since the last call (all of it after a
        compaction replaced the file). Lines that do not parse are ignored: they can only cost
        a hash, since a record must match the file to count."""
        path = self.root / VERIFIED
        try:
            with open(path, "rb") as fh:
                inode = os.fstat(fh.fileno()).st_ino
                start = self._record_at[1] if self._record_at[0] == inode else 0
                fh.seek(start)
                raw = fh.read(64 << 20)
        except OSError:
            return
        complete = raw[: raw.rfind(b"\n") + 1]   # a line still being appended is read next time
        self._record_at = (inode, start + len(complete))
        lines = complete.splitlines()
        for line in lines:
            try:
                rec = json.loads(line)
                file, sig, sha = rec["file"], tuple(rec["sig"]), rec["sha256"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(file, str) and isinstance(sha, str) and len(sig) == 5 and all(type(n) is int for n in sig):
                self._verified[file] = (sig, sha)
        if start == 0 and len(lines) > 2 * len(self.entries) + 64:
            self._compact()

    def _append_record(self, file: str, sig: tuple, sha: str) -> None:
        """One line per verified file, one write(2) on an O_APPEND descriptor, so DataLoader
        workers and DDP ranks can add lines at once. A read-only cache keeps them in memory;
        O_NOFOLLOW: a verified.jsonl shipped as a symlink is not written through."""
        line = json.dumps({"file": file, "sig": list(sig), "sha256": sha}) + "\n"
        try:
            fd = os.open(self.root / VERIFIED, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                         0o644)
        except OSError:
            return
        try:
            os.write(fd, line.encode("utf-8"))
        except OSError:
            pass
        finally:
            os.close(fd)

    def _compact(self) -> None:
        """Rewrite verified.jsonl with one line per listed file (temp file + rename)."""
        lines = [json.dumps({"file": f, "sig": list(sig), "sha256": sha}) + "\n"
                 for f, (sig, sha) in sorted(self._verified.items()) if f in {e.file for e in self.entries.values()}]
        try:
            write_atomic(self.root / VERIFIED, "".join(lines).encode("utf-8"))
        except DataError:   # a read-only cache: verification is only remembered where it can be
            pass


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

    def probe(self, key: str, frames: str, pattern: str) -> int:
        """`num_frames` after the cheap checks made before training starts: a packed file's
        header, a video's first frame, the first and last image of a folder. Decoding every
        frame of a corpus up front would take longer than an epoch; what only a full decode
        finds (a corrupt middle frame, a checksum mismatch) is a FrameError at first use."""
        if self.cache is not None:
            raw = self.cache.probe(key)
        else:
            raw = count_source_frames(frames, pattern, check=True)
        return (raw + self.frame_interval - 1) // self.frame_interval

    def read(self, key: str, frames: str, pattern: str, indices: Optional[np.ndarray] = None) -> np.ndarray:
        """(T, H, W, 3) uint8; `indices` index the frames left after `frame_interval`."""
        if self.cache is not None:
            picked = None   # every frame
            if self.frame_interval > 1 or indices is not None:
                picked = np.arange(0, self.cache.num_frames(key), self.frame_interval)
                picked = picked if indices is None else picked[np.asarray(indices)]
            # copies only the kept frames out of the memory map / decodes only those JPEGs
            return np.ascontiguousarray(self.cache.frames(key, picked))
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
