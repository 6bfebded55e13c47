"""manifest.json of the packed cache: its keys, file names and checked entries, shared by the
writer (`signkd.data.cache_writer`) and the reader (`signkd.data.packed_cache`).

Why checked here: a manifest may come from a download, so every `file` must stay below the cache
folder and every field has the type the reader relies on; a bad one is a one-line DataError
naming the key.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from signkd.atomic import atomic_write
from signkd.data.frame_store import STORES
from signkd.data.names import unsafe_relative_path
from signkd.errors import DataError, printable

MANIFEST = "manifest.json"
VERIFIED = "verified.jsonl"
CACHE_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_key(split: str, sample_id: str) -> str:
    """Manifest key of a video: `<split>/<id>` (ids are only unique within a split in general)."""
    return f"{split}/{sample_id}"


def safe_file_name(key: str) -> str:
    """A relative file name (no suffix) for a manifest key. Keys hold ids from annotation files, so
    every component keeps only [A-Za-z0-9._-] and none may be empty, '.' or '..'."""
    parts = [re.sub(r"[^A-Za-z0-9._-]", "_", part) for part in re.split(r"[/\\]+", key) if part]
    parts = [("_" * len(part)) if part in (".", "..") else part for part in parts]
    return "/".join(parts) or "_"


def unsafe_file(name: str) -> str:
    """Why a manifest's `file` cannot be read below the cache folder ("" if it can)."""
    return "is empty" if not name.strip() else unsafe_relative_path(name)


def short(text: object) -> str:
    return printable(text, limit=80)


@dataclass
class CacheEntry:
    file: str
    shape: tuple
    sha256: str

    def to_json(self) -> dict:
        return {"file": self.file, "shape": list(self.shape), "sha256": self.sha256}


def parse_entry(manifest: Path, key: str, value) -> CacheEntry:
    """One `videos` entry of a manifest, checked; a one-line DataError naming the key otherwise."""
    where = f"{manifest}: videos[{short(key)!r}]"
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected an object with file, shape and sha256, got {type(value).__name__}")
    missing = [k for k in ("file", "shape", "sha256") if k not in value]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}; re-run `signkd prepare`")
    file, shape, sha = value["file"], value["shape"], value["sha256"]
    if not isinstance(file, str):
        raise DataError(f"{where}.file: expected a file name below the cache folder, got {type(file).__name__}")
    if unsafe_file(file):
        raise DataError(f"{where}.file {short(file)!r} {unsafe_file(file)}; "
                        "expected a file name below the cache folder")
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape) or shape[3] != 3):
        raise DataError(f"{where}.shape: expected 4 non-negative integers [frames, height, width, 3], "
                        f"got {short(shape)}")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise DataError(f"{where}.sha256: expected 64 lowercase hex digits, got {short(sha)!r}")
    return CacheEntry(file, tuple(shape), sha)


def read_manifest(path: Path) -> dict:
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
        raise DataError(f"{path}: cache version {short(manifest.get('version'))!r}, expected {CACHE_VERSION}; "
                        "re-run `signkd prepare`")
    return manifest


def store_of(path: Path, manifest: dict) -> tuple[str, int]:
    """(store, quality) a manifest was packed with; a manifest without `store` is the raw one
    (every cache written before the compressed store existed)."""
    store, quality = manifest.get("store", "raw"), manifest.get("quality", 0)
    if store not in STORES:
        raise DataError(f"{path}: store: expected one of {', '.join(STORES)}, got {short(store)!r}; "
                        "re-run `signkd prepare`")
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        raise DataError(f"{path}: quality: expected an integer 0..100, got {short(quality)!r}")
    return store, quality


def write_atomic(path: Path, data: bytes) -> None:
    """`data` to `path` through signkd.atomic (a temp file opened without following links, then
    renamed): a write that fails is one DataError line naming `path`."""
    atomic_write(path, lambda fh: fh.write(data), error=DataError, what="cache file")
