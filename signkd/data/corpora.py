"""Corpus readers: the annotation files of each corpus, as its authors ship them, -> `Sample`s.

One `Sample` type for every corpus so that everything downstream (vocabularies, batching,
training, stats) is corpus-agnostic. The formats are the readers registered in
signkd/data/corpus_formats.py (`FORMATS`, each class's docstring says what it reads); the checks
they share are in signkd/data/corpus_reader.py.

`annotations=` (a file, or a folder holding the files) replaces the annotation location so a job
can run on annotation files alone; without `root` the samples then have `frames == ""`.
Bad input raises a one-line `DataError` naming file:line; `skip_bad=True` records it instead.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from signkd.data import corpus_formats  # noqa: F401  (defining the readers registers them)
from signkd.data.corpus_reader import READERS, CorpusReader, Sample, is_path
from signkd.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FORMATS = tuple(READERS)
SPLITS = ("train", "dev", "test")


def corpus_format(fmt: str) -> type[CorpusReader]:
    """The reader class of format `fmt` (its defaults: frame folder, glob, clean-up rule, fields)."""
    if fmt not in READERS:
        raise DataError(f"corpus format '{fmt}' is unknown; expected one of {', '.join(FORMATS)}")
    return READERS[fmt]


def check_config_format(fmt: str) -> None:
    """A config's `data.format` against the registry. The config layer sits below this one and keeps
    the field a plain string, so what loads a config (the commands, the pipeline) calls this at once:
    a typo fails before any work, not when the corpus is first read."""
    if fmt not in READERS:
        raise ConfigError(f"data.format: {fmt!r} is not a corpus format; expected one of {', '.join(FORMATS)}")


def _reader(fmt: str, root, split: str, annotations, dialogue, **options) -> CorpusReader:
    return corpus_format(fmt)(Path(root) if str(root) else None, split,
                              Path(annotations) if str(annotations) else None,
                              Path(dialogue) if str(dialogue) else None, **options)


def read_corpus(fmt: str, root: str | Path, split: str, *, annotations: str | Path = "",
                dialogue: str | Path = "", frames: str = "", skip_bad: bool = False,
                check_frames: bool = True, report: list | None = None) -> list[Sample]:
    """Read one split. `split` is "train"/"dev"/"test" or a path to that split's annotation file.

    `root`: the corpus root ("" = annotation-only: no frames). `annotations`: annotation file or
    folder overriding `root`'s. `dialogue`: context file or folder of `<split>.txt` files.
    `frames`: frame folder relative to `root` (or absolute) replacing the corpus default.
    `skip_bad`: skip bad samples, appending {split, id, file, line, reason} to `report`.
    """
    corpus_format(fmt)
    if not str(root) and not str(annotations) and not str(dialogue) and not is_path(split):
        raise DataError(f"{fmt} {split}: give a corpus root or annotation files")
    for what, path in (("corpus root", root), ("annotations", annotations), ("dialogue", dialogue)):
        if str(path) and not Path(path).exists():
            raise DataError(f"{fmt}: {what} not found: {path}")
    reader = _reader(fmt, root, split, annotations, dialogue, frames=frames, skip_bad=skip_bad,
                     check_frames=check_frames, report=report)
    samples = reader.read()
    if reader.skipped:
        log.warning("%s %s: skipped %d bad sample(s)", fmt, reader.split_name, reader.skipped)
    return samples


def annotation_file(fmt: str, root: str | Path, split: str, *, annotations: str | Path = "",
                    dialogue: str | Path = "") -> Path:
    """The file `read_corpus` would read for this split (MissingAnnotationError if there is none)."""
    return _reader(fmt, root, split, annotations, dialogue, check_frames=False).main_file()


def write_skip_report(report: list, path: str | Path) -> Path:
    """Write the samples skipped by `skip_bad=True` as JSON {"skipped": n, "samples": [...]}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"skipped": len(report), "samples": report}, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path
