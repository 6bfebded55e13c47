"""A run's directory is its own: one trainer at a time, no finished run silently overwritten, no
silent config change on `--resume`, and a work dir that cannot be used is one line, not a traceback.

Why each rule:
- **The lock** (`fcntl.flock` on `WORK_DIR/.signkd.lock`, non-blocking): two trainings writing one
  folder interleave their checkpoints, logs and hypotheses, and one of them dies mid-run. flock
  belongs to the open file, so the kernel drops it when the holder closes it or dies in any way
  (kill -9 included): a lock can never go stale, and the file itself is left in place on purpose
  (deleting it on release would let a third process lock a new file while a second still holds
  the old one). The holder writes its pid, host and start time into it for the refusal message.
  DataLoader workers forked while it is held share the lock; they end with their epoch or with
  their parent. Only rank 0 locks under DDP; every rank learns its verdict (see `claim`).
- **What counts as a run** (`previous_run`): any entry of the work dir other than the lock file and
  the two files `signkd run` keeps in a stage's work dir beside the run (its record of the stage
  and the stage's console log, signkd/pipeline/), so a stage's first training needs no --force.
  A run writes many files (checkpoints, logs, hypotheses, tokenizer, TensorBoard events) and a
  half-started one may have written only some of them; an allow-list of "harmless" names would
  have to follow every new output, and would let a new run mix its train.log and hypotheses with
  an older one's. An empty folder (made in advance, or left by a start that failed before writing)
  is free. `--resume` continues the run that is there; `--force` replaces it, and then the old
  run's checkpoints (last.pt, best.pt, best.next.pt, snapshots/) are deleted as the new run
  starts, because otherwise a later `--resume`, the final test, the best.pt reconciliation or
  checkpoint averaging could take the old weights for this run's before it has written its own.
- **The resume check** (`config_changes`): a resumed run takes its optimizer and LR schedule
  (lr, betas, milestones, ...) from last.pt, so a changed value there is recorded in config.yaml
  and last.pt but never applied, and a changed batch size or loss weight silently makes the run a
  mix of two experiments. See RESUMABLE_KEYS for what may change.
"""
from __future__ import annotations

import fcntl
import functools
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from signkd.errors import SignkdError

LOCK_NAME = ".signkd.lock"
STAGE_RECORD, STAGE_LOG = "stage.json", "stage.log"   # written by `signkd run` (signkd/pipeline/)
NOT_A_RUN = (LOCK_NAME, STAGE_RECORD, STAGE_LOG)

# The previous run's weights, deleted by --force: anything else it left is rewritten by the new run.
STALE_CHECKPOINTS = ("last.pt", "best.pt", "best.next.pt")
STALE_SNAPSHOTS = "snapshots/epoch-*.pt"

# Keys that may differ between last.pt's config and the config given to `--resume`. Each either
# says where things are or how fast / how verbosely the run goes, or is honoured in full from the
# resume point on without making the run a different experiment:
#   work_dir, data.root/annotations/dialogue/frames/cache: a moved run or corpus, or frames packed
#     into a cache by `signkd prepare` (the vocabularies come from last.pt either way);
#   data.num_workers, train.num_threads, train.device: speed and hardware (a run may go on on
#     another machine);
#   train.progress, train.tensorboard, train.log_every, name: what is printed and how it is labelled;
#   train.test_at_end, data.test: whether and on which split the final test scores best.pt
#     (never used for training or selection);
#   train.epochs: the commonest reason to resume a finished run is to train it longer; it only
#     moves the end of the last stage (a stage list that ends earlier is refused by check_stages).
#     Not with `train.optim.scheduler: cosine`, whose curve is stretched over train.epochs: there a
#     new total would make the learning rate jump at the resume point.
# Everything else (optimizer, schedule, batch size, loss weights, stages, model, eval settings that
# select the best epoch, train.init, data.tokenizer, ...) needs --force.
RESUMABLE_KEYS = frozenset({
    "name", "work_dir",
    "data.root", "data.annotations", "data.dialogue", "data.frames", "data.cache", "data.test",
    "data.num_workers",
    "train.device", "train.num_threads", "train.progress", "train.tensorboard", "train.log_every",
    "train.test_at_end",
})
SHOWN_CHANGES = 3   # changed keys named in the refusal; the rest are counted


