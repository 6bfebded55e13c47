"""Writing a synthetic corpus: PHOENIX-2014-T layout, dialogue files, alignments, corpus.json."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signkd.config import ConfigError
from signkd.data.synthetic.language import Grammar, Sentence, select_glosses
from signkd.data.synthetic.lexicon import Motion, make_lexicon, make_signers
from signkd.data.synthetic.params import SynthParams, resolve_params
from signkd.data.synthetic.render import Signer, render_track
from signkd.data.synthetic.timeline import sentence_track
from signkd.errors import DataError

SPLITS = ("train", "dev", "test")
FORMATS = ("png", "mp4")
CSV_HEADER = "name|video|start|end|speaker|orth|translation"
FORMAT_VERSION = 1
# independent random streams: changing one part (say the number of dev clips) leaves the others alone
STREAM_LEXICON, STREAM_SIGNERS, STREAM_SENTENCES, STREAM_RENDER = 1, 2, 3, 4


def stream(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))


@dataclass
class World:
    """Everything a corpus is drawn from: parameters, lexicon, signers, grammar."""
    params: SynthParams
    seed: int
    glosses: list[str]
    pairs: list[tuple[str, str]]
    pair_records: list[dict]
    lexicon: dict[str, Motion]
    signers: list[Signer]
    grammar: Grammar

    @property
    def confusable(self) -> set[str]:
        return {g for pair in self.pairs for g in pair}


def make_world(params: SynthParams, seed: int = 0) -> World:
    glosses, pairs = select_glosses(params.n_glosses, params.n_confusable_pairs)
    lexicon, records = make_lexicon(glosses, pairs, stream(seed, STREAM_LEXICON), params)
    signers = make_signers(params.n_signers, stream(seed, STREAM_SIGNERS), params)
    return World(params, seed, glosses, pairs, records, lexicon, signers, Grammar(glosses, pairs, params))


@dataclass
class Clip:
    split: str
    index: int
    name: str
    signer: int
    sentence: Sentence


def draw_clips(world: World) -> dict[str, list[Clip]]:
    """The sentences and signers of every split (no pixels yet)."""
    out = {}
    p = world.params
    for split_index, split in enumerate(SPLITS):
        rng = stream(world.seed, STREAM_SENTENCES, split_index)
        n = getattr(p, f"n_{split}")
        out[split] = [Clip(split, i, f"synth_{split}_{i + 1:05d}", int(rng.integers(len(world.signers))),
                           world.grammar.sentence(rng)) for i in range(n)]
    return out


def render_clip(world: World, clip: Clip) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """(T, H, W, 3) uint8 frames and the gloss segments of one clip (deterministic per clip)."""
    p = world.params
    rng = stream(world.seed, STREAM_RENDER, SPLITS.index(clip.split), clip.index)
    signer = world.signers[clip.signer]
    track, segments = sentence_track(clip.sentence.glosses, world.lexicon, signer, p, rng)
    frames = render_track(track, signer, p.width, p.height, rng, p.noise, p.brightness_jitter, p.cue_mark_size)
    return frames, segments


def frames_folder(p: SynthParams) -> str:
    return f"features/fullFrame-{p.width}x{p.height}px"


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(frame: np.ndarray, compress_level: int) -> bytes:
    """A minimal RGB8 PNG (IHDR, one IDAT, IEND; no timestamps or metadata, so it is reproducible).

    Why not Pillow: its per-call overhead made PNG writing 6x slower than rendering the frames;
    the format is tiny and Pillow (or any decoder) reads these files back unchanged (tested).
    """
    h, w, _ = frame.shape
    raw = np.empty((h, w * 3 + 1), dtype=np.uint8)
    raw[:, 0] = 0                                   # filter type "none" on every row
    raw[:, 1:] = frame.reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + _png_chunk(b"IEND", b""))


def write_png_folder(frames: np.ndarray, folder: Path, compress_level: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames, start=1):
        (folder / f"images{t:04d}.png").write_bytes(png_bytes(frame, compress_level))


MP4_CODECS = (  # (codec, pixel format, options): the first this PyAV build has
    ("libx264rgb", "rgb24", {"crf": "0", "preset": "medium"}),   # lossless RGB H.264: frames == PNG frames
    ("libx264", "yuv444p", {"crf": "0", "preset": "medium"}),    # lossless in YUV (rounding only)
    ("mpeg4", "yuv420p", {"qscale": "1"}),                        # lossy fallback
)


def mp4_codec() -> tuple[str, str, dict]:
    """The video codec used for `--format mp4` (see MP4_CODECS)."""
    import av
    for name, pix_fmt, options in MP4_CODECS:
        try:
            av.codec.Codec(name, "w")
            return name, pix_fmt, options
        except Exception:  # noqa: BLE001 - PyAV raises different types across versions
            continue
    raise DataError("mp4: this PyAV build has none of libx264rgb, libx264, mpeg4; use --format png")


def write_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """One video file. Lossless H.264 is used because lossy x264 output differed between runs here
    (and would blur the one-pixel cue); single-threaded so the bytes are reproducible."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    codec, pix_fmt, options = mp4_codec()
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = pix_fmt
        video.codec_context.thread_count = 1
        video.options = dict(options)
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)


