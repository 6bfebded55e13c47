"""The packed cache written by `signkd prepare`, and `FrameSource`, which reads a sample's frames
from it when one is configured and from the original files otherwise.

Why a packed cache: decoding one PNG per frame makes training I/O bound (the peers report hours
per epoch from a hard disk). `signkd prepare` resizes every frame once and stores each video as
one ``(T, H, W, 3)`` uint8 ``.npy`` file, listed with its shape and sha256 in ``manifest.json``.
Training opens those files memory-mapped and touches only the frames it keeps.

Why the checksums are checked in training too: a flipped byte in a packed file would otherwise
train silently. Each entry is hashed before its first use in a process and remembered by its
file's (size, mtime, ctime, inode), in memory and in ``verified.jsonl`` beside the manifest, so
later epochs, DataLoader workers and later runs do not hash an unchanged file again (see
`PackedCache.check`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from signkd.atomic import sha256_file
from signkd.data.names import unsafe_relative_path
from signkd.data.video import FrameError, count_source_frames, error_text, read_source_frames
from signkd.errors import DataError, printable

MANIFEST = "manifest.json"
VERIFIED = "verified.jsonl"
CACHE_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


# --------------------------------------------------------------------------------------------
# Packed cache: one (T, H, W, 3) uint8 .npy per video + manifest.json with shapes and sha256
# --------------------------------------------------------------------------------------------

def cache_key(split: str, sample_id: str) -> str:
    """Manifest key of a video: `<split>/<id>` (ids are only unique within a split in general)."""
    return f"{split}/{sample_id}"


def _safe_name(key: str) -> str:
    """A relative file name for a manifest key. Keys hold ids from annotation files, so every
    component keeps only [A-Za-z0-9._-] and none may be empty, '.' or '..'."""
    parts = [re.sub(r"[^A-Za-z0-9._-]", "_", part) for part in re.split(r"[/\\]+", key) if part]
    parts = [("_" * len(part)) if part in (".", "..") else part for part in parts]
    return "/".join(parts) or "_"


def _unsafe_file(name: str) -> str:
    """Why a manifest's `file` cannot be read below the cache folder ("" if it can)."""
    return "is empty" if not name.strip() else unsafe_relative_path(name)


def _printable(text: object) -> str:
    return printable(text, limit=80)


@dataclass
class CacheEntry:
    file: str
    shape: tuple
    sha256: str


def _parse_entry(manifest: Path, key: str, value) -> CacheEntry:
    """One `videos` entry of a manifest, checked; a one-line DataError naming the key otherwise."""
    where = f"{manifest}: videos[{_printable(key)!r}]"
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected an object with file, shape and sha256, got {type(value).__name__}")
    missing = [k for k in ("file", "shape", "sha256") if k not in value]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}; re-run `signkd prepare`")
    file, shape, sha = value["file"], value["shape"], value["sha256"]
    if not isinstance(file, str):
        raise DataError(f"{where}.file: expected a file name below the cache folder, got {type(file).__name__}")
    if _unsafe_file(file):
        raise DataError(f"{where}.file {_printable(file)!r} {_unsafe_file(file)}; "
                        "expected a file name below the cache folder")
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape) or shape[3] != 3):
        raise DataError(f"{where}.shape: expected 4 non-negative integers [frames, height, width, 3], "
                        f"got {_printable(shape)}")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise DataError(f"{where}.sha256: expected 64 lowercase hex digits, got {_printable(sha)!r}")
    return CacheEntry(file, tuple(shape), sha)


