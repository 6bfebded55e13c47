"""`signkd corpus stats`, run in-process through signkd.cli.main."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from signkd.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def stats_json(capsys, *args) -> dict:
    assert main(["corpus", "stats", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def real(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real annotations not available: {path}")
    return path


def test_stats_vocab_size_and_unseen_match_an_independent_count(capsys):
    ann = real("phoenix2014t")
    orth = {}
    for split in ("train", "dev"):
        rows = (ann / f"PHOENIX-2014-T.{split}.corpus.csv").read_text(encoding="utf-8").splitlines()
        orth[split] = [row.split("|")[5].split() for row in rows]
    train_types = {g for glosses in orth["train"] for g in glosses}
    unseen_tokens = [g for glosses in orth["dev"] for g in glosses if g not in train_types]

    stats = stats_json(capsys, "--format", "phoenix2014t", "--annotations", str(ann))
    assert stats["train_vocab_size"] == len(train_types)
    train, dev, test = (stats["splits"][s] for s in ("train", "dev", "test"))
    assert (train["samples"], dev["samples"]) == (7096, 519)
    assert dev["unseen_types"] == len(set(unseen_tokens)) and dev["unseen_tokens"] == len(unseen_tokens)
    assert train["gloss_length"]["max"] == max(len(g) for g in orth["train"])
    assert test == {"present": False, "reason": test["reason"]} and "not found" in test["reason"]


def test_stats_dialogue_phoenix_contexts(capsys):
    stats = stats_json(capsys, "--format", "dialogue-phoenix", "--annotations", str(real("phoenix2014t")),
                       "--dialogue", str(real("dialogue_phoenix")))
    for split, size in (("train", 7096), ("dev", 519)):
        s = stats["splits"][split]
        assert s["samples"] == s["with_context"] == s["with_translation"] == size
        assert s["signers"] > 0   # from the joined PHOENIX-2014-T csv
    assert stats["splits"]["train"]["translation_length"]["max"] == 52


def write_fake_corpus(root: Path, dev_lines: list[str]) -> Path:
    manual = root / "annotations" / "manual"
    manual.mkdir(parents=True)
    (manual / "PHOENIX-2014-T.train.corpus.csv").write_text(
        "v-1|v-1/*.png|-1|-1|S1|A B|eins zwei\nv-2|v-2/*.png|-1|-1|S2|B C|zwei drei vier\n", encoding="utf-8")
    dev = manual / "PHOENIX-2014-T.dev.corpus.csv"
    dev.write_text("\n".join(dev_lines) + "\n", encoding="utf-8")
    return dev


def test_table_reports_absent_splits_and_unseen(tmp_path, capsys):
    write_fake_corpus(tmp_path, ["d-1|d-1/*.png|-1|-1|S1|A D D|eins"])
    assert main(["corpus", "stats", "--format", "phoenix2014t", "--annotations", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:5]}
    assert rows["train"][1:4] == ["2", "2", "2/2.0/2"]
    assert rows["dev"][-1] == "1/2"            # D: one type, two tokens unseen in train
    assert rows["test"][1] == "absent"
    assert "train gloss vocabulary: 3 glosses (4 classes with blank)" in out


def test_bad_line_is_one_line_error_or_skipped_with_report(tmp_path, capsys):
    dev = write_fake_corpus(tmp_path, ["d-1|d-1/*.png|-1|-1|S1|A|eins", "d-2|broken"])
    assert main(["corpus", "stats", "--format", "phoenix2014t", "--annotations", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"signkd corpus: error: {dev}:2: expected 'name|video|start|end|speaker|orth|translation', "
                   "got 2 fields\n")

    report = tmp_path / "skipped.json"
    stats = stats_json(capsys, "--format", "phoenix2014t", "--annotations", str(tmp_path), "--skip-bad", str(report))
    assert stats["splits"]["dev"]["samples"] == 1 and stats["skipped"] == 1
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["skipped"] == 1 and saved["samples"][0] == {
        "split": "dev", "file": str(dev), "line": 2, "id": "d-2", "reason": saved["samples"][0]["reason"]}


def test_missing_frames_fail_unless_unchecked(tmp_path, capsys):
    write_fake_corpus(tmp_path, ["d-1|d-1/*.png|-1|-1|S1|A|eins"])
    assert main(["corpus", "stats", "--format", "phoenix2014t", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sample 'v-1': frame folder not found" in err and err.count("\n") == 1
    stats = stats_json(capsys, "--format", "phoenix2014t", "--root", str(tmp_path), "--no-check-frames")
    assert stats["splits"]["train"]["samples"] == 2
