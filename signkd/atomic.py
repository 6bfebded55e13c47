"""Atomic file writes (a temp file beside the target, flushed to disk, then renamed over it), and
the content hash every reader of a result file uses (cache checksums, pipeline fingerprints,
imported checkpoints).

Why one helper: a checkpoint, a metrics file or an exported model that a kill or a full disk
cuts in half must never replace a good one, and no half-written temp file may be left behind.
Every writer of a result file goes through `atomic_write`, so that rule is written once.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Callable

from signkd.errors import SignkdError


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, error: type = SignkdError,
                 what: str = "file") -> Path:
    """Call `write(fh)` on a temp file beside `path`, then rename it to `path`. An OSError (disk
    full, read-only folder, a file where the folder should be) becomes one `error` line naming
    `path`; whatever fails, the old `path` is untouched and the temp file is gone."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_new(tmp) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise error(f"{path}: cannot write the {what} ({exc.strerror or exc})") from None
    except BaseException:
        _discard(tmp)
        raise
    return path


def open_new(path: str | Path) -> BinaryIO:
    """A fresh file at `path` for writing: whatever is there (a stale temp file, or a symlink
    planted in a downloaded cache or run folder) is removed first and never written through."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    # "x": O_CREAT | O_EXCL; opened by name, so the file object's .name is the path (onnx.save reads it)
    return open(path, "xb", opener=lambda name, flags: os.open(name, flags | getattr(os, "O_NOFOLLOW", 0), 0o644))


def atomic_write_text(path: str | Path, text: str, *, error: type = SignkdError, what: str = "file") -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), error=error, what=what)


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:   # the folder itself is missing or not writable: nothing was left behind
        pass


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (checkpoints and packed videos are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
