"""`signkd prepare CONFIG | --format F --root R --out DIR [--size 256] [--keep-aspect] [--store jpeg|raw]
[--workers N]`.

Resizes every frame once and packs each video into one file (manifest.json lists the store,
shapes and sha256 checksums): its frames as JPEGs behind an offset index (``--store jpeg``, the
default: ~12 % of the raw bytes, decoded faster than training consumes them) or one uint8 .npy
read memory-mapped (``--store raw``). Training reads either: set `data.cache: DIR`.
First prints what it will write and refuses, in one line, a disk with less free space; a killed
run resumes where it stopped (the finished videos are kept).
With data.skip_bad (or --skip-bad), bad annotations and videos whose frames cannot be read are
left out of the cache and listed in DIR/data_report.json, which training under skip_bad then skips.
"""
from __future__ import annotations

import os

HELP = "resize and pack a corpus's frames once into the cache training reads fastest (JPEG or raw frames)"


def add_arguments(p):
    from signkd.data.corpora import FORMATS

    p.add_argument("config", nargs="?", default="", help="YAML config (its data section says what to pack)")
    p.add_argument("--format", default="", choices=FORMATS, help="corpus format (without a config)")
    p.add_argument("--root", default="", help="corpus root (without a config)")
    p.add_argument("--frames", default="", help="frame folder override, relative to the root")
    p.add_argument("--out", default="", help="cache folder (default: the config's data.cache)")
    p.add_argument("--size", type=int, default=None, help="resize to SIZE x SIZE (default 256, or data.augment.resize)")
    p.add_argument("--keep-aspect", action="store_true", default=None, help="resize the short side to SIZE instead")
    p.add_argument("--store", default="jpeg", choices=["jpeg", "raw"],
                   help="jpeg: frames as JPEGs, ~12%% of raw bytes (default); raw: uint8 arrays, memory-mapped")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of --store jpeg (default 90)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="processes packing videos side by side (default: the CPUs, at most 8)")
    p.add_argument("--splits", nargs="+", default=["train", "dev", "test"])
    p.add_argument("--verify", action="store_true", help="only check the checksums of an existing cache")
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="leave out bad samples and unreadable videos, listed in OUT/data_report.json "
                        "(default: the config's data.skip_bad)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run(args) -> int:
    from pathlib import Path

    from signkd.commands import load_command_config
    from signkd.config import ConfigError
    from signkd.data.corpora import read_corpus
    from signkd.data.corpus_reader import MissingAnnotationError, split_name
    from signkd.data.report import REPORT_NAME, SkipReport, skip_record
    from signkd.data.cache_writer import check_free_space, estimate_cache, human_bytes, listed_files
    from signkd.data.packed_cache import PackedCache, cache_key, pack_videos

    if args.verify and (args.out or args.config):
        out = args.out or load_command_config(args.config, args.overrides).data.cache
        bad = PackedCache(out).verify()
        print(f"{out}: {'all checksums match' if not bad else f'{len(bad)} bad video(s), e.g. {bad[0]}'}")
        return 0 if not bad else 1
    if args.config:
        cfg = load_command_config(args.config, args.overrides)
        fmt, root, frames = cfg.data.format, cfg.data.root, cfg.data.frames
        out = args.out or cfg.data.cache
        size = cfg.data.augment.resize if args.size is None else args.size
        keep = cfg.data.augment.keep_aspect if args.keep_aspect is None else args.keep_aspect
        annotations, dialogue = cfg.data.annotations, cfg.data.dialogue
        skip_bad = cfg.data.skip_bad if args.skip_bad is None else args.skip_bad
    else:
        if not (args.format and args.root):
            raise ConfigError("prepare: give a CONFIG, or --format and --root (and --out)")
        fmt, root, frames, out = args.format, args.root, args.frames, args.out
        size, keep = (256 if args.size is None else args.size), bool(args.keep_aspect)
        annotations = dialogue = ""
        skip_bad = bool(args.skip_bad)
    if not out:
        raise ConfigError("prepare: give --out DIR (or data.cache in the config)")
    if args.workers < 1 or not 1 <= args.quality <= 100:
        raise ConfigError(f"prepare: --workers must be >= 1 and --quality 1..100, got {args.workers} / {args.quality}")
    items, records, split_of = [], {}, {}
    for split in args.splits:
        name = split_name(split)
        records[name] = []
        try:
            samples = read_corpus(fmt, root, split, annotations=annotations, dialogue=dialogue, frames=frames,
                                  check_frames=True, skip_bad=skip_bad, report=records[name])
        except MissingAnnotationError:
            print(f"prepare: no {split} split, skipped")
            continue
        for s in samples:
            items.append((cache_key(s.split, s.id), s.frames, s.frame_glob))
            split_of[items[-1][0]] = (name, s.id)

    def left_out(key, exc):
        name, sample_id = split_of[key]
        records[name].append(skip_record(name, sample_id, exc.file, None, str(exc)))

    estimate = estimate_cache(items, out, size=size, keep_aspect=keep, store=args.store, quality=args.quality)
    print(f"prepare: {estimate.describe(args.store, args.quality)}", flush=True)
    free = check_free_space(out, estimate, args.store)
    print(f"prepare: {human_bytes(free)} free on the disk of {out}; {args.workers} worker(s)", flush=True)
    earlier = listed_files(Path(out))
    manifest = pack_videos(items, out, size=size, keep_aspect=keep, store=args.store, quality=args.quality,
                           workers=args.workers, frame_counts=estimate.frames,
                           on_error=left_out if skip_bad else None)
    report = SkipReport(Path(out) / REPORT_NAME)
    for name, found in records.items():
        report.replace_split(name, found)
    skipped = sum(len(found) for found in records.values())
    if skipped:
        print(f"prepare: left out {skipped} bad sample(s); see {report.path}")
    cache = PackedCache(out)
    frames_total = sum(e.shape[0] for e in cache.entries.values())
    written = sum((Path(out) / e.file).stat().st_size for e in cache.entries.values())
    print(f"packed {len(cache.entries)} videos ({frames_total} frames, {human_bytes(written)}, store {cache.store}) "
          f"into {out}; manifest {manifest}")
    stale = sorted(f for f in earlier - {e.file for e in cache.entries.values()} if (Path(out) / f).is_file())
    if stale:
        size_stale = sum((Path(out) / f).stat().st_size for f in stale)
        print(f"prepare: {len(stale)} file(s) of the earlier cache are no longer listed ({human_bytes(size_stale)}, "
              f"e.g. {Path(out) / stale[0]}); delete them to free the space")
    print(f"train from it with: --set data.cache={out}")
    return 0
