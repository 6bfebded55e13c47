"""The samples a run left out, in one JSON file in its work dir (`data_report.json`).

Why one file, merged by split: annotation problems are found when a split is read, frame problems
when the frames are probed before training or met mid-epoch (on any DDP rank), and `signkd test`
later reads dev/test into the same work dir. Each fresh reading of a split replaces that split's
records, records found mid-run are added to them, and every change is a locked read-modify-write
with an atomic rename, so a reader never sees half a file and concurrent writers lose nothing.
Format: {"skipped": n, "samples": [{split, id, file, line, reason}, ...]}.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Optional

from signkd.errors import DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, the rename still keeps the file whole
    fcntl = None

REPORT_NAME = "data_report.json"


def skip_record(split: str, sample_id: str, file: str, line, reason: str) -> dict:
    """One left-out sample; `line` is the annotation line (None for frame problems)."""
    return {"split": split, "id": sample_id, "file": str(file), "line": line, "reason": reason}


def record_line(record: dict) -> str:
    """A record as a line of the human-readable data_report.txt."""
    where = record.get("file", "")
    if record.get("line") not in (None, ""):
        where = f"{where}:{record['line']}"
    return f"{record.get('split', '')}/{record.get('id', '')}: left out ({where}): {record.get('reason', '')}"


class SkipReport:
    """`data_report.json` of one work dir. Cheap to pickle (a path), so datasets can carry it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> list[dict]:
        """The records in the file ([] when there is none or it is not a report)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        samples = data.get("samples") if isinstance(data, dict) else None
        return [r for r in samples if isinstance(r, dict)] if isinstance(samples, list) else []

    def replace_split(self, split: str, records: list[dict]) -> None:
        """A fresh reading of `split`: its records replace that split's old ones. A split with
        nothing left out writes only when the file already exists (to clear old records)."""
        if not records and not self.path.is_file():
            return
        self._update(lambda old: [r for r in old if r.get("split") != split] + list(records))

    def add(self, records: Iterable[dict]) -> None:
        """Records found mid-run (each kept once)."""
        records = list(records)
        if records:
            self._update(lambda old: old + [r for i, r in enumerate(records) if r not in old and r not in records[:i]])

    @contextmanager
    def _locked(self):
        lock_path = self.path.with_name(self.path.name + ".lock")
        if fcntl is None:
            yield
            return
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _update(self, change: Callable[[list[dict]], list[dict]]) -> None:
        tmp: Optional[Path] = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                records = change(self.read())
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"skipped": len(records), "samples": records}, indent=2,
                                          ensure_ascii=False) + "\n", encoding="utf-8")
                os.replace(tmp, self.path)
                tmp = None
        except OSError as exc:
            raise DataError(f"{self.path}: cannot write the data report ({exc.strerror or exc})") from None
        finally:
            if tmp is not None and tmp.exists():
                tmp.unlink()