_WORLD: World | None = None   # per worker process


def _init_worker(params: SynthParams, seed: int) -> None:
    global _WORLD
    _WORLD = make_world(params, seed)


def _write_clip(job: tuple) -> tuple[int, list]:
    """Render and store one clip; returns (frames, segments)."""
    clip, root, fmt = job
    world = _WORLD
    frames, segments = render_clip(world, clip)
    base = Path(root) / frames_folder(world.params) / clip.split
    if fmt == "png":
        write_png_folder(frames, base / clip.name, world.params.png_compress_level)
    else:
        write_mp4(frames, base / clip.name / f"{clip.name}.mp4", world.params.fps)
    return len(frames), segments


# --------------------------------------------------------------------------------------------
# Annotation files and corpus.json
# --------------------------------------------------------------------------------------------

def _csv_line(clip: Clip, fmt: str) -> str:
    video = f"{clip.name}/*.{fmt}"      # the folder + glob form of the real corpus, for png and mp4 alike
    s = clip.sentence
    return "|".join([clip.name, video, "-1", "-1", f"Signer{clip.signer + 1:02d}", " ".join(s.glosses),
                     s.translation])


def _dialogue_line(clip: Clip) -> str:
    s = clip.sentence
    return f"{clip.split}/{clip.name} {s.translation}%{s.context}%{' '.join(s.glosses)}"


def _lengths(values: list[int]) -> dict | None:
    """min / mean / max, as `signkd corpus stats` reports them."""
    if not values:
        return None
    return {"min": min(values), "mean": round(sum(values) / len(values), 2), "max": max(values)}


def _split_stats(world: World, clips: list[Clip], frame_counts: list[int], train_vocab: set[str],
                 train_sentences: set[tuple]) -> dict:
    """Per-split numbers; the names shared with `signkd corpus stats --json` mean the same there."""
    glosses = Counter(g for c in clips for g in c.sentence.glosses)
    conf = world.confusable
    unseen = Counter({g: n for g, n in glosses.items() if g not in train_vocab})
    return {
        "samples": len(clips),
        "signers": len({c.signer for c in clips}),
        "gloss_tokens": int(sum(glosses.values())),
        "gloss_types": len(glosses),
        "gloss_length": _lengths([len(c.sentence.glosses) for c in clips]),
        "translation_length": _lengths([len(c.sentence.translation.split()) for c in clips]),
        "context_length": _lengths([len(c.sentence.context.split()) for c in clips]),
        "unseen_types": len(unseen),
        "unseen_tokens": int(sum(unseen.values())),
        "frames": int(sum(frame_counts)),
        "frame_length": _lengths(frame_counts),
        "translation_types": len({w for c in clips for w in c.sentence.translation.split()}),
        "signer_counts": dict(sorted(Counter(f"Signer{c.signer + 1:02d}" for c in clips).items())),
        "gloss_counts": dict(sorted(glosses.items())),
        "confusable_tokens": int(sum(n for g, n in glosses.items() if g in conf)),
        "confusable_named_in_context": int(sum(sum(1 for g in c.sentence.glosses if g in conf and g in c.sentence.named)
                                               for c in clips)),
        "sentences_also_in_train": sum(tuple(c.sentence.glosses) in train_sentences for c in clips),
    }


