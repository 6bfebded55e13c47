"""The table of loss terms: what config, stages and the system read from it, and the registry that
ties each row to its implementation."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import signkd
from signkd.config import MODULE_NAMES, ConfigError, LossConfig, StageConfig, load_config
from signkd.loss_terms import (KL_TERMS, LOSS_ALIASES, TEACHER_TERMS, TERMS, Implementations, LossTerm,
                               canonical_name)


def test_every_row_trains_model_parts_and_a_kl_row_names_a_temperature_field():
    loss_fields = {f.name for f in dataclasses.fields(LossConfig)}
    for term in TERMS.values():
        assert term.trains and set(term.trains) <= set(MODULE_NAMES), term
        assert term.temperature is None or term.temperature in loss_fields, term
    assert set(KL_TERMS) == {"Dist", "DialogueSignDist", "DistFusion2SLR", "DistTranslation2SLR"}


def test_teacher_terms_are_the_ones_a_student_learns_from_a_teacher_through():
    assert TEACHER_TERMS == ("DistFusion2SLR", "FeatureFusion2SLR", "DistTranslation2SLR", "FeatureTranslation2SLR")
    assert all(TERMS[name].trains == ("student",) for name in TEACHER_TERMS)
    assert "Dist" not in TEACHER_TERMS      # VAC's self-distillation: the student teaches itself


def test_aliases_name_one_term_each_and_configs_accept_them():
    assert not set(LOSS_ALIASES) & set(TERMS)
    assert len(LOSS_ALIASES) == sum(len(t.aliases) for t in TERMS.values())
    assert canonical_name("DistFusion2SLRFeature") == "FeatureFusion2SLR"
    assert canonical_name("Dist") == "Dist" and canonical_name("SeqCTC") is None
    weights = "{" + ", ".join(f"{alias}: 1" for alias in LOSS_ALIASES) + "}"
    assert set(load_config(None, [f"loss.weights={weights}"]).loss.weights) == set(LOSS_ALIASES.values())
    with pytest.raises(ConfigError, match="loss.weights.SeqCTC: unknown loss; did you mean 'SeqCTCSign'"):
        load_config(None, ["loss.weights={SeqCTC: 1}"])


def test_a_term_runs_only_in_epochs_where_a_part_it_trains_trains():
    from signkd.training.stages import active_weights

    cfg = load_config(None, ["loss.weights={SeqCTCSign: 1, DistFusion2SLR: 25, DialogueCTC: 1, "
                             "TranslationToGlossCrossEntropy: 1}"])
    assert set(active_weights(cfg, StageConfig(train=["student"]), 0)) == {"SeqCTCSign", "DistFusion2SLR"}
    assert set(active_weights(cfg, StageConfig(train=["dialogue_teacher"]), 0)) == {"DialogueCTC"}
    # the text teachers' cross-entropy trains whichever of the two trains
    for part in ("text2gloss", "gloss2text"):
        assert set(active_weights(cfg, StageConfig(train=[part]), 0)) == {"TranslationToGlossCrossEntropy"}


def test_every_row_has_exactly_one_implementation_checked_at_import():
    from signkd.models.system import TERM_IMPLEMENTATIONS

    TERM_IMPLEMENTATIONS.check_complete()
    registry = Implementations()
    with pytest.raises(LookupError, match="'NoSuchTerm': not a row"):
        registry.of("NoSuchTerm")
    registry.of("Dist")(lambda run: None)
    with pytest.raises(LookupError, match="'Dist': implemented twice"):
        registry.of("Dist")(lambda run: None)
    with pytest.raises(LookupError, match="ConvCTCSign, SeqCTCSign, DistFusion2SLR.*not implemented"):
        registry.check_complete()


def test_rows_are_immutable_and_the_table_imports_without_torch():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TERMS["Dist"].trains = ("dialogue_teacher",)
    with pytest.raises(TypeError):
        TERMS["Dist"] = LossTerm("Dist", ("dialogue_teacher",))
    assert isinstance(TERMS["Dist"], LossTerm)
    code = "import sys, signkd.config, signkd.loss_terms; assert 'torch' not in sys.modules"
    root = Path(signkd.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(root)})
