"""One reader per corpus format, each the annotation files of its corpus as its authors ship them.

Defining a `CorpusReader` subclass with a `name` registers the format (signkd/data/corpus_reader.py);
its class docstring says what it reads. Paths are relative to the corpus root; `annotations=` (a
file, or a folder holding the files) replaces the annotation location so a job can run on
annotation files alone, and without a root the samples then have `frames == ""`.

The CSL-Daily pickle goes through a restricted unpickler (signkd/data/safe_pickle.py) that cannot
run code, and its label fields are size-checked before use.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from signkd.data.corpus_reader import CorpusReader, MissingAnnotationError, Sample, one_line, split_glob
from signkd.data.names import unsafe_relative_path
from signkd.data.safe_pickle import safe_load
from signkd.errors import DataError

PHOENIX2014_FIELDS = ("id", "folder", "signer", "annotation")
PHOENIX2014T_FIELDS = ("name", "video", "start", "end", "speaker", "orth", "translation")
CSL_SPLIT_FIELDS = ("name", "split")
CSL_PICKLE = "csl2020ct_v2.pkl"
CSL_SPLIT_FILE = "split_1.txt"
MAX_LABEL_TOKENS = 10_000   # longest CSL-Daily label this reader takes (real sentences: < 100)


class Phoenix2014(CorpusReader):
    """annotations/manual/<split>.corpus.csv, `id|folder|signer|annotation` (header); frames
    features/fullFrame-210x260px/<split>/<folder>, folder = `<id>/1/*.png`."""

    name = "phoenix2014"
    cleanup = "phoenix2014"
    fields = PHOENIX2014_FIELDS
    layout = ("`annotations/manual/{train,dev,test}.corpus.csv`",
              "`features/fullFrame-210x260px/<split>/<folder glob>`")

    def main_file(self) -> Path:
        return self.find([f"{self.split_name}.corpus.csv"], ["annotations/manual"], "PHOENIX-2014 annotation file",
                         suffixes=(".csv", ".txt"))

    def read(self) -> list[Sample]:
        path = self.main_file()
        base = self.frames_base()
        for number, (sid, folder, signer, annotation) in self.rows(path, self.fields):
            if self.unsafe(path, number, sid, "id", sid) or self.unsafe(path, number, sid, "folder", folder):
                continue
            sub, pattern = split_glob(folder, self.frame_glob)
            if not sub:
                self.bad(path, number, sid, f"field 'folder' {folder!r} names no folder; expected '<id>/1/*.png'")
                continue
            frames = str(base / self.split_name / sub) if base else ""
            self.add(path, number, Sample(sid, self.split_name, frames, annotation.split(), "", "", signer, pattern))
        return self.samples


def _phoenix2014t_csv(reader: CorpusReader, *, split_path: bool = True) -> Path:
    return reader.find([f"PHOENIX-2014-T.{reader.split_name}.corpus.csv"], ["annotations/manual"],
                       "PHOENIX-2014-T annotation file", suffixes=(".csv", ".txt"), split_path=split_path)


class Phoenix2014T(CorpusReader):
    """annotations/manual/PHOENIX-2014-T.<split>.corpus.csv, `name|video|start|end|speaker|orth|translation`
    (header optional); frames features/fullFrame-210x260px/<split>/<video>, video = `<name>/*.png`.
    Contexts only from an explicit dialogue file (`data.dialogue`)."""

    name = "phoenix2014t"
    cleanup = "phoenix2014t"
    fields = PHOENIX2014T_FIELDS
    layout = ("`annotations/manual/PHOENIX-2014-T.<split>.corpus.csv` (header optional)",
              "`features/fullFrame-210x260px/<split>/<name>/`")

    def main_file(self) -> Path:
        return _phoenix2014t_csv(self)

    def read(self) -> list[Sample]:
        return self.read_rows(None, self.default_frames)

    def read_rows(self, contexts: dict[str, str] | None, frames: str) -> list[Sample]:
        """The csv's samples, their frames below `frames`; `contexts` None: from --dialogue if given."""
        path = self.main_file()
        if contexts is None:
            contexts = self.contexts(required=False) if self.dialogue is not None else {}
        base = self.frames_base(frames)
        for number, (name, video, _start, _end, speaker, orth, translation) in self.rows(path, self.fields):
            if self.unsafe(path, number, name, "name", name) or self.unsafe(path, number, name, "video", video):
                continue
            sub, pattern = split_glob(video or name, self.frame_glob)
            if not sub and name:
                self.bad(path, number, name, f"field 'video' {video!r} names no folder; expected '<name>/*.png'")
                continue
            frames_dir = str(base / self.split_name / sub) if base else ""
            self.add(path, number, Sample(name, self.split_name, frames_dir, orth.split(), translation,
                                          contexts.get(name, ""), speaker, pattern))
        return self.samples


