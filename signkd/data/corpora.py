"""Corpus readers: the annotation files of each corpus, as its authors ship them, -> `Sample`s.

One `Sample` type for every corpus so that everything downstream (vocabularies, batching,
training, stats) is corpus-agnostic. Formats (paths relative to `root`):

- phoenix2014       annotations/manual/<split>.corpus.csv, `id|folder|signer|annotation` (header);
                    frames features/fullFrame-210x260px/<split>/<folder>, folder = `<id>/1/*.png`.
- phoenix2014t      annotations/manual/PHOENIX-2014-T.<split>.corpus.csv,
                    `name|video|start|end|speaker|orth|translation` (header optional);
                    frames features/fullFrame-210x260px/<split>/<video>, video = `<name>/*.png`.
- dialogue-phoenix  `<split>.txt`, lines `<split>/<name> <translation>%<context>%<GLOSSES>`,
                    joined to the PHOENIX-2014-T frames under `root`; the PHOENIX-2014-T csv, when
                    found, supplies the signer.
- csl-daily         sentence_label/csl2020ct_v2.pkl (dict, `info` = list of records) and
                    sentence_label/split_1.txt (`name|split`, header); frames
                    sentence/frames_512x512/<name>/*.jpg. The translation is the character
                    sequence `label_char` joined with spaces, so whitespace tokenisation gives the
                    character-level targets the corpus is evaluated on; an optional context file
                    in the dialogue format supplies contexts.
- synthetic         the PHOENIX-2014-T layout; contexts from <root>/dialogue/<split>.txt.

`annotations=` (a file, or a folder holding the files) replaces the annotation location so a job
can run on annotation files alone; without `root` the samples then have `frames == ""`.
Bad input raises a one-line `DataError` naming file:line; `skip_bad=True` records it instead.

Annotation files are downloads, so nothing in them is trusted: a folder, video or name that is
absolute or climbs out with `..` is refused (it would make the reader, and `prepare`, which names
its files by id, look outside the frame root), and the CSL-Daily pickle goes through a restricted
unpickler (signkd/data/safe_pickle.py) that cannot run code.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from signkd.data.names import unsafe_relative_path
from signkd.data.safe_pickle import safe_load
from signkd.errors import DataError

log = logging.getLogger(__name__)

FORMATS = ("phoenix2014", "phoenix2014t", "dialogue-phoenix", "csl-daily", "synthetic")
SPLITS = ("train", "dev", "test")

PHOENIX_FRAMES = "features/fullFrame-210x260px"
CSL_FRAMES = "sentence/frames_512x512"
PHOENIX2014_FIELDS = ("id", "folder", "signer", "annotation")
PHOENIX2014T_FIELDS = ("name", "video", "start", "end", "speaker", "orth", "translation")
CSL_SPLIT_FIELDS = ("name", "split")
DIALOGUE_FORMAT = "<split>/<name> <translation>%<context>%<GLOSSES>"
CSL_PICKLE = "csl2020ct_v2.pkl"
CSL_SPLIT_FILE = "split_1.txt"
MAX_LABEL_TOKENS = 10_000   # longest CSL-Daily label this reader takes (real sentences: < 100)
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


# ----------------------------------------------------------------------------- public API

def read_corpus(fmt: str, root: str | Path, split: str, *, annotations: str | Path = "",
                dialogue: str | Path = "", frames: str = "", skip_bad: bool = False,
                check_frames: bool = True, report: list | None = None) -> list[Sample]:
    """Read one split. `split` is "train"/"dev"/"test" or a path to that split's annotation file.

    `root`: the corpus root ("" = annotation-only: no frames). `annotations`: annotation file or
    folder overriding `root`'s. `dialogue`: context file or folder of `<split>.txt` files.
    `frames`: frame folder relative to `root` (or absolute) replacing the corpus default.
    `skip_bad`: skip bad samples, appending {split, id, file, line, reason} to `report`.
    """
    if fmt not in FORMATS:
        raise DataError(f"corpus format '{fmt}' is unknown; expected one of {', '.join(FORMATS)}")
    if not str(root) and not str(annotations) and not str(dialogue) and not _is_path(split):
        raise DataError(f"{fmt} {split}: give a corpus root or annotation files")
    for what, path in (("corpus root", root), ("annotations", annotations), ("dialogue", dialogue)):
        if str(path) and not Path(path).exists():
            raise DataError(f"{fmt}: {what} not found: {path}")
    ctx = _Reader(fmt, Path(root) if str(root) else None, split, Path(annotations) if str(annotations) else None,
                  Path(dialogue) if str(dialogue) else None, frames, skip_bad, check_frames, report)
    samples = ctx.read()
    if ctx.skipped:
        log.warning("%s %s: skipped %d bad sample(s)", fmt, ctx.split_name, ctx.skipped)
    return samples


def annotation_file(fmt: str, root: str | Path, split: str, *, annotations: str | Path = "",
                    dialogue: str | Path = "") -> Path:
    """The file `read_corpus` would read for this split (MissingAnnotationError if there is none)."""
    ctx = _Reader(fmt, Path(root) if str(root) else None, split, Path(annotations) if str(annotations) else None,
                  Path(dialogue) if str(dialogue) else None, "", False, False, None)
    return ctx.main_file()


def list_frames(sample: Sample) -> list[Path]:
    """Frame files of a sample in natural order (frame2 before frame10); DataError if none."""
    if not sample.frames:
        raise DataError(f"sample '{sample.id}': no frame folder (the corpus was read from annotations only)")
    folder = Path(sample.frames)
    try:
        found = sorted((p for p in folder.glob(sample.frame_glob) if p.is_file()), key=_natural_key)
    except ValueError as exc:   # a pattern glob cannot use, e.g. 'a**'
        raise DataError(f"sample '{sample.id}': frame pattern {sample.frame_glob!r}: {exc}") from None
    if not found:
        raise DataError(f"sample '{sample.id}': no frames matching '{sample.frame_glob}' in {folder}")
    return found


def write_skip_report(report: list, path: str | Path) -> Path:
    """Write the samples skipped by `skip_bad=True` as JSON {"skipped": n, "samples": [...]}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"skipped": len(report), "samples": report}, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def split_name(split: str) -> str:
    """The name samples of `split` (a split name or an annotation file) are reported under."""
    return infer_split_name(split) if _is_path(split) else split


