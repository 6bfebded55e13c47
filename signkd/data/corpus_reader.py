"""What every corpus reader shares: the `Sample` it yields, the registry of formats, and the
checks and file lookups of one read (signkd/data/corpus_formats.py holds one reader per format).

Why a registry: a format is one `CorpusReader` subclass that names itself (`name = "..."`) and
carries its defaults (frame folder, frame glob, clean-up rule, the fields of its annotation file);
defining the class registers it, and every list of formats (the CLI's choices, `eval.cleanup: auto`,
back-translation, the pipeline's fingerprints, the README's table) is read from `READERS`.

Annotation files are downloads, so nothing in them is trusted: a folder, video or name that is
absolute or climbs out with `..` is refused (it would make the reader, and `prepare`, which names
its files by id, look outside the frame root). Bad input raises a one-line `DataError` naming
file:line; `skip_bad=True` records it instead.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

from signkd.data.names import unsafe_relative_path
from signkd.errors import DataError

PHOENIX_FRAMES = "features/fullFrame-210x260px"
DIALOGUE_FORMAT = "<split>/<name> <translation>%<context>%<GLOSSES>"
_GLOB_CHARS = set("*?[")


@dataclass
class Sample:
    id: str            # e.g. "11August_2010_Wednesday_tagesschau-2" (no split prefix)
    split: str         # "train" | "dev" | "test"
    frames: str        # absolute folder holding the frame images ("" when annotation-only)
    glosses: list[str]
    translation: str   # spoken sentence ("" if the corpus has none)
    context: str       # dialogue context ("" if none)
    signer: str
    frame_glob: str = "*.png"   # pattern of frame files inside `frames`


class MissingAnnotationError(DataError):
    """The annotation file of a split does not exist (`corpus stats` reports the split as absent)."""


def split_name(split: str) -> str:
    """The name samples of `split` (a split name or an annotation file) are reported under."""
    return infer_split_name(split) if is_path(split) else split


def infer_split_name(path: str | Path) -> str:
    """"train"/"dev"/"test" when the file name says so (PHOENIX-2014-T.dev.corpus.csv), else its stem."""
    tokens = re.split(r"[^a-z0-9]+", Path(path).name.lower())
    for name, aliases in (("train", ("train",)), ("dev", ("dev", "val", "valid")), ("test", ("test",))):
        if any(a in tokens for a in aliases):
            return name
    return Path(path).name.split(".")[0]


def is_path(split: str) -> bool:
    """Whether `split` names an annotation file rather than a split."""
    return any(c in str(split) for c in "/\\.")


LINE_BREAKING = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with every character that could start a new line (or move the cursor) escaped."""
    return LINE_BREAKING.sub(lambda m: ascii(m.group())[1:-1], text)