class RunDirError(SignkdError):
    """A work dir this run may not use: locked by another training, holding another run, not a
    writable folder, or resumed with a changed config."""


class RunDir:
    """A claimed work dir: holds the lock (rank 0) until `release()`, or until the process ends."""

    def __init__(self, path: Path, lock_file=None, previous: Optional[list[str]] = None,
                 removed: Optional[list[str]] = None):
        self.path = path
        self._lock_file = lock_file
        self.previous = previous or []    # entries of the run that --force overwrites
        self.removed = removed or []      # its checkpoints deleted for that

    @property
    def locked(self) -> bool:
        return self._lock_file is not None

    def release(self) -> None:
        """Drop the lock (closing the file drops the flock). Safe to call twice."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def overwrite_note(self) -> str:
        """The train.log line saying that this run replaced another ('' when it did not)."""
        if not self.previous:
            return ""
        shown = ", ".join(self.previous[:5])
        if len(self.previous) > 5:
            shown += f", ... ({len(self.previous)} entries)"
        removed = f"; deleted its checkpoints {', '.join(self.removed)}" if self.removed else ""
        return f"--force: this run overwrites a previous run in {self.path} (it held {shown}){removed}"


def previous_run(path: Path) -> list[str]:
    """The entries of `path` that make it hold a run: all but NOT_A_RUN (sorted names)."""
    return sorted(p.name for p in path.iterdir() if p.name not in NOT_A_RUN)


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return " ".join(text.split())[:200]


def _os_error(path: Path, exc: OSError, doing: str) -> RunDirError:
    where = exc.filename if exc.filename else path
    return RunDirError(f"{path}: cannot {doing} ({where}: {exc.strerror or exc})")


def _make_dir(path: Path) -> None:
    try:
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{path}: is a file, not a folder; expected a work dir (give another --work-dir)")
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise RunDirError(f"{path}: cannot create the work dir: {parent} is a file, not a folder")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(path, exc, "create the work dir") from None


def _lock(path: Path):
    """Open and flock the lock file (non-blocking); record this process as its holder."""
    lock_path = path / LOCK_NAME
    try:
        fh = open(lock_path, "a+", encoding="utf-8")
    except OSError as exc:
        raise _os_error(path, exc, "write to the work dir") from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        holder = _holder(lock_path)
        raise RunDirError(f"{path}: another training is using this work dir{f' ({holder})' if holder else ''}; "
                          "wait for it to end or give another --work-dir") from None
    except OSError as exc:
        fh.close()
        raise _os_error(path, exc, "lock the work dir") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
    except OSError as exc:
        fh.close()
        raise _os_error(path, exc, "write to the work dir") from None
    return fh


def _check_writable(path: Path) -> None:
    """Create and delete a file: the lock file may be writable in a folder that takes no new files."""
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".signkd-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(f"{path}: the work dir is not writable ({exc.strerror or exc})") from None


def _remove_stale_checkpoints(path: Path) -> list[str]:
    found = [path / name for name in STALE_CHECKPOINTS if (path / name).is_file()]
    found += sorted(path.glob(STALE_SNAPSHOTS))
    for p in found:
        try:
            p.unlink()
        except OSError as exc:
            raise _os_error(path, exc, "delete the previous run's checkpoints (--force)") from None
    return [str(p.relative_to(path)) for p in found]


def claim_local(path: str | Path, *, resume: bool = False, force: bool = False) -> RunDir:
    """Make the work dir, lock it, check it is writable, and refuse one that holds a run unless
    resuming or forced. The lock is dropped again when the claim fails."""
    path = Path(path)
    _make_dir(path)
    fh = _lock(path)
    try:
        _check_writable(path)
        previous, removed = [], []
        if not resume:
            try:
                previous = previous_run(path)
            except OSError as exc:
                raise _os_error(path, exc, "list the work dir") from None
            if previous and not force:
                shown = ", ".join(previous[:3]) + (f", ... ({len(previous)} entries)" if len(previous) > 3 else "")
                raise RunDirError(f"{path}: already holds a run ({shown}); pass --resume to continue it, "
                                  "--force to overwrite it, or give another --work-dir")
            if previous:
                removed = _remove_stale_checkpoints(path)
    except BaseException:
        fh.close()
        raise
    return RunDir(path, fh, previous, removed)


def claim(path: str | Path, dist=None, *, resume: bool = False, force: bool = False) -> RunDir:
    """`claim_local` on rank 0 (the only rank that writes); under DDP its verdict reaches every rank,
    so that all of them stop with the same one line instead of the others waiting for rank 0."""
    if dist is None or not dist.distributed:
        return claim_local(path, resume=resume, force=force)
    from signkd.training import distributed as D

    claimed, error = None, None
    if dist.is_main:
        try:
            claimed = claim_local(path, resume=resume, force=force)
        except RunDirError as exc:
            error = str(exc)
    error = D.broadcast_object(error, dist)
    if error is not None:
        raise RunDirError(error)
    return claimed or RunDir(Path(path))


def releases_on_failure(init: Callable) -> Callable:
    """For an `__init__` that claims a work dir into `self.run_dir`: when the constructor fails
    after the claim nobody can `close()` the half-built object, so the lock is dropped here and not
    whenever the garbage collector frees the traceback that still references it."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except BaseException:
            run_dir = getattr(self, "run_dir", None)
            if run_dir is not None:
                run_dir.release()
            raise
    return wrapper