def infer_split_name(path: str | Path) -> str:
    """"train"/"dev"/"test" when the file name says so (PHOENIX-2014-T.dev.corpus.csv), else its stem."""
    tokens = re.split(r"[^a-z0-9]+", Path(path).name.lower())
    for name, aliases in (("train", ("train",)), ("dev", ("dev", "val", "valid")), ("test", ("test",))):
        if any(a in tokens for a in aliases):
            return name
    return Path(path).name.split(".")[0]


# ----------------------------------------------------------------------------- implementation

def _is_path(split: str) -> bool:
    return any(c in str(split) for c in "/\\.")


_LINE_BREAKING = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    """`text` with every character that could start a new line (or move the cursor) escaped."""
    return _LINE_BREAKING.sub(lambda m: ascii(m.group())[1:-1], text)


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _split_glob(video: str, default_glob: str) -> tuple[str, str]:
    """`<id>/1/*.png` -> ("<id>/1", "*.png"); a plain folder keeps the corpus default pattern."""
    head, _, tail = video.strip().strip("/").rpartition("/")
    if _GLOB_CHARS & set(tail):
        return head, tail
    return video.strip().strip("/"), default_glob


def _lines(path: Path) -> Iterator[tuple[int, str]]:
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


@lru_cache(maxsize=4)
def _load_csl_pickle(path: str, mtime_ns: int, size: int) -> list:
    """The `info` records of the CSL-Daily pickle, unpickled without running code (cached by
    path, mtime and size: every split of a run reads the same file)."""
    data = safe_load(path, "CSL-Daily pickle")
    if not isinstance(data, dict) or not isinstance(data.get("info"), list):
        raise DataError(f"{path}: expected a dict whose 'info' is a list of sample records")
    return data["info"]


def _strings(value) -> list[str] | None:
    """A CSL-Daily label field (a string, or a list/tuple/array of strings) as a list of
    strings; None when it is anything else."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.size > MAX_LABEL_TOKENS:   # a pickle can declare 10**12 empty items
            return None
        value = value.tolist()
    if (isinstance(value, (list, tuple)) and len(value) <= MAX_LABEL_TOKENS
            and all(isinstance(v, str) for v in value)):
        return [str(v) for v in value]
    return None


def _signer(value) -> str | None:
    """A CSL-Daily record's `signer` (absent, a string or an integer, numpy's included) as text;
    None when it is anything else."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return None


def _csl_record_problem(record: dict) -> str:
    """What is wrong with the fields of a CSL-Daily record this reader uses ("" if nothing)."""
    for key in ("label_gloss", "label_char"):
        if _strings(record.get(key)) is None:
            return f"field '{key}': expected a string or a list of strings, got {type(record[key]).__name__}"
    if _signer(record.get("signer")) is None:
        return f"field 'signer': expected a string or an integer, got {type(record['signer']).__name__}"
    return ""


