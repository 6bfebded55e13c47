"""Property-based fuzzing of every corpus annotation reader (issue #20): PHOENIX-2014 csv,
PHOENIX-2014-T csv, dialogue-PHOENIX txt, CSL-Daily pickle + split file. Whatever the input, a
reader returns Samples or raises a SignkdError whose message is one line, never anything else;
and no Sample's frame folder lies outside the corpus frame root."""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signkd.data.corpora import read_corpus
from signkd.data.corpus_reader import Sample
from signkd.errors import SignkdError

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# pieces that hit every separator and path rule of the formats
TOKENS = ["|", "%", "\n", "\r\n", "\r", " ", "/", "..", ".", "*", "?", "[", "**", "\\", "\x00", "\ufeff",
          "\u2028", "\x85", "\t", "a", "B", "Ä", "手", "-1", "train/", "dev/", "/etc", "C:", "name", "split",
          "id|folder|signer|annotation", "name|video|start|end|speaker|orth|translation", "x/*.png"]
text_pieces = st.lists(st.sampled_from(TOKENS) | st.text(max_size=6), max_size=40).map("".join)
field_values = st.sampled_from(["", " ", "..", "../x", "/abs/x", "a/../../b", "x/../y", "*", "a**", "\x00", "\r",
                                "\ufeff", "|", "%", "C:x", "x\\..\\y", "Ä" * 30, "dev/..", "ok"]) | st.text(max_size=8)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]


def encode(text: str, encoding: str, crlf: bool) -> bytes:
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode(encoding, errors="replace")


def check(call, frame_root: Path | None = None) -> list:
    """Run a reader: Samples whose frames stay below `frame_root`, or a one-line SignkdError."""
    try:
        samples = call()
    except SignkdError as exc:
        message = str(exc)
        assert message and len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message, message
        return []
    assert isinstance(samples, list) and all(isinstance(s, Sample) for s in samples)
    for s in samples:
        assert s.id and isinstance(s.id, str) and all(isinstance(g, str) for g in s.glosses)
        assert len(s.id.splitlines()) == 1 and "\x00" not in s.id, s.id   # ids end up in messages and file names
        if s.frames and frame_root is not None:
            folder = os.path.normpath(s.frames)
            assert folder.startswith(os.path.normpath(frame_root) + os.sep), (s.frames, frame_root)
    return samples


def read_both_ways(fmt: str, root: Path, split: str, annotations: Path, frame_root: Path, **kw) -> None:
    """Annotation-only and with a corpus root; raising, skipping and (root) frame-checking."""
    for skip_bad in (False, True):
        check(lambda: read_corpus(fmt, "", split, annotations=annotations, skip_bad=skip_bad, report=[], **kw))
        check(lambda: read_corpus(fmt, root, split, annotations=annotations, skip_bad=skip_bad, report=[],
                                  check_frames=skip_bad, **kw), frame_root)


# ----------------------------------------------------------------------------- csv / txt readers

VALID = {
    "phoenix2014": ("id|folder|signer|annotation", "01April_2010-{i}|01April_2010-{i}/1/*.png|Signer04|A B __ON__"),
    "phoenix2014t": ("name|video|start|end|speaker|orth|translation",
                     "11August-{i}|11August-{i}/*.png|-1|-1|Signer08|DRUCK TIEF|tiefer luftdruck"),
    "dialogue-phoenix": (None, "train/11August-{i} tiefer luftdruck%Was bestimmt das Wetter%DRUCK TIEF"),
}
FILES = {"phoenix2014": "train.corpus.csv", "phoenix2014t": "PHOENIX-2014-T.train.corpus.csv",
         "dialogue-phoenix": "train.txt"}


def mutate_valid(fmt: str, rows: int, row: int, field: int, value: str, header: bool, bom: bool) -> str:
    head, line = VALID[fmt]
    lines = [line.format(i=i) for i in range(rows)]
    if fmt == "dialogue-phoenix":   # fields: split/name, translation, context, glosses
        head_part, _, rest = lines[row % rows].partition(" ")
        parts = [head_part] + rest.split("%")
    else:
        parts = lines[row % rows].split("|")
    parts[field % len(parts)] = value
    lines[row % rows] = (parts[0] + " " + "%".join(parts[1:])) if fmt == "dialogue-phoenix" else "|".join(parts)
    if header and head:
        lines.insert(0, head)
    return ("\ufeff" if bom else "") + "\n".join(lines) + "\n"