def _read_manifest(path: Path) -> dict:
    """manifest.json, checked to be a JSON object of the current version (one-line DataError)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: expected a JSON object with version, size, keep_aspect and videos, "
                        f"got {type(manifest).__name__}")
    if manifest.get("version") != CACHE_VERSION:
        raise DataError(f"{path}: cache version {_printable(manifest.get('version'))!r}, expected {CACHE_VERSION}; "
                        "re-run `signkd prepare`")
    return manifest


def _signature(path: Path) -> tuple:
    """What must be unchanged for an earlier hash of `path` to stand. ctime moves on every write
    and cannot be set back by a user, and the inode changes when a file is replaced or unpacked
    elsewhere, so a record made for another file never matches this one."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class PackedCache:
    """Read side of the packed cache. ``load`` returns a read-only memory map (T, H, W, 3) of a
    file whose checksum was checked (see `check`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.manifest_path = self.root / MANIFEST
        if not path.is_file():
            raise DataError(f"{path}: no packed-cache manifest (run `signkd prepare` first or unset data.cache)")
        manifest = _read_manifest(path)
        size, keep_aspect, videos = manifest.get("size", 0), manifest.get("keep_aspect", False), manifest.get("videos")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise DataError(f"{path}: size: expected a non-negative integer, got {_printable(size)!r}")
        if not isinstance(keep_aspect, bool):
            raise DataError(f"{path}: keep_aspect: expected true or false, got {_printable(keep_aspect)!r}")
        if not isinstance(videos, dict):
            raise DataError(f"{path}: videos: expected an object of key -> {{file, shape, sha256}}, "
                            f"got {type(videos).__name__}")
        self.size, self.keep_aspect = size, keep_aspect
        self.entries = {k: _parse_entry(path, k, v) for k, v in videos.items()}
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

    def _open(self, key: str) -> tuple[CacheEntry, np.ndarray]:
        entry = self.entry(key)
        path = self.root / entry.file
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            raise FrameError(f"{path}: cannot read packed video {key!r} ({error_text(exc)}); re-run `signkd prepare`",
                             path) from None
        if tuple(array.shape) != entry.shape or array.dtype != np.uint8:
            raise FrameError(f"{path}: shape {tuple(array.shape)} {array.dtype}, manifest says {entry.shape} uint8; "
                             "re-run `signkd prepare`", path)
        return entry, array

    def probe(self, key: str) -> int:
        """Frames of `key`, after the cheap checks made before training: listed, file present,
        header matching the manifest, at least one frame (the checksum is checked at first use)."""
        entry, _ = self._open(key)
        if entry.shape[0] == 0:
            raise FrameError(f"{self.root / entry.file}: packed video {key!r} has 0 frames", self.root / entry.file)
        return entry.shape[0]

    def load(self, key: str) -> np.ndarray:
        self.check(key)
        return self._open(key)[1]

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
            _write_atomic(self.root / VERIFIED, "".join(lines).encode("utf-8"))
        except OSError:
            pass


def _open_new(path: Path):
    """A fresh file at `path` for writing: whatever is there (a stale temp file, or a symlink
    planted in a downloaded cache) is removed first and never written through."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    return os.fdopen(fd, "wb")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with _open_new(tmp) as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _previous_entries(manifest_path: Path, size: int, keep_aspect: bool) -> dict:
    """Entries of an earlier manifest packed with the same settings (those that check out), so a
    re-run keeps what is already packed; anything unreadable is simply packed again."""
    try:
        prev = _read_manifest(manifest_path)
    except DataError:
        return {}
    if prev.get("size") != size or prev.get("keep_aspect") != keep_aspect or not isinstance(prev.get("videos"), dict):
        return {}
    old = {}
    for key, value in prev["videos"].items():
        try:
            old[key] = _parse_entry(manifest_path, key, value)
        except DataError:
            continue
    return old


def pack_videos(items: Sequence[tuple[str, str, str]], out_dir: str | Path, *, size: int = 256,
                keep_aspect: bool = False, progress: bool = True,
                on_error: Optional[Callable[[str, FrameError], None]] = None) -> Path:
    """Write the packed cache for `items` = [(key, frames_path, frame_glob)]. Videos already
    packed with the same settings and a matching checksum are kept (so a re-run resumes).
    Every file is written to a temp name and renamed; the manifest is written last.
    A video whose frames cannot be read raises a FrameError naming it, or, with `on_error`,
    is passed to it and left out of the cache."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    real_out = out.resolve()
    manifest_path = out / MANIFEST
    old = _previous_entries(manifest_path, size, keep_aspect) if manifest_path.is_file() else {}
    videos = {}
    used: set[str] = set()
    total_frames = 0
    bar = tqdm(items, desc=f"packing {out}", unit="video", disable=not progress)
    for key, frames, pattern in bar:
        name = _safe_name(key) + ".npy"
        if name in used:   # two keys that differ only in characters _safe_name replaces
            name = f"{_safe_name(key)}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:10]}.npy"
        used.add(name)
        path = out / name
        prev = old.get(key)
        if prev and prev.file == name and path.is_file() and sha256_file(path) == prev.sha256:
            videos[key] = {"file": prev.file, "shape": list(prev.shape), "sha256": prev.sha256}
            total_frames += prev.shape[0]
            continue
        try:
            clip = read_source_frames(frames, pattern, size=size, keep_aspect=keep_aspect)
        except FrameError as exc:
            if on_error is None:
                raise FrameError(f"video {key!r}: {exc}", exc.file) from None
            on_error(key, exc)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.parent.resolve().is_relative_to(real_out):   # a symlinked folder inside `out`
            raise DataError(f"{path.parent}: leads outside the cache folder {out}; remove it and re-run")
        tmp = path.with_name(path.name + ".tmp")
        with _open_new(tmp) as fh:
            np.save(fh, np.ascontiguousarray(clip, dtype=np.uint8))
        os.replace(tmp, path)
        videos[key] = {"file": name, "shape": list(clip.shape), "sha256": sha256_file(path)}
        total_frames += clip.shape[0]
        bar.set_postfix(frames=total_frames, refresh=False)   # redrawn at tqdm's own pace
    manifest = {"version": CACHE_VERSION, "size": size, "keep_aspect": keep_aspect,
                "videos": videos, "total_frames": total_frames}
    _write_atomic(manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
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
