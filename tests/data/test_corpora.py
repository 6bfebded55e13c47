"""Corpus readers on the real annotation files (../shared/data) and on small fake corpora."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from PIL import Image

from signkd.data.corpora import annotation_file, read_corpus, write_skip_report
from signkd.data.corpus_reader import MissingAnnotationError, infer_split_name
from signkd.data.video import frame_files
from signkd.errors import DataError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
P14T_HEADER = "name|video|start|end|speaker|orth|translation"


def shared(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real annotations not available: {path}")
    return path


def write_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path)


def p14t_line(name, orth="A B", translation="ein satz", signer="Signer01") -> str:
    return f"{name}|{name}/*.png|-1|-1|{signer}|{orth}|{translation}"


def make_p14t(root: Path, split: str, lines: list[str], header=True, frames=True) -> Path:
    """PHOENIX-2014-T layout: annotations/manual/PHOENIX-2014-T.<split>.corpus.csv + frame folders."""
    ann = root / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text("\n".join(([P14T_HEADER] if header else []) + lines) + "\n", encoding="utf-8")
    if frames:
        for line in lines:
            name = line.split("|")[0]
            for i in (1, 2):
                write_png(root / "features" / "fullFrame-210x260px" / split / name / f"images{i:04d}.png")
    return ann


# ----------------------------------------------------------------------------- real annotations

def test_phoenix2014t_real_sizes():
    ann = shared("phoenix2014t")
    train = read_corpus("phoenix2014t", "", "train", annotations=ann)
    dev = read_corpus("phoenix2014t", "", "dev", annotations=ann)
    assert (len(train), len(dev)) == (7096, 519)
    first = dev[0]
    assert first.id == "11August_2010_Wednesday_tagesschau-2" and first.split == "dev"
    assert first.glosses == ["DRUCK", "TIEF", "KOMMEN"]
    assert first.translation.startswith("tiefer luftdruck") and first.signer == "Signer08"
    assert first.frames == "" and first.context == ""   # annotation-only
    with pytest.raises(MissingAnnotationError):
        read_corpus("phoenix2014t", "", "test", annotations=ann)


def test_phoenix2014t_header_copy_reads_the_same(tmp_path):
    src = shared("phoenix2014t", "PHOENIX-2014-T.dev.corpus.csv")
    copy = tmp_path / "PHOENIX-2014-T.dev.corpus.csv"
    copy.write_text(P14T_HEADER + "\n" + src.read_text(encoding="utf-8"), encoding="utf-8")
    assert read_corpus("phoenix2014t", "", "dev", annotations=tmp_path) == \
        read_corpus("phoenix2014t", "", "dev", annotations=src.parent)
    # a split given as a path to its annotation file
    by_path = read_corpus("phoenix2014t", "", str(copy))
    assert len(by_path) == 519 and by_path[0].split == "dev"


def test_dialogue_phoenix_real_sizes_and_contexts():
    dialogue = shared("dialogue_phoenix")
    for split, size in (("train", 7096), ("dev", 519)):
        samples = read_corpus("dialogue-phoenix", "", split, annotations=dialogue)
        assert len(samples) == size
        assert all(s.context.strip() for s in samples)
        assert all(s.glosses and s.translation for s in samples)
    dev = read_corpus("dialogue-phoenix", "", "dev", annotations=dialogue)
    assert dev[0].context == "Was bestimmt das Wetter in den nächsten Tagen"
    assert dev[-1].glosses[-2:] == ["MINUS", "ZWEI"]   # last line, which has no final newline
    assert dev[0].signer == ""                          # no PHOENIX-2014-T csv given


def test_dialogue_phoenix_joins_the_phoenix2014t_csv_for_signers():
    csv_dir, dialogue = shared("phoenix2014t"), shared("dialogue_phoenix")
    joined = read_corpus("dialogue-phoenix", "", "dev", annotations=csv_dir, dialogue=dialogue)
    official = {s.id: s for s in read_corpus("phoenix2014t", "", "dev", annotations=csv_dir)}
    assert len(joined) == 519
    assert all(s.signer == official[s.id].signer and s.glosses == official[s.id].glosses for s in joined)


# ----------------------------------------------------------------------------- fake corpora with frames

def test_phoenix2014t_frames(tmp_path):
    make_p14t(tmp_path, "train", [p14t_line("vid-1"), p14t_line("vid-2", orth="C")])
    samples = read_corpus("phoenix2014t", tmp_path, "train")
    assert [s.id for s in samples] == ["vid-1", "vid-2"]
    assert samples[0].frames == str(tmp_path / "features/fullFrame-210x260px/train/vid-1")
    first = samples[0]
    assert [p.name for p in frame_files(first.frames, first.frame_glob)] == ["images0001.png", "images0002.png"]


def test_missing_frame_folder_is_one_line_error_naming_sample_and_path(tmp_path):
    ann = make_p14t(tmp_path, "dev", [p14t_line("ok-1"), p14t_line("gone-2")])
    missing = tmp_path / "features/fullFrame-210x260px/dev/gone-2"
    for png in missing.iterdir():
        png.unlink()
    missing.rmdir()
    with pytest.raises(DataError) as err:
        read_corpus("phoenix2014t", tmp_path, "dev")
    msg = str(err.value)
    assert msg == f"{ann}:3: sample 'gone-2': frame folder not found: {missing}"
    assert "\n" not in msg
    # without the frame check the sample is kept (its frames path still set)
    assert len(read_corpus("phoenix2014t", tmp_path, "dev", check_frames=False)) == 2


def test_frames_override(tmp_path):
    make_p14t(tmp_path, "dev", [p14t_line("v-1")], frames=False)
    write_png(tmp_path / "features/fullFrame-256x256px/dev/v-1/images0001.png")
    with pytest.raises(DataError, match="frame folder not found"):
        read_corpus("phoenix2014t", tmp_path, "dev")
    (sample,) = read_corpus("phoenix2014t", tmp_path, "dev", frames="features/fullFrame-256x256px")
    assert sample.frames.endswith("fullFrame-256x256px/dev/v-1")
    assert len(frame_files(sample.frames, sample.frame_glob)) == 1


def test_synthetic_reads_phoenix2014t_layout_with_dialogue_contexts(tmp_path):
    make_p14t(tmp_path, "test", [p14t_line("s-1", orth="X Y"), p14t_line("s-2", orth="Z")], header=False)
    (tmp_path / "dialogue").mkdir()
    (tmp_path / "dialogue" / "test.txt").write_text(
        "test/s-1 ein satz%Wie ist das Wetter?%X Y\ntest/s-2 ein satz%Und morgen?%Z", encoding="utf-8")
    samples = read_corpus("synthetic", tmp_path, "test")
    assert [s.context for s in samples] == ["Wie ist das Wetter?", "Und morgen?"]
    assert read_corpus("phoenix2014t", tmp_path, "test")[0].context == ""   # plain reader: no contexts


# ----------------------------------------------------------------------------- bad input

def test_malformed_line_names_file_line_and_expected_format(tmp_path):
    ann = make_p14t(tmp_path, "dev", [p14t_line("a-1"), "b-2|b-2/*.png|-1|-1|Signer01|A B"], frames=False)
    with pytest.raises(DataError) as err:
        read_corpus("phoenix2014t", "", "dev", annotations=ann)
    assert str(err.value) == f"{ann}:3: expected 'name|video|start|end|speaker|orth|translation', got 6 fields"


def test_empty_gloss_sequence_and_duplicate_id(tmp_path):
    ann = make_p14t(tmp_path, "dev", [p14t_line("a-1"), p14t_line("b-2", orth="  ")], frames=False)
    with pytest.raises(DataError) as err:
        read_corpus("phoenix2014t", "", "dev", annotations=ann)
    assert str(err.value) == f"{ann}:3: sample 'b-2': empty gloss sequence"
    ann = make_p14t(tmp_path, "dev", [p14t_line("a-1"), p14t_line("c-3"), p14t_line("a-1")], frames=False)
    with pytest.raises(DataError) as err:
        read_corpus("phoenix2014t", "", "dev", annotations=ann)
    msg = str(err.value)
    assert msg == f"{ann}:4: duplicate id 'a-1' (first at PHOENIX-2014-T.dev.corpus.csv:2)" and "\n" not in msg


def test_dialogue_malformed_line(tmp_path):
    path = tmp_path / "dev.txt"
    path.write_text("dev/a-1 ein satz%Frage?%A B\ndev/b-2 ein satz%nur kontext", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_corpus("dialogue-phoenix", "", "dev", annotations=tmp_path)
    assert str(err.value) == (f"{path}:2: expected '<split>/<name> <translation>%<context>%<GLOSSES>', "
                              "got 2 '%'-separated fields")


def test_skip_bad_records_every_kind_instead_of_raising(tmp_path):
    lines = [p14t_line("good-1"), "short|line", p14t_line("empty-3", orth=""), p14t_line("good-1"),
             p14t_line("noframes-5")]
    ann = make_p14t(tmp_path, "train", lines)
    gone = tmp_path / "features/fullFrame-210x260px/train/noframes-5"
    for png in gone.iterdir():
        png.unlink()
    gone.rmdir()
    report: list = []
    samples = read_corpus("phoenix2014t", tmp_path, "train", skip_bad=True, report=report)
    assert [s.id for s in samples] == ["good-1"]
    assert [(r["line"], r["id"]) for r in report] == [(3, "short"), (4, "empty-3"), (5, "good-1"), (6, "noframes-5")]
    assert all(r["file"] == str(ann) for r in report)
    assert "got 2 fields" in report[0]["reason"] and "empty gloss" in report[1]["reason"]
    assert "duplicate" in report[2]["reason"] and "frame folder not found" in report[3]["reason"]
    out = write_skip_report(report, tmp_path / "out" / "skipped.json")
    assert json.loads(out.read_text(encoding="utf-8")) == {"skipped": 4, "samples": report}


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="corpus format 'phoenix' is unknown"):
        read_corpus("phoenix", tmp_path, "train")
    with pytest.raises(DataError, match="corpus root not found"):
        read_corpus("phoenix2014t", tmp_path / "nope", "train")
    with pytest.raises(MissingAnnotationError, match="annotation file not found"):
        read_corpus("phoenix2014t", tmp_path, "train")


# ----------------------------------------------------------------------------- PHOENIX-2014, CSL-Daily

def test_phoenix2014_glob_folders(tmp_path):
    ann = tmp_path / "annotations/manual/train.corpus.csv"
    ann.parent.mkdir(parents=True)
    ann.write_text("id|folder|signer|annotation\n"
                   "01April_2010_Thursday_heute_default-0|01April_2010_Thursday_heute_default-0/1/*.png|Signer04|"
                   "__ON__ LIEB ZUSCHAUER __OFF__\n", encoding="utf-8")
    frame_dir = tmp_path / "features/fullFrame-210x260px/train/01April_2010_Thursday_heute_default-0/1"
    for i in (0, 1):
        write_png(frame_dir / f"01April_2010_Thursday_heute.avi_pid0_fn{i:06d}-0.png")
    (sample,) = read_corpus("phoenix2014", tmp_path, "train")
    assert sample.id == "01April_2010_Thursday_heute_default-0" and sample.signer == "Signer04"
    assert sample.frames == str(frame_dir) and sample.frame_glob == "*.png"
    assert sample.glosses == ["__ON__", "LIEB", "ZUSCHAUER", "__OFF__"] and sample.translation == ""
    assert len(frame_files(sample.frames, sample.frame_glob)) == 2
    assert annotation_file("phoenix2014", tmp_path, "train") == ann


def make_csl(root: Path) -> None:
    labels = root / "sentence_label"
    labels.mkdir(parents=True)
    info = [
        {"name": "S000000_P0000_T00", "length": 3, "label_gloss": ["我", "喜欢"], "label_char": list("我喜欢。"),
         "label_word": ["我", "喜欢", "。"], "signer": 0},
        {"name": "S000001_P0001_T00", "length": 3, "label_gloss": ["你", "好"], "label_char": list("你好"),
         "label_word": ["你好"], "signer": 1},
        {"name": "S000002_P0002_T00", "length": 3, "label_gloss": ["谢谢"], "label_char": list("谢谢"),
         "label_word": ["谢谢"], "signer": 2},
    ]
    with open(labels / "csl2020ct_v2.pkl", "wb") as f:
        pickle.dump({"info": info, "gloss_map": [], "char_map": []}, f)
    (labels / "split_1.txt").write_text("Name|Split\nS000000_P0000_T00|train\nS000001_P0001_T00|train\n"
                                        "S000002_P0002_T00|dev\n", encoding="utf-8")
    for rec in info:
        frame = root / "sentence/frames_512x512" / rec["name"] / "000000.jpg"
        frame.parent.mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(frame)


def test_csl_daily(tmp_path):
    make_csl(tmp_path)
    train = read_corpus("csl-daily", tmp_path, "train")
    assert [s.id for s in train] == ["S000000_P0000_T00", "S000001_P0001_T00"]
    first = train[0]
    assert first.glosses == ["我", "喜欢"] and first.translation == "我 喜 欢 。" and first.signer == "0"
    assert first.frame_glob == "*.jpg" and len(frame_files(first.frames, first.frame_glob)) == 1
    # annotation-only via the sentence_label folder, plus a context file in the dialogue format
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "dev.txt").write_text("dev/S000002_P0002_T00 谢 谢%你说什么？%谢谢", encoding="utf-8")
    (dev,) = read_corpus("csl-daily", "", "dev", annotations=tmp_path / "sentence_label", dialogue=ctx)
    assert dev.frames == "" and dev.context == "你说什么？" and dev.split == "dev"


def test_csl_daily_split_name_missing_from_pickle(tmp_path):
    make_csl(tmp_path)
    split_file = tmp_path / "sentence_label/split_1.txt"
    split_file.write_text(split_file.read_text(encoding="utf-8") + "S999999_P0000_T00|dev\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_corpus("csl-daily", tmp_path, "dev")
    assert str(err.value) == f"{split_file}:5: sample 'S999999_P0000_T00' is not in csl2020ct_v2.pkl"
    report: list = []
    assert len(read_corpus("csl-daily", tmp_path, "dev", skip_bad=True, report=report)) == 1
    assert report[0]["id"] == "S999999_P0000_T00"


def test_infer_split_name():
    assert infer_split_name("a/PHOENIX-2014-T.dev.corpus.csv") == "dev"
    assert infer_split_name("train.txt") == "train"
    assert infer_split_name("x/my_val_set.csv") == "dev"
    assert infer_split_name("custom.csv") == "custom"