def split_glob(video: str, default_glob: str) -> tuple[str, str]:
    """`<id>/1/*.png` -> ("<id>/1", "*.png"); a plain folder keeps the corpus default pattern."""
    head, _, tail = video.strip().strip("/").rpartition("/")
    if _GLOB_CHARS & set(tail):
        return head, tail
    return video.strip().strip("/"), default_glob


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of a UTF-8 text file, without blank lines or line ends."""
    try:
        text = path.read_text(encoding="utf-8-sig")   # -sig: a BOM never sticks to the first id
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


@dataclass
class DialogueLine:
    line: int
    split: str
    name: str
    translation: str
    context: str
    glosses: list[str]


READERS: dict[str, type["CorpusReader"]] = {}   # format name -> reader class, in definition order


class CorpusReader:
    """One read of one split of a corpus: resolves its files, parses them, checks and collects
    samples. A subclass that sets `name` is a corpus format (registered in `READERS`); it
    implements `main_file` and `read`, and sets the defaults below where they differ."""

    name: ClassVar[str] = ""
    default_frames: ClassVar[str] = PHOENIX_FRAMES   # frame folder below the root (`data.frames` replaces it)
    frame_glob: ClassVar[str] = "*.png"              # frame files inside a sample's folder
    cleanup: ClassVar[str] = "none"                  # metrics.CLEANUP_RULES used by `eval.cleanup: auto`
    fields: ClassVar[tuple[str, ...]] = ()           # columns of its `|`-separated annotation file, if any
    one_file_per_split: ClassVar[bool] = True        # False: one annotation file holds every split
    extra_files: ClassVar[tuple[str, ...]] = ()      # files below the root its samples depend on besides annotations
    layout: ClassVar[tuple[str, str]] = ("", "")     # (annotations, frames) as the README's table shows them

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in READERS:
                raise TypeError(f"corpus format '{cls.name}' is defined twice ({READERS[cls.name].__name__}, "
                                f"{cls.__name__})")
            READERS[cls.name] = cls

    def __init__(self, root: Path | None, split: str, annotations: Path | None = None, dialogue: Path | None = None,
                 frames: str = "", skip_bad: bool = False, check_frames: bool = True, report: list | None = None):
        self.root, self.annotations, self.dialogue = root, annotations, dialogue
        self.frames_override, self.skip_bad, self.check_frames = frames, skip_bad, check_frames
        self.report = report if report is not None else []
        self.split_path = Path(split) if is_path(split) else None
        self.split_name = split_name(split)
        self.skipped = 0
        self.samples: list[Sample] = []
        self._first_seen: dict[str, str] = {}

    # --- what a format implements
    def main_file(self) -> Path:
        """The annotation file this split is read from (MissingAnnotationError if there is none)."""
        raise NotImplementedError

    def read(self) -> list[Sample]:
        """Parse the split's files into `self.samples` (through `add`) and return them."""
        raise NotImplementedError

    # --- errors and collection
    def bad(self, file, line, sample_id: str, reason: str) -> None:
        where = f"{file}:{line}"
        if not self.skip_bad:
            raise DataError(one_line(f"{where}: {reason}"))
        self.report.append({"split": self.split_name, "id": sample_id, "file": str(file), "line": line,
                            "reason": one_line(reason)})
        self.skipped += 1

    def unsafe(self, file, line, sample_id: str, field_name: str, value: str) -> bool:
        """Refuse (or, with skip_bad, record) a path-like field that would leave the frame root."""
        reason = unsafe_relative_path(value)
        if reason:
            self.bad(file, line, sample_id, f"field '{field_name}' {value.strip()!r} {reason}; "
                                            "expected a name below the corpus frame folder")
        return bool(reason)

    def seen_before(self, file, line, sample_id: str, registry: dict | None = None) -> bool:
        registry = self._first_seen if registry is None else registry
        if sample_id in registry:
            self.bad(file, line, sample_id, f"duplicate id '{sample_id}' (first at {registry[sample_id]})")
            return True
        registry[sample_id] = f"{Path(file).name}:{line}"
        return False

    def add(self, file, line, sample: Sample) -> None:
        if not sample.id:
            return self.bad(file, line, sample.id, "empty id")
        if LINE_BREAKING.search(sample.id):   # it would break every later message and file naming it
            return self.bad(file, line, sample.id, f"id {sample.id!r} contains a control character")
        if self.seen_before(file, line, sample.id):
            return
        if not sample.glosses:
            return self.bad(file, line, sample.id, f"sample '{sample.id}': empty gloss sequence")
        if sample.frames and self.check_frames and not os.path.isdir(sample.frames):
            return self.bad(file, line, sample.id, f"sample '{sample.id}': frame folder not found: {sample.frames}")
        self.samples.append(sample)

    # --- locations
    def frames_base(self, default: str = "") -> Path | None:
        """The frame folder (`data.frames` > `default` > the format's); None without a root."""
        if self.root is None:
            return None
        return self.root / (self.frames_override or default or self.default_frames)

    def find(self, names: list[str], root_dirs: list[str], what: str, *, suffixes=(),
             split_path: bool = True) -> Path:
        """The annotation file: split path (unless `split_path` is False) > --annotations (file or
        folder) > root/<root_dirs>."""
        if split_path and self.split_path is not None:
            if not self.split_path.is_file():
                raise MissingAnnotationError(f"{self.name} {self.split_name}: {what} not found: {self.split_path}")
            return self.split_path
        if self.annotations is not None:
            if self.annotations.is_file() and (not suffixes or self.annotations.suffix in suffixes):
                return self.annotations
            tried = [self.annotations / sub / n for sub in ("", "annotations/manual", "sentence_label") for n in names]
        elif self.root is not None:
            tried = [self.root / sub / n for sub in root_dirs for n in names]
        else:
            raise MissingAnnotationError(f"{self.name} {self.split_name}: no root or annotations to find the {what} in")
        for path in tried:
            if path.is_file():
                return path
        raise MissingAnnotationError(f"{self.name} {self.split_name}: {what} not found: {tried[0]}")

    def own_dialogue_files(self) -> list[Path]:
        """Where this format's own annotations name a dialogue file ([] unless it reads one)."""
        return []

    def dialogue_file(self, required: bool) -> Path | None:
        """Dialogue file of this split: --dialogue > `own_dialogue_files` > root/dialogue."""
        name = f"{self.split_name}.txt"
        candidates: list[Path] = []
        if self.dialogue is not None:
            candidates = [self.dialogue if self.dialogue.is_file() else self.dialogue / name]
        else:
            candidates = self.own_dialogue_files()
        if not candidates and self.root is not None:
            candidates = [self.root / "dialogue" / name]
        for path in candidates:
            if path.is_file():
                return path
        if required or self.dialogue is not None:
            where = candidates[0] if candidates else "(give --dialogue)"
            raise MissingAnnotationError(f"{self.name} {self.split_name}: dialogue file not found: {where}")
        return None

    # --- parsing helpers
    def rows(self, path: Path, fields: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
        """(line, fields) of a `|`-separated file; a header row equal to `fields` is skipped."""
        first = True
        for number, line in text_lines(path):
            parts = [p.strip() for p in line.split("|")]
            if first and [p.lower() for p in parts] == list(fields):
                first = False
                continue
            first = False
            if len(parts) != len(fields):
                self.bad(path, number, parts[0], f"expected '{'|'.join(fields)}', got {len(parts)} fields")
                continue
            yield number, parts

    def dialogue_lines(self, path: Path, *, contexts: bool) -> Iterator[DialogueLine]:
        """The lines of a dialogue file. `contexts`: the file only supplies contexts, so a
        duplicate name (an ambiguous context) is bad here; as samples, `add` checks ids."""
        registry: dict[str, str] = {}
        for number, line in text_lines(path):
            head, _, rest = line.strip().partition(" ")
            split, _, name = head.rpartition("/")
            parts = rest.split("%")
            if len(parts) != 3:
                self.bad(path, number, name, f"expected '{DIALOGUE_FORMAT}', got {len(parts)} '%'-separated fields")
                continue
            if contexts and self.seen_before(path, number, name, registry):
                continue
            yield DialogueLine(number, split or self.split_name, name, parts[0].strip(), parts[1].strip(),
                               parts[2].split())

    def contexts(self, required: bool) -> dict[str, str]:
        path = self.dialogue_file(required)
        return {} if path is None else {d.name: d.context for d in self.dialogue_lines(path, contexts=True)}
