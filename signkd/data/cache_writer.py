"""Writing the packed cache (`signkd prepare`): an estimate of the bytes first, a refusal when
the disk is too small, then every video resized and stored by a pool of processes.

Why a journal (``packing.jsonl``): at PHOENIX size packing takes hours, and the manifest is
written last; each finished video is appended to the journal as soon as its file is renamed into
place, so a killed run resumes where it stopped. A re-run keeps every entry of the journal or of
an earlier manifest packed with the same settings whose file still matches its sha256, and packs
the rest.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from signkd.atomic import sha256_file
from signkd.atomic import open_new
from signkd.data.cache_manifest import (CACHE_VERSION, MANIFEST, CacheEntry, parse_entry, read_manifest,
                                        safe_file_name, store_of, write_atomic)
from signkd.data.frame_store import (DEFAULT_QUALITY, STORES, SUFFIX, bytes_per_frame, encode_clip, encode_frame,
                                     header_bytes)
from signkd.data.video import FrameError, count_source_frames, read_source_frames
from signkd.errors import DataError

JOURNAL = "packing.jsonl"


def _settings(size: int, keep_aspect: bool, store: str, quality: int) -> dict:
    """What must be equal for an earlier entry to be kept."""
    return {"size": size, "keep_aspect": keep_aspect, "store": store, "quality": quality if store == "jpeg" else 0}


def previous_entries(out: Path, settings: dict) -> dict[str, CacheEntry]:
    """Entries of an earlier manifest and of the journal of an unfinished run, packed with the
    same settings (unchecked: the workers hash them). Anything unreadable is simply packed again."""
    old: dict[str, CacheEntry] = {}
    path = out / MANIFEST
    try:
        prev = read_manifest(path) if path.is_file() else {}
        same = prev and store_of(path, prev) == (settings["store"], settings["quality"])
    except DataError:
        prev, same = {}, False
    if (same and prev.get("size") == settings["size"] and prev.get("keep_aspect") == settings["keep_aspect"]
            and isinstance(prev.get("videos"), dict)):
        for key, value in prev["videos"].items():
            try:
                old[key] = parse_entry(path, key, value)
            except DataError:
                continue
    for key, entry in _journal_entries(out / JOURNAL, settings):
        old[key] = entry
    return old


def listed_files(out: Path) -> set[str]:
    """Files the manifest in `out` lists, whatever its settings (empty when there is none)."""
    try:
        videos = read_manifest(out / MANIFEST).get("videos")
    except DataError:
        return set()
    return {v["file"] for v in videos.values() if isinstance(v, dict) and isinstance(v.get("file"), str)} \
        if isinstance(videos, dict) else set()


def _journal_entries(path: Path, settings: dict) -> Iterator[tuple[str, CacheEntry]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    try:
        if not lines or json.loads(lines[0]).get("settings") != settings:
            return
    except (ValueError, AttributeError):
        return
    for line in lines[1:]:   # a torn last line (the run was killed mid-write) does not parse: skipped
        try:
            rec = json.loads(line)
            yield rec["key"], parse_entry(path, rec["key"], rec["entry"])
        except (ValueError, KeyError, TypeError, DataError):
            continue


class _Journal:
    """Appends one line per finished video; continues the journal of an unfinished run with the
    same settings, else starts a new one."""

    def __init__(self, path: Path, settings: dict):
        self.path = path
        try:
            first = path.read_text(encoding="utf-8").split("\n", 1)[0]
            same = json.loads(first).get("settings") == settings
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            same = False
        if not same:
            write_atomic(path, (json.dumps({"settings": settings}) + "\n").encode("utf-8"))
        self.fh = open(path, "a", encoding="utf-8")

    def add(self, key: str, entry: dict) -> None:
        self.fh.write(json.dumps({"key": key, "entry": entry}) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


# --------------------------------------------------------------------------------------------
# Estimate and disk check
# --------------------------------------------------------------------------------------------

@dataclass
class CacheEstimate:
    frames: dict             # key -> frames of its source (0 when they cannot be counted)
    frame_shape: tuple       # (H, W) of a stored frame
    bytes_per_frame: float   # exact for raw, the mean of `sampled` encoded frames for jpeg
    sampled: int
    total_bytes: int         # the whole cache
    pending_bytes: int       # what is left to write (entries kept from an earlier run excluded)

    def describe(self, store: str, quality: int) -> str:
        h, w = self.frame_shape
        raw = h * w * 3
        kind = f"jpeg q{quality}, {100 * self.bytes_per_frame / max(raw, 1):.1f} % of raw, " \
               f"estimated from {self.sampled} sample frames" if store == "jpeg" else "raw uint8"
        done = f"; {human_bytes(self.pending_bytes)} still to write" if self.pending_bytes < self.total_bytes else ""
        return (f"{len(self.frames)} videos, {sum(self.frames.values())} frames of {h}x{w} -> about "
                f"{human_bytes(self.total_bytes)} ({kind}){done}")


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def estimate_cache(items: Sequence[tuple[str, str, str]], out_dir: str | Path, *, size: int, keep_aspect: bool,
                   store: str, quality: int = DEFAULT_QUALITY, samples: int = 12) -> CacheEstimate:
    """Count every video's frames and measure a few: the stored frame size from `samples` frames
    spread over the corpus (their middle frames), resized and, for jpeg, encoded as prepare will."""
    counts = {}
    for key, frames, pattern in items:
        try:
            counts[key] = count_source_frames(frames, pattern)
        except FrameError:
            counts[key] = 0
    readable = [it for it in items if counts[it[0]] > 0]
    step = max(1, len(readable) // max(samples, 1))
    shape, encoded = (size, size) if size and not keep_aspect else (0, 0), []
    for key, frames, pattern in readable[::step][:samples]:
        try:
            frame = read_source_frames(frames, pattern, size=size, keep_aspect=keep_aspect,
                                       indices=[counts[key] // 2])[0]
        except FrameError:
            continue
        shape = frame.shape[:2]
        encoded.append(len(encode_frame(frame, quality)) if store == "jpeg" else 0)
    per_frame = bytes_per_frame(store, *shape, sample_jpeg_bytes=sum(encoded) / max(len(encoded), 1))
    cost = {key: header_bytes(store) + n * per_frame for key, n in counts.items()}
    out = Path(out_dir)
    kept = previous_entries(out, _settings(size, keep_aspect, store, quality)) if out.is_dir() else {}
    pending = sum(c for key, c in cost.items() if not (key in kept and (out / kept[key].file).is_file()))
    return CacheEstimate(counts, tuple(shape), per_frame, len(encoded), int(sum(cost.values())), int(pending))


def check_free_space(out_dir: str | Path, estimate: CacheEstimate, store: str) -> int:
    """Free bytes on the disk of `out_dir`; a one-line DataError when that is less than what is
    left to write."""
    where = Path(out_dir).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < estimate.pending_bytes:
        hint = " or --store jpeg" if store == "raw" else ""
        raise DataError(f"{out_dir}: {human_bytes(free)} free on its disk, the cache needs about "
                        f"{human_bytes(estimate.pending_bytes)} more; free space or choose another --out{hint}")
    return free


# --------------------------------------------------------------------------------------------
# Packing
# --------------------------------------------------------------------------------------------

def _pack_one(job: tuple) -> tuple:
    """Keep or write one video (runs in a worker process). Returns ("kept" | "packed", key,
    entry) or ("error", key, message, file): a FrameError is the caller's to report or raise."""
    key, frames, pattern, path, name, prev, settings = job
    path = Path(path)
    if prev is not None and prev["file"] == name:
        try:
            if path.is_file() and sha256_file(path) == prev["sha256"]:
                return "kept", key, prev
        except OSError:
            pass
    try:
        clip = read_source_frames(frames, pattern, size=settings["size"], keep_aspect=settings["keep_aspect"])
    except FrameError as exc:
        return "error", key, str(exc), exc.file
    data = encode_clip(clip, settings["store"], settings["quality"])
    tmp = path.with_name(path.name + ".tmp")
    with open_new(tmp) as fh:
        fh.write(data)
    os.replace(tmp, path)
    return "packed", key, {"file": name, "shape": list(clip.shape), "sha256": hashlib.sha256(data).hexdigest()}