def _synthetic_frames(root: Path) -> str:
    """The frame folder a synthetic corpus names in its corpus.json (e.g. features/fullFrame-32x32px);
    "" when there is no corpus.json. The value is corpus data, so it must stay below the root."""
    path = root / "corpus.json"
    if not path.is_file():
        return ""
    try:
        meta = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(_one_line(f"{path}: not a readable JSON file ({exc})")) from None
    frames = meta.get("frames", "") if isinstance(meta, dict) else None
    if not isinstance(frames, str):
        raise DataError(f"{path}: expected an object whose 'frames' is a folder name")
    reason = unsafe_relative_path(frames)
    if reason:
        raise DataError(_one_line(f"{path}: field 'frames' {frames!r} {reason}; "
                                  "expected a folder below the corpus root"))
    return frames


@dataclass
class _DialogueLine:
    line: int
    split: str
    name: str
    translation: str
    context: str
    glosses: list[str]


class _Reader:
    """One `read_corpus` call: resolves files, parses them, checks and collects samples."""

    def __init__(self, fmt, root, split, annotations, dialogue, frames, skip_bad, check_frames, report):
        self.fmt, self.root, self.annotations, self.dialogue = fmt, root, annotations, dialogue
        self.frames_override, self.skip_bad, self.check_frames = frames, skip_bad, check_frames
        self.report = report if report is not None else []
        self.split_path = Path(split) if _is_path(split) else None
        self.split_name = split_name(split)
        self.skipped = 0
        self.samples: list[Sample] = []
        self._first_seen: dict[str, str] = {}

    # --- errors and collection
    def bad(self, file, line, sample_id: str, reason: str) -> None:
        where = f"{file}:{line}"
        if not self.skip_bad:
            raise DataError(_one_line(f"{where}: {reason}"))
        self.report.append({"split": self.split_name, "id": sample_id, "file": str(file), "line": line,
                            "reason": _one_line(reason)})
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
        if _LINE_BREAKING.search(sample.id):   # it would break every later message and file naming it
            return self.bad(file, line, sample.id, f"id {sample.id!r} contains a control character")
        if self.seen_before(file, line, sample.id):
            return
        if not sample.glosses:
            return self.bad(file, line, sample.id, f"sample '{sample.id}': empty gloss sequence")
        if sample.frames and self.check_frames and not os.path.isdir(sample.frames):
            return self.bad(file, line, sample.id, f"sample '{sample.id}': frame folder not found: {sample.frames}")
        self.samples.append(sample)

    # --- locations
    def frames_base(self, default: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / (self.frames_override or default)

    def find(self, names: list[str], root_dirs: list[str], what: str, *, suffixes=()) -> Path:
        """The annotation file: split path > --annotations (file or folder) > root/<root_dirs>."""
        if self.split_path is not None:
            if not self.split_path.is_file():
                raise MissingAnnotationError(f"{self.fmt} {self.split_name}: {what} not found: {self.split_path}")
            return self.split_path
        if self.annotations is not None:
            if self.annotations.is_file() and (not suffixes or self.annotations.suffix in suffixes):
                return self.annotations
            tried = [self.annotations / sub / n for sub in ("", "annotations/manual", "sentence_label") for n in names]
        elif self.root is not None:
            tried = [self.root / sub / n for sub in root_dirs for n in names]
        else:
            raise MissingAnnotationError(f"{self.fmt} {self.split_name}: no root or annotations to find the {what} in")
        for path in tried:
            if path.is_file():
                return path
        raise MissingAnnotationError(f"{self.fmt} {self.split_name}: {what} not found: {tried[0]}")

    def phoenix2014t_csv(self) -> Path:
        return self.find([f"PHOENIX-2014-T.{self.split_name}.corpus.csv"], ["annotations/manual"],
                         "PHOENIX-2014-T annotation file", suffixes=(".csv", ".txt"))

    def dialogue_file(self, required: bool) -> Path | None:
        """Dialogue file of this split: --dialogue > split path/--annotations (dialogue-phoenix) > root/dialogue."""
        name = f"{self.split_name}.txt"
        candidates: list[Path] = []
        if self.dialogue is not None:
            candidates = [self.dialogue if self.dialogue.is_file() else self.dialogue / name]
        elif self.fmt == "dialogue-phoenix" and self.split_path is not None:
            candidates = [self.split_path]
        elif self.fmt == "dialogue-phoenix" and self.annotations is not None:
            candidates = [self.annotations] if self.annotations.is_file() else [self.annotations / name]
        if not candidates and self.root is not None:
            candidates = [self.root / "dialogue" / name]
        for path in candidates:
            if path.is_file():
                return path
        if required or self.dialogue is not None:
            where = candidates[0] if candidates else "(give --dialogue)"
            raise MissingAnnotationError(f"{self.fmt} {self.split_name}: dialogue file not found: {where}")
        return None

    def main_file(self) -> Path:
        if self.fmt == "phoenix2014":
            return self.find([f"{self.split_name}.corpus.csv"], ["annotations/manual"], "PHOENIX-2014 annotation file",
                             suffixes=(".csv", ".txt"))
        if self.fmt in ("phoenix2014t", "synthetic"):
            return self.phoenix2014t_csv()
        if self.fmt == "dialogue-phoenix":
            return self.dialogue_file(required=True)
        return self.csl_files()[1]

    # --- parsing helpers
    def rows(self, path: Path, fields: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
        """(line, fields) of a `|`-separated file; a header row equal to `fields` is skipped."""
        first = True
        for number, line in _lines(path):
            parts = [p.strip() for p in line.split("|")]
            if first and [p.lower() for p in parts] == list(fields):
                first = False
                continue
            first = False
            if len(parts) != len(fields):
                self.bad(path, number, parts[0], f"expected '{'|'.join(fields)}', got {len(parts)} fields")
                continue
            yield number, parts

    def dialogue_lines(self, path: Path) -> Iterator[_DialogueLine]:
        registry: dict[str, str] = {}
        for number, line in _lines(path):
            head, _, rest = line.strip().partition(" ")
            split, _, name = head.rpartition("/")
            parts = rest.split("%")
            if len(parts) != 3:
                self.bad(path, number, name, f"expected '{DIALOGUE_FORMAT}', got {len(parts)} '%'-separated fields")
                continue
            if self.fmt != "dialogue-phoenix" and self.seen_before(path, number, name, registry):
                continue  # context files: a duplicate makes the context ambiguous
            yield _DialogueLine(number, split or self.split_name, name, parts[0].strip(), parts[1].strip(),
                                parts[2].split())

    def contexts(self, required: bool) -> dict[str, str]:
        path = self.dialogue_file(required)
        return {} if path is None else {d.name: d.context for d in self.dialogue_lines(path)}

    # --- readers
    def read(self) -> list[Sample]:
        getattr(self, "read_" + self.fmt.replace("-", "_"))()
        return self.samples

    def read_phoenix2014(self) -> None:
        path = self.main_file()
        base = self.frames_base(PHOENIX_FRAMES)
        for number, (sid, folder, signer, annotation) in self.rows(path, PHOENIX2014_FIELDS):
            if self.unsafe(path, number, sid, "id", sid) or self.unsafe(path, number, sid, "folder", folder):
                continue
            sub, pattern = _split_glob(folder, "*.png")
            if not sub:
                self.bad(path, number, sid, f"field 'folder' {folder!r} names no folder; expected '<id>/1/*.png'")
                continue
            frames = str(base / self.split_name / sub) if base else ""
            self.add(path, number, Sample(sid, self.split_name, frames, annotation.split(), "", "", signer, pattern))

    def read_phoenix2014t(self, contexts: dict[str, str] | None = None) -> None:
        path = self.main_file()
        if contexts is None:
            contexts = self.contexts(required=False) if self.dialogue is not None else {}
        base = self.frames_base(PHOENIX_FRAMES)
        for number, (name, video, _start, _end, speaker, orth, translation) in self.rows(path, PHOENIX2014T_FIELDS):
            if self.unsafe(path, number, name, "name", name) or self.unsafe(path, number, name, "video", video):
                continue
            sub, pattern = _split_glob(video or name, "*.png")
            if not sub and name:
                self.bad(path, number, name, f"field 'video' {video!r} names no folder; expected '<name>/*.png'")
                continue
            frames = str(base / self.split_name / sub) if base else ""
            self.add(path, number, Sample(name, self.split_name, frames, orth.split(), translation,
                                          contexts.get(name, ""), speaker, pattern))

    def read_synthetic(self) -> None:
        if not self.frames_override and self.root is not None:
            self.frames_override = _synthetic_frames(self.root)
        self.read_phoenix2014t(self.contexts(required=False))

    def read_dialogue_phoenix(self) -> None:
        path = self.main_file()
        videos = self.phoenix2014t_videos()
        base = self.frames_base(PHOENIX_FRAMES)
        for d in self.dialogue_lines(path):
            if self.unsafe(path, d.line, d.name, "split", d.split) or self.unsafe(path, d.line, d.name, "name", d.name):
                continue
            signer, video, where = videos.get(d.name, ("", d.name, None))
            if where is not None and self.unsafe(where[0], where[1], d.name, "video", video):
                continue
            sub, pattern = _split_glob(video, "*.png")
            if not sub and d.name:
                self.bad(path, d.line, d.name, f"video {video!r} names no folder")
                continue
            frames = str(base / d.split / sub) if base else ""
            self.add(path, d.line, Sample(d.name, self.split_name, frames, d.glosses, d.translation, d.context,
                                          signer, pattern))

    def phoenix2014t_videos(self) -> dict[str, tuple[str, str, tuple]]:
        """name -> (signer, video, (csv, line)) from the PHOENIX-2014-T csv when it is around (optional)."""
        try:
            keep, self.split_path = self.split_path, None
            if self.annotations is not None and self.annotations.is_file() and self.annotations.suffix == ".txt":
                return {}
            path = self.phoenix2014t_csv()
        except MissingAnnotationError:
            return {}
        finally:
            self.split_path = keep
        return {p[0]: (p[4], p[1], (path, n)) for n, p in self.rows(path, PHOENIX2014T_FIELDS)}

    def csl_files(self) -> tuple[Path, Path]:
        """(pickle, split file); a split path replaces the split file, --annotations may name the pickle."""
        if self.annotations is not None and self.annotations.is_file() and self.annotations.suffix == ".pkl":
            pkl = self.annotations
            split_file = self.split_path or pkl.parent / CSL_SPLIT_FILE
        else:
            keep, self.split_path = self.split_path, None
            try:
                pkl = self.find([CSL_PICKLE], ["sentence_label"], "CSL-Daily pickle", suffixes=(".pkl",))
            finally:
                self.split_path = keep
            split_file = self.split_path or pkl.parent / CSL_SPLIT_FILE
        if not pkl.is_file():
            raise MissingAnnotationError(f"csl-daily {self.split_name}: CSL-Daily pickle not found: {pkl}")
        if not split_file.is_file():
            raise MissingAnnotationError(f"csl-daily {self.split_name}: split file not found: {split_file}")
        return pkl, split_file

    def read_csl_daily(self) -> None:
        pkl, split_file = self.csl_files()
        stat = pkl.stat()
        records = _load_csl_pickle(str(pkl), stat.st_mtime_ns, stat.st_size)
        by_name: dict[str, tuple[int, dict]] = {}
        for index, record in enumerate(records):
            name = record.get("name") if isinstance(record, dict) else None
            name = str(name) if isinstance(name, str) else None   # a numpy string becomes a plain one
            if name is None or not name.strip():
                self.bad(pkl, f"info[{index}]", "", "expected a record (dict) with a string 'name', "
                                                    "'label_gloss', 'label_char'")
            elif self.unsafe(pkl, f"info[{index}]", name, "name", name):
                continue
            elif name in by_name:
                self.bad(pkl, f"info[{index}]", name, f"duplicate id '{name}' (first at info[{by_name[name][0]}])")
            else:
                by_name[name] = (index, record)
        wanted = [(n, p) for n, p in self.rows(split_file, CSL_SPLIT_FIELDS)
                  if self.split_path is not None or p[1] == self.split_name]
        contexts = self.contexts(required=False) if self.dialogue is not None else {}
        base = self.frames_base(CSL_FRAMES)
        for number, (name, split) in wanted:
            if self.unsafe(split_file, number, name, "split", split):
                continue
            if name not in by_name:
                self.bad(split_file, number, name, f"sample '{name}' is not in {pkl.name}")
                continue
            index, record = by_name[name]
            problem = _csl_record_problem(record)
            if problem:
                self.bad(pkl, f"info[{index}]", name, problem)
                continue
            glosses = _strings(record.get("label_gloss", []))   # a missing field: [] (None -> [] too)
            chars = record.get("label_char", [])
            chars = list(chars) if isinstance(chars, str) else _strings(chars)   # a string: its characters
            translation = " ".join(c for c in chars if c.strip())
            signer = _signer(record.get("signer"))
            frames = str(base / name) if base else ""
            self.add(split_file, number, Sample(name, split, frames, glosses, translation, contexts.get(name, ""),
                                                signer, "*.jpg"))