def run_text_reader(fmt: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        folder = root / ("annotations/manual" if fmt != "dialogue-phoenix" else "dialogue")
        folder.mkdir(parents=True)
        path = folder / FILES[fmt]
        path.write_bytes(data)
        (root / "features/fullFrame-210x260px/train/11August-0").mkdir(parents=True)   # one folder exists
        read_both_ways(fmt, root, "train", path, root / "features/fullFrame-210x260px")


@pytest.mark.parametrize("fmt", list(VALID))
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(fmt, data):
    run_text_reader(fmt, data)


@pytest.mark.parametrize("fmt", list(VALID))
@FUZZ
@given(text=text_pieces, encoding=st.sampled_from(ENCODINGS), crlf=st.booleans())
def test_random_text_with_separators(fmt, text, encoding, crlf):
    run_text_reader(fmt, encode(text, encoding, crlf))


@pytest.mark.parametrize("fmt", list(VALID))
@FUZZ
@given(rows=st.integers(1, 4), row=st.integers(0, 3), field=st.integers(0, 6), value=field_values,
       header=st.booleans(), bom=st.booleans(), crlf=st.booleans(), encoding=st.sampled_from(ENCODINGS[:2] * 3
                                                                                               + ENCODINGS[2:]))
def test_valid_rows_with_one_field_mutated(fmt, rows, row, field, value, header, bom, crlf, encoding):
    run_text_reader(fmt, encode(mutate_valid(fmt, rows, row, field, value, header, bom), encoding, crlf))


@FUZZ
@given(dialogue=text_pieces, csv_row=field_values, bom=st.booleans())
def test_dialogue_joined_to_a_fuzzed_phoenix2014t_csv(dialogue, csv_row, bom):
    """dialogue-phoenix takes each sample's video folder from the PHOENIX-2014-T csv when found."""
    with tempfile.TemporaryDirectory() as tmp:
        ann = Path(tmp) / "ann"
        ann.mkdir()
        (ann / "train.txt").write_text(("\ufeff" if bom else "") + "train/v-1 satz%frage%A B\n" + dialogue,
                                       encoding="utf-8")
        (ann / "PHOENIX-2014-T.train.corpus.csv").write_text(
            f"v-1|{csv_row}|-1|-1|S1|A|satz\n{csv_row}|v-2/*.png|-1|-1|S1|A|satz\n", encoding="utf-8")
        root = Path(tmp) / "root"
        root.mkdir()
        for skip_bad in (False, True):
            check(lambda: read_corpus("dialogue-phoenix", "", "train", annotations=ann, skip_bad=skip_bad))
            check(lambda: read_corpus("dialogue-phoenix", root, "train", annotations=ann, skip_bad=skip_bad,
                                      check_frames=False), root / "features/fullFrame-210x260px")


# ----------------------------------------------------------------------------- CSL-Daily pickle + split file

scalars = st.none() | st.booleans() | st.integers(-5, 10 ** 20) | st.floats(allow_nan=True) | field_values \
    | st.binary(max_size=4)
numpy_values = st.sampled_from([np.int64(3), np.float32(1.5), np.str_("手"), np.array(["a", "b"]),
                                np.array([1, 2]), np.array("x"), np.zeros((2, 2), np.uint8),
                                np.array(["a", None], dtype=object), np.empty((0,), "S0")])
values = st.recursive(scalars | numpy_values, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)
NAMES = ["S000000_P0000_T00", "S000001_P0001_T00", "../S2", "/abs", "a/b", "", "dev"]


@st.composite
def csl_records(draw):
    """Valid-looking records with any field replaced by anything (or the record itself)."""
    records = []
    for i in range(draw(st.integers(0, 4))):
        rec = {"name": NAMES[i], "length": 3, "label_gloss": ["我", "喜欢"], "label_char": list("我喜欢"),
               "label_word": ["我"], "signer": i}
        key = draw(st.sampled_from(["name", "label_gloss", "label_char", "signer", "none", "record"]))
        if key == "record":
            rec = draw(values)
        elif key != "none":
            rec[key] = draw(values)
        records.append(rec)
    return records


split_text = st.lists(st.sampled_from([f"{n}|{s}" for n in NAMES for s in ("train", "dev", "..", "")])
                      | field_values, max_size=6).map(lambda rows: "\n".join(["name|split"] + rows) + "\n")


def run_csl(pickle_bytes: bytes, split: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "csl"
        labels = root / "sentence_label"
        labels.mkdir(parents=True)
        (labels / "csl2020ct_v2.pkl").write_bytes(pickle_bytes)
        (labels / "split_1.txt").write_text(split, encoding="utf-8")
        read_both_ways("csl-daily", root, "train", labels / "csl2020ct_v2.pkl", root / "sentence/frames_512x512")


@FUZZ
@given(top=st.sampled_from(["dict", "list", "value"]), records=csl_records(), other=values,
       protocol=st.sampled_from([2, 4, 5]), split=split_text)
def test_csl_pickle_structures(top, records, other, protocol, split):
    data = {"info": records, "gloss_map": []} if top == "dict" else records if top == "list" else other
    run_csl(pickle.dumps(data, protocol=protocol), split)


@FUZZ
@given(records=csl_records(), edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)),
                                             min_size=1, max_size=4),
       cut=st.integers(0, 10 ** 6) | st.none(), protocol=st.sampled_from([0, 2, 4, 5]))
def test_csl_pickle_with_bytes_flipped_or_cut(records, edits, cut, protocol):
    raw = bytearray(pickle.dumps({"info": records}, protocol=protocol))
    for at, byte in edits:
        raw[at % len(raw)] = byte
    if cut is not None:
        raw = raw[: cut % (len(raw) + 1)]
    run_csl(bytes(raw), "name|split\nS000000_P0000_T00|train\nS000001_P0001_T00|train\n")


@FUZZ
@given(data=st.binary(max_size=300), split=st.binary(max_size=200))
def test_csl_random_bytes(data, split):
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "sentence_label"
        labels.mkdir()
        (labels / "csl2020ct_v2.pkl").write_bytes(data)
        (labels / "split_1.txt").write_bytes(split)
        check(lambda: read_corpus("csl-daily", "", "train", annotations=labels / "csl2020ct_v2.pkl"))
        (labels / "csl2020ct_v2.pkl").write_bytes(pickle.dumps({"info": [{"name": "S000000_P0000_T00"}]}))
        check(lambda: read_corpus("csl-daily", "", "train", annotations=labels / "csl2020ct_v2.pkl", skip_bad=True))