def _results(jobs: list, workers: int) -> Iterator[tuple]:
    if workers <= 1 or len(jobs) < 2:
        yield from map(_pack_one, jobs)
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap_unordered(_pack_one, jobs, chunksize=1)


def pack_videos(items: Sequence[tuple[str, str, str]], out_dir: str | Path, *, size: int = 256,
                keep_aspect: bool = False, store: str = "raw", quality: int = DEFAULT_QUALITY, workers: int = 1,
                progress: bool = True, frame_counts: Optional[dict] = None,
                on_error: Optional[Callable[[str, FrameError], None]] = None) -> Path:
    """Write the packed cache for `items` = [(key, frames_path, frame_glob)] in `store` ("raw" or
    "jpeg" at `quality`), `workers` processes at a time. Videos already packed with the same
    settings (earlier manifest or the journal of a killed run) whose checksum matches are kept.
    Every file is written to a temp name and renamed; the manifest is written last.
    A video whose frames cannot be read raises a FrameError naming it, or, with `on_error`,
    is passed to it (in the order of `items`) and left out of the cache. `frame_counts` (key ->
    frames, from `estimate_cache`) makes the progress bar count frames, so its ETA holds for
    videos of different lengths."""
    from tqdm import tqdm

    if store not in STORES:
        raise DataError(f"prepare: store {store!r} is unknown; expected one of {', '.join(STORES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    real_out = out.resolve()
    settings = _settings(size, keep_aspect, store, quality)
    old = previous_entries(out, settings)
    jobs, used = [], set()
    for key, frames, pattern in items:
        name = safe_file_name(key) + SUFFIX[store]
        if name in used:   # two keys that differ only in characters safe_file_name replaces
            name = f"{safe_file_name(key)}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:10]}{SUFFIX[store]}"
        used.add(name)
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.parent.resolve().is_relative_to(real_out):   # a symlinked folder inside `out`
            raise DataError(f"{path.parent}: leads outside the cache folder {out}; remove it and re-run")
        prev = old.get(key)
        jobs.append((key, frames, pattern, str(path), name, prev.to_json() if prev else None, settings))
    counts = frame_counts or {}
    bar = tqdm(total=sum(counts.get(job[0], 0) for job in jobs) if counts else len(jobs), unit_scale=bool(counts),
               unit="frame" if counts else "video", desc=f"prepare {out}", disable=not progress, smoothing=0.05)
    journal = _Journal(out / JOURNAL, settings)
    videos, errors, total_frames = {}, {}, 0
    try:
        for result in _results(jobs, workers):
            status, key = result[0], result[1]
            bar.update(counts.get(key, 0) if counts else 1)
            if status == "error":
                if on_error is None:
                    raise FrameError(f"video {key!r}: {result[2]}", result[3])
                errors[key] = FrameError(result[2], result[3])
                continue
            videos[key] = result[2]
            total_frames += result[2]["shape"][0]
            if status == "packed":
                journal.add(key, result[2])
    finally:
        bar.close()
        journal.close()
    for key, _, _ in items:
        if key in errors:
            on_error(key, errors[key])
    manifest = {"version": CACHE_VERSION, "size": size, "keep_aspect": keep_aspect, "store": store,
                "quality": settings["quality"], "videos": videos, "total_frames": total_frames}
    manifest_path = out / MANIFEST
    write_atomic(manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
    (out / JOURNAL).unlink(missing_ok=True)
    return manifest_path
