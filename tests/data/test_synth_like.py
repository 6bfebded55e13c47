"""`signkd synth --like`: a real corpus's sentences with synthetic pixels; resuming a killed run; the
phoenix-scale preset's sizes and clip lengths."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from signkd.cli import main as cli_main
from signkd.data.corpora import read_corpus
from signkd.data.corpus_reader import MissingAnnotationError
from signkd.data.synthetic import corpus as synth_corpus
from signkd.data.synthetic import generate_corpus, load_description, tree_digest
from signkd.data.synthetic.like import read_like
from signkd.data.synthetic.params import PHOENIX_FRAMES_PER_GLOSS, PHOENIX_TRAIN_GLOSSES
from signkd.errors import DataError

# a few lines in the shipped formats: PHOENIX-2014-T csv (header optional) and dialogue-PHOENIX txt
TRAIN = [("01April_2010_Thursday_heute-6694", "Signer04", "JETZT WETTER MORGEN FREITAG", "und nun die wettervorhersage für morgen freitag",
          "Wie wird das Wetter morgen"),
         ("01April_2010_Thursday_heute-6695", "Signer04", "REGEN NORD STARK UEBERSCHWEMMUNG", "im norden regnet es kräftig",
          "Regnet es im Norden"),
         ("05May_2011_Thursday_tagesschau-25", "Signer01", "SCHNEE BERG KALT", "in den bergen schneit es bei kälte",
          "Schneit es in den Bergen"),
         ("05May_2011_Thursday_tagesschau-26", "Signer01", "TEMPERATUR ZEHN GRAD", "die temperaturen erreichen zehn grad",
          "Wie warm wird es")]
DEV = [("11August_2010_Wednesday_tagesschau-2", "Signer08", "DRUCK TIEF KOMMEN",
        "tiefer luftdruck bestimmt in den nächsten tagen unser wetter", "Was bestimmt das Wetter"),
       ("11August_2010_Wednesday_tagesschau-3", "Signer08", "WOLKE REGEN GEWITTER", "viele wolken und gewitter",
        "Gibt es Gewitter")]
SMALL = ["width=32", "height=40"]


def write_annotations(root: Path) -> tuple[Path, Path]:
    manual, dialogue = root / "manual", root / "dialogue"
    manual.mkdir(parents=True)
    dialogue.mkdir()
    for split, rows, header in (("train", TRAIN, True), ("dev", DEV, False)):
        lines = ["name|video|start|end|speaker|orth|translation"] if header else []
        lines += [f"{n}|{n}/*.png|-1|-1|{s}|{g}|{t}" for n, s, g, t, _ in rows]
        (manual / f"PHOENIX-2014-T.{split}.corpus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (dialogue / f"{split}.txt").write_text("\n".join(f"{split}/{n} {t}%{c}%{g}" for n, _, g, t, c in rows),
                                               encoding="utf-8")
    return manual, dialogue


def generate(out: Path, manual: Path, dialogue: Path | None = None, **options) -> Path:
    overrides = dict(item.split("=") for item in SMALL)
    return generate_corpus(out, "phoenix-scale", seed=1, progress=False, like=manual, dialogue=dialogue,
                           **{"workers": 1, **overrides, **options})


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:
    return write_annotations(tmp_path_factory.mktemp("like_src"))


@pytest.fixture(scope="module")
def like_corpus(sources, tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("like") / "out", *sources)


def test_annotations_keep_every_real_sentence_per_split(like_corpus):
    info = load_description(like_corpus)
    for split, rows in (("train", TRAIN), ("dev", DEV)):
        out = read_corpus("phoenix2014t", like_corpus, split, frames=info["frames"])
        assert [(s.id, s.signer, " ".join(s.glosses), s.translation) for s in out] == [r[:4] for r in rows]
        alignment = [json.loads(line) for line in (like_corpus / "alignment" / f"{split}.jsonl").read_text().splitlines()]
        for sample, aligned in zip(out, alignment):
            assert len(list(Path(sample.frames).glob("*.png"))) == aligned["frames"] > 0
            assert [g for g, _, _ in aligned["segments"]] == sample.glosses
    with pytest.raises(MissingAnnotationError):          # no test file given: no test split written
        read_corpus("phoenix2014t", like_corpus, "test")
    assert not (like_corpus / info["frames"] / "test").exists()
    assert info["frame_size"] == [32, 40] and info["params"]["n_train"] == 4 and info["params"]["n_test"] == 0
    assert sorted(info["glosses"]) == sorted({g for r in TRAIN + DEV for g in r[2].split()})


def test_every_real_gloss_gets_a_motion_and_real_pairs_stay_confusable(like_corpus):
    info = load_description(like_corpus)
    assert set(info["lexicon"]) == set(info["glosses"])
    assert info["confusable_pairs"] == [{"glosses": ["REGEN", "SCHNEE"], "cue": "mark"}]


def test_dialogue_contexts_are_carried_over(like_corpus):
    info = load_description(like_corpus)
    for split, rows in (("train", TRAIN), ("dev", DEV)):
        synthetic = read_corpus("synthetic", like_corpus, split)
        dialogue = read_corpus("dialogue-phoenix", like_corpus, split, annotations=like_corpus / "dialogue",
                               frames=info["frames"])
        assert [s.context for s in synthetic] == [s.context for s in dialogue] == [r[4] for r in rows]


def test_without_dialogue_the_contexts_are_empty(sources, tmp_path):
    out = generate(tmp_path / "out", sources[0], None, n_confusable_pairs=0)
    assert [s.context for s in read_corpus("synthetic", out, "dev")] == ["", ""]


def test_a_killed_run_resumes_keeping_finished_clips(sources, like_corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_writer = synth_corpus.write_png_folder
    calls = []

    def dies_on_the_fourth_clip(frames, folder, level):
        calls.append(folder)
        if len(calls) == 4:
            real_writer(frames[:2], folder, level)          # cut off mid-clip
            raise KeyboardInterrupt
        real_writer(frames, folder, level)

    monkeypatch.setattr(synth_corpus, "write_png_folder", dies_on_the_fourth_clip)
    with pytest.raises(KeyboardInterrupt):
        generate(out, *sources)
    monkeypatch.setattr(synth_corpus, "write_png_folder", real_writer)
    frames = out / "features" / "fullFrame-32x40px" / "train"
    finished = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(frames.rglob("*.png"))}
    assert len({p.parent for p in finished}) == 3 and not (out / "corpus.json").exists()
    with pytest.raises(DataError, match="other settings"):
        generate(out, *sources, noise="0.1")
    generate(out, *sources)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished} == finished   # kept, not rewritten
    assert tree_digest(out) == tree_digest(like_corpus)                                   # the rest as a full run
    assert sorted(os.listdir(out)) == ["alignment", "annotations", "corpus.json", "dialogue", "features"]


def test_a_finished_corpus_is_not_resumed_but_refused(like_corpus, sources):
    with pytest.raises(DataError, match="not empty"):
        generate(like_corpus, *sources)


def test_phoenix_scale_parameters_give_its_frame_size_and_clip_lengths(capsys, tmp_path):
    assert cli_main(["synth", str(tmp_path / "unused"), "--preset", "phoenix-scale", "--show-params"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["width"], shown["height"]) == (210, 260)            # fullFrame-210x260px
    assert (shown["n_train"], shown["n_dev"], shown["n_test"]) == (7096, 519, 642)
    # 827,354 train frames over the 55,247 glosses of the released train annotation (Table 1's 67,781: 12.21)
    assert PHOENIX_FRAMES_PER_GLOSS == 827_354 / 55_247 and round(PHOENIX_FRAMES_PER_GLOSS, 2) == 14.98
    assert shown["expected"]["frames_per_gloss"] == pytest.approx(PHOENIX_FRAMES_PER_GLOSS, abs=0.1)
    assert shown["expected"]["glosses_per_sentence"] == pytest.approx(55_247 / 7_096, abs=1e-3)
    assert not (tmp_path / "unused").exists()


def test_show_params_with_like_uses_the_real_sentence_lengths(sources, capsys, tmp_path):
    assert cli_main(["synth", str(tmp_path / "o"), "--preset", "phoenix-scale", "--like", str(sources[0]),
                     "--show-params"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["expected"]["glosses_per_sentence"] == pytest.approx(20 / 6, abs=1e-3)


def test_dialogue_without_like_is_refused(tmp_path, sources):
    with pytest.raises(Exception, match="--dialogue needs --like"):
        generate_corpus(tmp_path / "o", "tiny", progress=False, dialogue=sources[1])


@pytest.mark.skipif(not (SHARED_DATA / "phoenix2014t").is_dir(), reason="no ../shared/data/phoenix2014t")
def test_the_real_phoenix2014t_annotations_give_the_real_vocabulary():
    like = read_like(SHARED_DATA / "phoenix2014t", SHARED_DATA / "dialogue_phoenix")
    assert {split: len(rows) for split, rows in like.samples.items()} == {"train": 7096, "dev": 519}
    assert len(like.glosses) > 1000 and len(like.speakers) == 9
    assert sum(len(s.glosses) for s in like.samples["train"]) == PHOENIX_TRAIN_GLOSSES   # params.py's count
    assert sum(bool(s.context) for s in like.samples["dev"]) == 519