def _describe(world: World, fmt: str, preset: str, stats: dict) -> dict:
    p = world.params
    pair_of = {g: pair for pair in world.pairs for g in pair}
    return {
        "format_version": FORMAT_VERSION,
        "generator": "signkd.data.synthetic",
        "regenerate": f"signkd synth OUT --preset {preset} --seed {world.seed} --format {fmt}"
                      + "".join(f" --set {k}={v}" for k, v in _changed(p, preset).items()),
        "preset": preset,
        "seed": world.seed,
        "frame_format": fmt,
        "mp4_codec": mp4_codec()[0] if fmt == "mp4" else None,
        "frames": frames_folder(p),
        "frame_size": [p.width, p.height],
        "fps": p.fps,
        "params": p.content(),
        "layout": {
            "annotations": "annotations/manual/PHOENIX-2014-T.<split>.corpus.csv",
            "dialogue": "dialogue/<split>.txt",
            "alignment": "alignment/<split>.jsonl",
            "frames": f"{frames_folder(p)}/<split>/<name>/" + ("images0001.png ..." if fmt == "png" else "<name>.mp4"),
        },
        "glosses": world.glosses,
        "lexicon": {g: {**world.lexicon[g].to_dict(), "confusable_with": next((x for x in pair_of.get(g, ()) if x != g), None)}
                    for g in world.glosses},
        "confusable_pairs": world.pair_records,
        "signers": [s.to_dict() for s in world.signers],
        "train_vocab_size": stats["train"]["gloss_types"],
        "splits": stats,
    }


def _changed(p: SynthParams, preset: str) -> dict:
    base = resolve_params(preset)
    return {k: v for k, v in p.content().items() if base.content()[k] != v}


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    ours = ["features", "annotations", "dialogue", "alignment", "corpus.json"]
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"{out}: folder exists and is not empty; pass --force (overwrite=True) to replace it")
        if not (out / "corpus.json").is_file():
            raise DataError(f"{out}: not a synthetic corpus (no corpus.json); refusing to delete anything in it")
        for name in ours:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate_corpus(out_dir, preset: str = "tiny", seed: int = 0, fmt: str = "png", *, overwrite: bool = False,
                    progress: bool = True, **overrides) -> Path:
    """Write a synthetic corpus to `out_dir` and return its path.

    `overrides` change any `SynthParams` field (values may be strings, as from `--set`).
    The same preset, seed, format and overrides give byte-identical files.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"synth format '{fmt}' is unknown; expected one of {', '.join(FORMATS)}")
    params = resolve_params(preset, overrides)
    if fmt == "mp4":
        mp4_codec()
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    world = make_world(params, seed)
    clips = draw_clips(world)
    jobs = [(clip, str(out), fmt) for split in SPLITS for clip in clips[split]]
    results = _run_jobs(jobs, params, seed, progress)
    by_clip = {(job[0].split, job[0].index): r for job, r in zip(jobs, results)}

    stats = {}
    train_vocab = {g for c in clips["train"] for g in c.sentence.glosses}
    train_sentences = {tuple(c.sentence.glosses) for c in clips["train"]}
    for split in SPLITS:
        rows = clips[split]
        manual = out / "annotations" / "manual"
        manual.mkdir(parents=True, exist_ok=True)
        _write_text(manual / f"PHOENIX-2014-T.{split}.corpus.csv",
                    "\n".join([CSV_HEADER] + [_csv_line(c, fmt) for c in rows]) + "\n")
        # dialogue-PHOENIX files end without a newline
        _write_text(out / "dialogue" / f"{split}.txt", "\n".join(_dialogue_line(c) for c in rows))
        _write_text(out / "alignment" / f"{split}.jsonl", "".join(
            json.dumps({"name": c.name, "frames": by_clip[(split, c.index)][0],
                        "segments": [[g, s, e] for g, s, e in by_clip[(split, c.index)][1]]}) + "\n" for c in rows))
        stats[split] = _split_stats(world, rows, [by_clip[(split, c.index)][0] for c in rows], train_vocab,
                                    train_sentences)
    # corpus.json last: its presence marks a complete corpus
    _write_text(out / "corpus.json", json.dumps(_describe(world, fmt, preset, stats), indent=1, ensure_ascii=False)
                + "\n")
    return out


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _run_jobs(jobs: list, params: SynthParams, seed: int, progress: bool) -> list:
    from tqdm import tqdm
    bar = dict(total=len(jobs), desc="synth", unit="clip", disable=not progress, leave=False)
    if params.workers <= 1 or len(jobs) < 2:
        _init_worker(params, seed)
        return [_write_clip(job) for job in tqdm(jobs, **bar)]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(params.workers, initializer=_init_worker, initargs=(params, seed)) as pool:
        chunk = max(1, min(16, len(jobs) // (4 * params.workers)))
        return list(tqdm(pool.imap(_write_clip, jobs, chunksize=chunk), **bar))


def load_description(root) -> dict:
    """corpus.json of a generated corpus (DataError if missing or unreadable)."""
    path = Path(root) / "corpus.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found (is {root} a synthetic corpus?)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def tree_digest(root) -> str:
    """sha256 over every file's relative path and bytes (to compare two generations)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
