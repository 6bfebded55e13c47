"""Writing a synthetic corpus: PHOENIX-2014-T layout, dialogue files, alignments, corpus.json.

Resumable: each clip is written to OUT/.synth-tmp and renamed into place when complete, and
OUT/.synth-run.json records the settings; the same command run again on an unfinished OUT keeps
the clips already in place (they are deterministic per clip) and renders the rest.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signkd.config import ConfigError
from signkd.data.synthetic.language import Grammar, Sentence, select_glosses
from signkd.data.synthetic.lexicon import Motion, make_lexicon, make_signers
from signkd.data.synthetic.like import LikeSource, read_like
from signkd.data.synthetic.params import SynthParams, resolve_params
from signkd.data.synthetic.render import Signer, render_track
from signkd.data.synthetic.timeline import sentence_track
from signkd.data.synthetic.writers import mp4_codec, write_mp4, write_png_folder
from signkd.errors import DataError

SPLITS = ("train", "dev", "test")
FORMATS = ("png", "mp4")
CSV_HEADER = "name|video|start|end|speaker|orth|translation"
FORMAT_VERSION = 1
# independent random streams: changing one part (say the number of dev clips) leaves the others alone
STREAM_LEXICON, STREAM_SIGNERS, STREAM_SENTENCES, STREAM_RENDER = 1, 2, 3, 4
RUN_FILE = ".synth-run.json"    # settings of an unfinished run (corpus.json replaces it at the end)
TMP_DIR = ".synth-tmp"          # clips being written; renamed into place when complete


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
    grammar: Grammar | None                 # None: the sentences come from a real corpus (--like)
    like: LikeSource | None = None

    @property
    def confusable(self) -> set[str]:
        return {g for pair in self.pairs for g in pair}


def make_world(params: SynthParams, seed: int = 0, like: LikeSource | None = None) -> World:
    """The toy language's world, or with `like` the real corpus's vocabulary and signers (params
    then take its split sizes and signer count; n_glosses and the grammar's parameters are unused)."""
    if like is None:
        glosses, pairs = select_glosses(params.n_glosses, params.n_confusable_pairs)
    else:
        if params.twin_context > 0:
            raise ConfigError("synth.twin_context: the topics are drawn by the toy grammar; a --like corpus "
                              "keeps its real sentences, so expected 0")
        glosses, pairs = like.glosses, like.pairs(params.n_confusable_pairs)
        sizes = {f"n_{split}": len(like.samples.get(split, [])) for split in SPLITS}
        params = dataclasses.replace(params, n_signers=min(99, max(1, len(like.speakers))), **sizes).check()
    lexicon, records = make_lexicon(glosses, pairs, stream(seed, STREAM_LEXICON), params)
    signers = make_signers(params.n_signers, stream(seed, STREAM_SIGNERS), params)
    grammar = Grammar(glosses, pairs, params) if like is None else None
    return World(params, seed, glosses, pairs, records, lexicon, signers, grammar, like)


@dataclass
class Clip:
    split: str
    index: int
    name: str
    signer: int
    sentence: Sentence
    speaker: str = ""          # the annotation's signer name ("" = Signer<signer + 1>)

    @property
    def speaker_name(self) -> str:
        return self.speaker or f"Signer{self.signer + 1:02d}"


def draw_clips(world: World) -> dict[str, list[Clip]]:
    """The sentences and signers of every split (no pixels yet); with --like, the real ones."""
    out = {}
    p = world.params
    if world.like is not None:
        signer_of = {name: i % len(world.signers) for i, name in enumerate(world.like.speakers)}
        return {split: [Clip(split, i, s.id, signer_of[s.signer], Sentence(list(s.glosses), s.translation, s.context),
                             s.signer) for i, s in enumerate(rows)]
                for split, rows in world.like.samples.items()}
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
    frames = render_track(track, signer, p.width, p.height, rng, p.noise, p.brightness_jitter, p.cue_mark_size,
                          p.noise_block)
    return frames, segments


def clip_timeline(world: World, clip: Clip) -> tuple[int, list[tuple[str, int, int]]]:
    """The frame count and gloss segments `render_clip` gives, without rendering (for resumed clips)."""
    rng = stream(world.seed, STREAM_RENDER, SPLITS.index(clip.split), clip.index)
    track, segments = sentence_track(clip.sentence.glosses, world.lexicon, world.signers[clip.signer], world.params,
                                     rng)
    return track.frames, segments


def frames_folder(p: SynthParams) -> str:
    return f"features/fullFrame-{p.width}x{p.height}px"


_WORLD: World | None = None   # per worker process


def _init_worker(world: World) -> None:
    global _WORLD
    _WORLD = world


def clip_folder(root: Path, world: World, clip: Clip) -> Path:
    return Path(root) / frames_folder(world.params) / clip.split / clip.name


def _write_clip(job: tuple) -> tuple[tuple[str, int], int, list]:
    """Render one clip into a temporary folder and rename it into place; returns (key, frames, segments)."""
    clip, root, fmt = job
    world = _WORLD
    frames, segments = render_clip(world, clip)
    tmp = Path(root) / TMP_DIR / clip.split / clip.name
    if tmp.exists():
        shutil.rmtree(tmp)
    if fmt == "png":
        write_png_folder(frames, tmp, world.params.png_compress_level)
    else:
        write_mp4(frames, tmp / f"{clip.name}.mp4", world.params.fps)
    final = clip_folder(Path(root), world, clip)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    return (clip.split, clip.index), len(frames), segments


# --------------------------------------------------------------------------------------------
# Annotation files and corpus.json
# --------------------------------------------------------------------------------------------

def _csv_line(clip: Clip, fmt: str) -> str:
    video = f"{clip.name}/*.{fmt}"      # the folder + glob form of the real corpus, for png and mp4 alike
    s = clip.sentence
    return "|".join([clip.name, video, "-1", "-1", clip.speaker_name, " ".join(s.glosses),
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
        "signer_counts": dict(sorted(Counter(c.speaker_name for c in clips).items())),
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
                      + (f" --like {world.like.annotations}" if world.like else "")
                      + (f" --dialogue {world.like.dialogue}" if world.like and world.like.dialogue else "")
                      + "".join(f" --set {k}={v}" for k, v in _changed(p, preset, world.like).items()),
        "preset": preset,
        "seed": world.seed,
        "frame_format": fmt,
        "mp4_codec": mp4_codec()[0] if fmt == "mp4" else None,
        "frames": frames_folder(p),
        "frame_size": [p.width, p.height],
        "fps": p.fps,
        **({"like": world.like.describe()} if world.like else {}),   # the real corpus imitated (--like)
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


def _changed(p: SynthParams, preset: str, like: LikeSource | None = None) -> dict:
    base = resolve_params(preset).content()
    taken = {"n_train", "n_dev", "n_test", "n_signers"} if like else set()    # from the annotations
    return {k: v for k, v in p.content().items() if base[k] != v and k not in taken}


def _run_record(world: World, preset: str, fmt: str) -> dict:
    """What an unfinished run was started with: a rerun resumes only with the same settings."""
    return {"preset": preset, "seed": world.seed, "format": fmt, "params": world.params.content(),
            "like": world.like.describe() if world.like else None}


def _prepare_out_dir(out: Path, overwrite: bool, record: dict) -> None:
    """Empty OUT, or an unfinished run of the same settings (resumed), or --force on one of ours."""
    ours = ["features", "annotations", "dialogue", "alignment", "corpus.json", RUN_FILE, TMP_DIR]
    run_file = out / RUN_FILE
    complete = (out / "corpus.json").is_file()
    unfinished = run_file.is_file() and not complete
    if unfinished and not overwrite:
        try:
            same = json.loads(run_file.read_text(encoding="utf-8")) == json.loads(json.dumps(record))
        except ValueError:
            same = False
        if not same:
            raise DataError(f"{run_file}: an unfinished run with other settings; rerun it as it was, "
                            "or pass --force to start over")
        shutil.rmtree(out / TMP_DIR, ignore_errors=True)    # clips cut off mid-write
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"{out}: folder exists and is not empty; pass --force (overwrite=True) to replace it")
        if not complete and not unfinished:
            raise DataError(f"{out}: not a synthetic corpus (no corpus.json); refusing to delete anything in it")
        for name in ours:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    _write_text(run_file, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def generate_corpus(out_dir, preset: str = "tiny", seed: int = 0, fmt: str = "png", *, overwrite: bool = False,
                    progress: bool = True, like=None, dialogue=None, **overrides) -> Path:
    """Write a synthetic corpus to `out_dir` and return its path.

    `overrides` change any `SynthParams` field (values may be strings, as from `--set`). `like`: a
    folder of PHOENIX-2014-T annotation files whose splits, sentences and signers are used
    (`dialogue`: a folder of dialogue-PHOENIX `<split>.txt` files for the contexts; see like.py).
    The same preset, seed, format, sources and overrides give byte-identical files; an unfinished
    run of the same settings is resumed.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"synth format '{fmt}' is unknown; expected one of {', '.join(FORMATS)}")
    if dialogue and not like:
        raise ConfigError("synth: --dialogue needs --like (the contexts belong to the real sentences)")
    params = resolve_params(preset, overrides)
    if fmt == "mp4":
        mp4_codec()
    out = Path(out_dir)
    world = make_world(params, seed, read_like(like, dialogue) if like else None)
    params = world.params
    _prepare_out_dir(out, overwrite, _run_record(world, preset, fmt))
    clips = draw_clips(world)
    splits = list(clips)
    every = [clip for split in splits for clip in clips[split]]
    done = {(c.split, c.index) for c in every if _finished(out, world, c, fmt)}
    jobs = [(clip, str(out), fmt) for clip in every if (clip.split, clip.index) not in done]
    by_clip = _run_jobs(jobs, world, progress, already=len(done))
    by_clip.update({(c.split, c.index): clip_timeline(world, c) for c in every if (c.split, c.index) in done})

    stats = {}
    train_vocab = {g for c in clips.get("train", []) for g in c.sentence.glosses}
    train_sentences = {tuple(c.sentence.glosses) for c in clips.get("train", [])}
    for split in splits:
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
    (out / RUN_FILE).unlink(missing_ok=True)
    shutil.rmtree(out / TMP_DIR, ignore_errors=True)
    return out


def _finished(out: Path, world: World, clip: Clip, fmt: str) -> bool:
    """A clip is complete once its folder is in place (it is renamed there whole)."""
    folder = clip_folder(out, world, clip)
    return (folder / f"{clip.name}.mp4").is_file() if fmt == "mp4" else folder.is_dir()


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _run_jobs(jobs: list, world: World, progress: bool, already: int = 0) -> dict:
    """Render `jobs` in `world.params.workers` processes, with a progress bar and ETA (tqdm);
    returns {(split, index): (frames, segments)}. Clips finish out of order, so the bar moves per clip."""
    from tqdm import tqdm
    workers = world.params.workers
    bar = dict(total=len(jobs) + already, initial=already, desc="synth", unit="clip", disable=not progress,
               leave=False, smoothing=0.05)
    if workers <= 1 or len(jobs) < 2:
        _init_worker(world)
        return {key: (n, segments) for key, n, segments in map(_write_clip, tqdm(jobs, **bar))}
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(world,)) as pool:
        # a full-size clip takes seconds: one per task keeps the bar and its ETA moving
        big = world.params.width * world.params.height >= 128 * 128
        chunk = 1 if big else max(1, min(16, len(jobs) // (4 * workers)))
        return {key: (n, segments) for key, n, segments in tqdm(pool.imap_unordered(_write_clip, jobs, chunksize=chunk),
                                                                **bar)}


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