# ------------------------------------------------------------------------------ the resume check

class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def _normalised(old: dict) -> dict:
    """The checkpoint's config with fields added to the schema since filled with their defaults
    (the behaviour such a run had), when it still loads; else as stored."""
    from signkd.config import ConfigError, from_dict, to_dict, upgrade_stored_config

    try:
        return to_dict(from_dict(upgrade_stored_config(old)))
    except (ConfigError, TypeError, ValueError):
        return old


def _walk(old: Any, new: Any, key: str, out: list) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            _walk(old.get(k, ABSENT), new.get(k, ABSENT), f"{key}.{k}" if key else str(k), out)
    elif (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
          and any(isinstance(x, dict) for x in old + new)):
        for i, (a, b) in enumerate(zip(old, new)):
            _walk(a, b, f"{key}[{i}]", out)
    elif old != new:
        out.append((key, old, new))


def config_changes(old: Optional[dict], new: dict) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in the checkpoint, value now) for every key that differs and may not
    differ on resume (RESUMABLE_KEYS; train.epochs unless the new schedule is cosine). Pure: `old`
    is last.pt's `config` (a `dataclasses.asdict` tree), `new` is `signkd.config.to_dict(cfg)`."""
    if not isinstance(old, dict):
        return [("config", "not recorded in the checkpoint", "this run's")]
    changes: list = []
    _walk(_normalised(old), new, "", changes)
    scheduler = ((new.get("train") or {}).get("optim") or {}).get("scheduler")
    allowed = RESUMABLE_KEYS | ({"train.epochs"} if scheduler != "cosine" else set())
    return [c for c in changes if c[0] not in allowed]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_changes(changes: list[tuple[str, Any, Any]], shown: int = SHOWN_CHANGES) -> str:
    """'train.optim.lr 0.0001 -> 0.001, ... (+2 more)'."""
    text = ", ".join(f"{k} {_short(a)} -> {_short(b)}" for k, a, b in changes[:shown])
    return text + (f" (+{len(changes) - shown} more)" if len(changes) > shown else "")


def check_resume_config(old: Optional[dict], new: dict, *, where: str | Path, force: bool = False,
                        log: Callable[[str], None] = print) -> list[tuple[str, Any, Any]]:
    """Refuse to resume `where` with a changed config unless forced; when forced, log every change."""
    changes = config_changes(old, new)
    if changes and not force:
        raise RunDirError(f"{where}: --resume with a changed config: {describe_changes(changes)}; a resumed run "
                          "keeps its optimizer and schedule from the checkpoint, so undo the change, give another "
                          "--work-dir, or pass --force to resume anyway")
    if changes:
        log(f"--force: resumed with {len(changes)} changed config key(s) (the optimizer and LR schedule continue "
            f"from the checkpoint's state): {describe_changes(changes, shown=len(changes))}")
    return changes
