"""`signkd prepare CONFIG | --format F --root R --out DIR [--size 256] [--keep-aspect]`.

Resizes every frame once and packs each video into one uint8 .npy (manifest.json lists shapes and
sha256 checksums). Training then reads the clips memory-mapped: set `data.cache: DIR`.
"""
from __future__ import annotations

HELP = "resize and pack a corpus's frames into the memory-mapped cache training reads fastest"


def add_arguments(p):
    p.add_argument("config", nargs="?", default="", help="YAML config (its data section says what to pack)")
    p.add_argument("--format", default="", help="corpus format (without a config)")
    p.add_argument("--root", default="", help="corpus root (without a config)")
    p.add_argument("--frames", default="", help="frame folder override, relative to the root")
    p.add_argument("--out", default="", help="cache folder (default: the config's data.cache)")
    p.add_argument("--size", type=int, default=None, help="resize to SIZE x SIZE (default 256, or data.augment.resize)")
    p.add_argument("--keep-aspect", action="store_true", default=None, help="resize the short side to SIZE instead")
    p.add_argument("--splits", nargs="+", default=["train", "dev", "test"])
    p.add_argument("--verify", action="store_true", help="only check the checksums of an existing cache")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run(args) -> int:
    from signkd.config import ConfigError, load_config
    from signkd.data.corpora import MissingAnnotationError, read_corpus
    from signkd.data.video import PackedCache, cache_key, pack_videos

    if args.verify and (args.out or args.config):
        out = args.out or load_config(args.config, args.overrides).data.cache
        bad = PackedCache(out).verify()
        print(f"{out}: {'all checksums match' if not bad else f'{len(bad)} bad video(s), e.g. {bad[0]}'}")
        return 0 if not bad else 1
    if args.config:
        cfg = load_config(args.config, args.overrides)
        fmt, root, frames = cfg.data.format, cfg.data.root, cfg.data.frames
        out = args.out or cfg.data.cache
        size = cfg.data.augment.resize if args.size is None else args.size
        keep = cfg.data.augment.keep_aspect if args.keep_aspect is None else args.keep_aspect
        annotations, dialogue = cfg.data.annotations, cfg.data.dialogue
    else:
        if not (args.format and args.root):
            raise ConfigError("prepare: give a CONFIG, or --format and --root (and --out)")
        fmt, root, frames, out = args.format, args.root, args.frames, args.out
        size, keep = (256 if args.size is None else args.size), bool(args.keep_aspect)
        annotations = dialogue = ""
    if not out:
        raise ConfigError("prepare: give --out DIR (or data.cache in the config)")
    items = []
    for split in args.splits:
        try:
            samples = read_corpus(fmt, root, split, annotations=annotations, dialogue=dialogue, frames=frames,
                                  check_frames=True)
        except MissingAnnotationError:
            print(f"prepare: no {split} split, skipped")
            continue
        items += [(cache_key(s.split, s.id), s.frames, s.frame_glob) for s in samples]
    manifest = pack_videos(items, out, size=size, keep_aspect=keep)
    cache = PackedCache(out)
    frames_total = sum(e.shape[0] for e in cache.entries.values())
    print(f"packed {len(cache.entries)} videos ({frames_total} frames) into {out}; manifest {manifest}")
    print(f"train from it with: --set data.cache={out}")
    return 0
