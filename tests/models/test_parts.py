"""Which model parts a config has (signkd.models.parts): what the data must read, which
vocabularies a run builds, which part's glosses and words are scored -- and the builder building
exactly those parts."""
from __future__ import annotations

import pytest

from signkd.config import Config
from signkd.models.parts import model_parts
from test_system import build

# (task, parts present) -> glosses scored (part, how), words scored, reads video, reads text, writes words
CASES = [
    ("slr", ("student",), ("student", "ctc"), None, True, False, False),
    ("slt", ("student",), ("student", "ctc"), "student", True, False, True),
    ("slr", ("student", "dialogue_teacher", "text2gloss"), ("student", "ctc"), None, True, True, False),
    # Gloss2Text beside a student is its teacher, not what is scored
    ("slr", ("student", "gloss2text"), ("student", "ctc"), None, True, False, True),
    ("slr", ("dialogue_teacher",), ("dialogue_teacher", "ctc"), None, True, True, False),
    ("slt", ("dialogue_teacher",), ("dialogue_teacher", "ctc"), "dialogue_teacher", True, True, True),
    ("slr", ("text2gloss",), ("text2gloss", "seq2seq"), None, False, True, False),
    ("slr", ("gloss2text",), None, "gloss2text", False, False, True),
    ("slr", ("text2gloss", "gloss2text"), ("text2gloss", "seq2seq"), "gloss2text", False, True, True),
]


@pytest.mark.parametrize("task, present, glosses, words, video, text, word_vocab", CASES)
def test_what_a_config_reads_builds_and_scores_follows_its_parts(task, present, glosses, words, video, text,
                                                                   word_vocab):
    cfg = Config()
    cfg.model.task = task
    for name in ("student", "dialogue_teacher", "text2gloss", "gloss2text"):
        setattr(cfg.model, name, name in present)
    parts = model_parts(cfg)
    assert parts.names == present and parts.teachers == tuple(n for n in present if n != "student")
    assert (parts.gloss_source, parts.word_source) == (glosses, words)
    assert parts.scored == {m for m in ((glosses or (None,))[0], words) if m}
    assert (parts.reads_video, parts.reads_text, parts.writes_words) == (video, text, word_vocab)


@pytest.mark.parametrize("task, flags", [
    ("slr", {}),                                                       # every part but gloss2text
    ("slt", {}),                                                       # every part but text2gloss
    ("slr", {"dialogue_teacher": False}),
    ("slr", {"text2gloss": False}),
    ("slt", {"student": False}),
])
def test_the_built_system_holds_exactly_the_parts_and_projections_model_parts_names(task, flags):
    system = build(task, **flags)
    parts = model_parts(system.cfg)
    built = {key.split(".", 1)[0] for key in system.state_dict()} - {"student_projections"}
    assert built == set(parts.names)
    assert set(system.student_projections) == set(parts.student_projections)
    for name in ("student", "dialogue_teacher", "text2gloss", "gloss2text"):
        assert (getattr(system, name) is not None) == (name in parts.names)