class DialoguePhoenix(CorpusReader):
    """`<split>.txt`, lines `<split>/<name> <translation>%<context>%<GLOSSES>`, joined to the
    PHOENIX-2014-T frames under the root; the PHOENIX-2014-T csv, when found, supplies the signer
    and the video folder."""

    name = "dialogue-phoenix"
    cleanup = "phoenix2014t"
    layout = ("`<split>.txt` (`<split>/<name> <translation>%<context>%<GLOSSES>`, `data.dialogue`)",
              "PHOENIX-2014-T frames")

    def own_dialogue_files(self) -> list[Path]:
        if self.split_path is not None:
            return [self.split_path]
        if self.annotations is not None:
            return [self.annotations] if self.annotations.is_file() else [self.annotations / f"{self.split_name}.txt"]
        return []

    def main_file(self) -> Path:
        return self.dialogue_file(required=True)

    def read(self) -> list[Sample]:
        path = self.main_file()
        videos = self.phoenix2014t_videos()
        base = self.frames_base()
        for d in self.dialogue_lines(path, contexts=False):
            if self.unsafe(path, d.line, d.name, "split", d.split) or self.unsafe(path, d.line, d.name, "name", d.name):
                continue
            signer, video, where = videos.get(d.name, ("", d.name, None))
            if where is not None and self.unsafe(where[0], where[1], d.name, "video", video):
                continue
            sub, pattern = split_glob(video, self.frame_glob)
            if not sub and d.name:
                self.bad(path, d.line, d.name, f"video {video!r} names no folder")
                continue
            frames = str(base / d.split / sub) if base else ""
            self.add(path, d.line, Sample(d.name, self.split_name, frames, d.glosses, d.translation, d.context,
                                          signer, pattern))
        return self.samples

    def phoenix2014t_videos(self) -> dict[str, tuple[str, str, tuple]]:
        """name -> (signer, video, (csv, line)) from the PHOENIX-2014-T csv when it is around (optional)."""
        if self.annotations is not None and self.annotations.is_file() and self.annotations.suffix == ".txt":
            return {}
        try:
            path = _phoenix2014t_csv(self, split_path=False)
        except MissingAnnotationError:
            return {}
        return {p[0]: (p[4], p[1], (path, n)) for n, p in self.rows(path, PHOENIX2014T_FIELDS)}


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


class CslDaily(CorpusReader):
    """sentence_label/csl2020ct_v2.pkl (dict, `info` = list of records) and sentence_label/split_1.txt
    (`name|split`, header); frames sentence/frames_512x512/<name>/*.jpg. The translation is the
    character sequence `label_char` joined with spaces, so whitespace tokenisation gives the
    character-level targets the corpus is evaluated on; an optional context file in the dialogue
    format supplies contexts. A split path replaces the split file; `annotations` may name the pickle."""

    name = "csl-daily"
    default_frames = "sentence/frames_512x512"
    frame_glob = "*.jpg"
    cleanup = "csl-daily"
    fields = CSL_SPLIT_FIELDS
    one_file_per_split = False
    layout = ("`sentence_label/csl2020ct_v2.pkl` + `sentence_label/split_1.txt`", "`sentence/frames_512x512/<name>/`")

    def main_file(self) -> Path:
        return self.csl_files()[1]

    def csl_files(self) -> tuple[Path, Path]:
        """(pickle, split file)."""
        if self.annotations is not None and self.annotations.is_file() and self.annotations.suffix == ".pkl":
            pkl = self.annotations
        else:
            pkl = self.find([CSL_PICKLE], ["sentence_label"], "CSL-Daily pickle", suffixes=(".pkl",), split_path=False)
        split_file = self.split_path or pkl.parent / CSL_SPLIT_FILE
        if not pkl.is_file():
            raise MissingAnnotationError(f"csl-daily {self.split_name}: CSL-Daily pickle not found: {pkl}")
        if not split_file.is_file():
            raise MissingAnnotationError(f"csl-daily {self.split_name}: split file not found: {split_file}")
        return pkl, split_file

    def read(self) -> list[Sample]:
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
        wanted = [(n, p) for n, p in self.rows(split_file, self.fields)
                  if self.split_path is not None or p[1] == self.split_name]
        contexts = self.contexts(required=False) if self.dialogue is not None else {}
        base = self.frames_base()
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
                                                signer, self.frame_glob))
        return self.samples


def _synthetic_frames(root: Path) -> str:
    """The frame folder a synthetic corpus names in its corpus.json (e.g. features/fullFrame-32x32px);
    "" when there is no corpus.json. The value is corpus data, so it must stay below the root."""
    path = root / "corpus.json"
    if not path.is_file():
        return ""
    try:
        meta = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(one_line(f"{path}: not a readable JSON file ({exc})")) from None
    frames = meta.get("frames", "") if isinstance(meta, dict) else None
    if not isinstance(frames, str):
        raise DataError(f"{path}: expected an object whose 'frames' is a folder name")
    reason = unsafe_relative_path(frames)
    if reason:
        raise DataError(one_line(f"{path}: field 'frames' {frames!r} {reason}; "
                                 "expected a folder below the corpus root"))
    return frames


class Synthetic(Phoenix2014T):
    """The PHOENIX-2014-T layout written by `signkd synth`, its frame folder named in corpus.json;
    contexts from <root>/dialogue/<split>.txt."""

    name = "synthetic"
    cleanup = "none"
    extra_files = ("corpus.json",)   # how its frames were rendered, which the annotations do not show
    layout = ("the PHOENIX-2014-T layout + `dialogue/<split>.txt`", "PHOENIX-2014-T layout")

    def read(self) -> list[Sample]:
        frames = _synthetic_frames(self.root) if self.root is not None and not self.frames_override else ""
        return self.read_rows(self.contexts(required=False), frames)
