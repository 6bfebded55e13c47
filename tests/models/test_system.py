"""SignKDSystem: which terms run, masking of every term, frozen teachers, gradients, inference."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from signkd.config import Config, ConfigError
from signkd.data.batch import Batch, pad_sequences
from signkd.data.vocab import GlossVocab, WordVocab
from signkd.models.build import build_system
from signkd.models.system import SignKDSystem

GLOSSES = [f"G{i}" for i in range(6)]                 # C = 7 with blank
WORDS = [f"w{i}" for i in range(8)]                   # V = 12 with 4 specials
TEXT_VOCAB = 30

SLR_TERMS = {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "Dist": 25.0, "DistFusion2SLR": 25.0, "FeatureFusion2SLR": 25.0,
             "DistTranslation2SLR": 10.0, "FeatureTranslation2SLR": 10.0}
# terms that train the teachers themselves (not loss_terms.TEACHER_TERMS, through which the student learns)
TEACHERS_OWN_TERMS = {"TranslationToGlossCrossEntropy": 1.0, "DialogueCTC": 1.0, "DialogueSignCTC": 1.0, "MatchingLoss": 1.0}
SLT_TERMS = {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "Dist": 25.0, "DistTranslation2SLR": 1.0,
             "FeatureTranslation2SLR": 1.0, "TranslationCrossEntropy": 1.0}


class Tokenizer:
    """Only the vocabulary size matters to the models."""

    def __len__(self):
        return TEXT_VOCAB


def tiny_config(task: str = "slr", seq: str = "bilstm") -> Config:
    cfg = Config()
    m = cfg.model
    m.task, m.hidden = task, 16
    m.visual.backbone, m.visual.small_channels, m.visual.hidden = "small", [4, 8], 12
    m.sequence.kind, m.sequence.heads, m.sequence.ff, m.sequence.dropout = seq, 2, 32, 0.1
    for dec in (m.decoder, m.teacher_decoder):
        dec.layers, dec.heads, dec.ff = 1, 2, 32
    m.text.hidden, m.text.heads, m.text.ff, m.text.layers, m.text.max_positions = 16, 2, 32, 1, 64
    m.fusion.layers, m.fusion.heads, m.fusion.ff, m.fusion.max_positions = 1, 2, 32, 64
    m.text_teacher_encoder.layers, m.text_teacher_encoder.heads, m.text_teacher_encoder.ff = 1, 2, 32
    m.dialogue_teacher = True
    m.text2gloss = task == "slr"
    m.gloss2text = task == "slt"
    return cfg


def build(task: str = "slr", seq: str = "bilstm", **model_flags) -> SignKDSystem:
    torch.manual_seed(0)
    cfg = tiny_config(task, seq)
    for key, value in model_flags.items():
        setattr(cfg.model, key, value)
    return build_system(cfg, GlossVocab(GLOSSES), WordVocab(WORDS), Tokenizer())


def make_batch(extra_frames: int = 0, extra_tokens: int = 0, seed: int = 0) -> Batch:
    """3 samples; `extra_*` append padding (random garbage frames, zero-padded tokens)."""
    g = torch.Generator().manual_seed(seed)
    lengths = [30, 24, 20]
    video = torch.randn(3, 30, 3, 16, 16, generator=g)
    video = torch.cat([video, 100 * torch.randn(3, extra_frames, 3, 16, 16, generator=g)], 1)
    glosses = [[1, 2, 3], [4, 4], [5]]
    words = [[4, 5, 6, 7], [8, 9], [10]]
    ctx = [[2, 11, 12, 13, 3], [2, 14, 15, 3], [2, 16, 17, 18, 19, 3]]
    trans = [[2, 20, 21], [2, 22, 23, 24], [2, 25]]
    c = len(GLOSSES) + 1

    def padded(seqs):
        ids, lens = pad_sequences(seqs)
        return torch.cat([ids, torch.zeros(len(seqs), extra_tokens, dtype=torch.long)], 1), lens

    gl, gl_len = padded(glosses)
    gin, _ = padded([[c] + s for s in glosses])
    gout, _ = padded([s + [c + 1] for s in glosses])
    din, d_len = padded([[1] + s for s in words])
    dout, _ = padded([s + [2] for s in words])
    cx, cx_len = padded(ctx)
    tr, tr_len = padded(trans)
    return Batch(ids=["a", "b", "c"], video=video, video_lengths=torch.tensor(lengths), glosses=gl,
                 gloss_lengths=gl_len, gloss_in=gin, gloss_out=gout, dec_in=din, dec_out=dout, dec_lengths=d_len,
                 ctx_ids=cx, ctx_lengths=cx_len, trans_ids=tr, trans_lengths=tr_len)


def test_build_system_submodules():
    system = build("slr")
    assert system.student is not None and system.dialogue_teacher is not None and system.text2gloss is not None
    assert system.gloss2text is None
    assert set(system.student_projections) == {"fusion", "text"}
    names = {n.split(".")[0] for n, _ in system.named_parameters()}
    assert names == {"student", "dialogue_teacher", "text2gloss", "student_projections"}
    assert system.parts("student") == [system.student, system.student_projections] and system.parts("gloss2text") == []
    slt = build("slt", dialogue_teacher=False)
    assert slt.is_slt and slt.dialogue_teacher is None and slt.text2gloss is None and slt.gloss2text is not None


@pytest.mark.parametrize("task,terms", [("slr", {**SLR_TERMS, **TEACHERS_OWN_TERMS}), ("slt", SLT_TERMS)])
def test_every_term_is_finite_and_total_is_the_weighted_sum(task, terms):
    system = build(task)
    out = system.losses(make_batch(), terms)
    for name in terms:
        assert torch.isfinite(out[name]) and out[name].dim() == 0, name
    assert set(out) >= set(terms) and not set(out) & ({"DistFusion2SLR"} - set(terms))
    assert torch.allclose(out["total"], sum(w * out[n] for n, w in terms.items()))


def test_slt_dialogue_teacher_translation_term():
    system = build("slt")
    out = system.losses(make_batch(), {"DialogueTranslationCrossEntropy": 1.0, "DialogueCTC": 1.0})
    assert math.isfinite(float(out["DialogueTranslationCrossEntropy"].detach()))


class Exploding(nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a weight-0 term ran its teacher")


def test_a_weight_zero_term_is_not_computed():
    system = build("slr")
    system.text2gloss = Exploding()
    system.dialogue_teacher = Exploding()
    weights = {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "Dist": 25.0, "DistTranslation2SLR": 0.0,
               "DistTranslation2SLRFeature": 0.0, "DistFusion2SLR": 0, "DistFusion2SLRFeature": 0.0,
               "MatchingLoss": 0.0, "DialogueCTC": 0.0}
    out = system.losses(make_batch(), weights)
    assert "DistTranslation2SLR" not in out and "DistFusion2SLR" not in out
    with pytest.raises(AssertionError, match="weight-0"):
        system.losses(make_batch(), {**weights, "DistTranslation2SLR": 10.0})


def test_special_ids_come_from_the_vocabularies_and_the_text2gloss_layout_is_checked():
    """The system decodes words with WordVocab's <s> / </s> and reads the student's C gloss classes
    off the first C columns of the Text2Gloss logits (GlossVocab: classes, then <s> = C, </s> = C + 1)."""
    system = build("slr")
    vocab = GlossVocab(GLOSSES)
    assert (system.word_bos, system.word_eos, system.word_pad) == (WordVocab.bos, WordVocab.eos, WordVocab.pad)
    assert (system.text2gloss.bos, system.text2gloss.eos) == (vocab.bos, vocab.eos) == (vocab.num_classes,
                                                                                        vocab.num_classes + 1)
    assert torch.isfinite(system.losses(make_batch(), {"DistTranslation2SLR": 1.0})["DistTranslation2SLR"])
    system.num_classes += 1           # a student over another gloss vocabulary than the teacher's
    with pytest.raises(ConfigError, match="model.text2gloss: its vocabulary .* is not the 8 gloss classes"):
        system.losses(make_batch(), {"DistTranslation2SLR": 1.0})


def test_unknown_term_and_missing_teacher_are_config_errors():
    system = build("slr", dialogue_teacher=False)
    with pytest.raises(ConfigError, match="DistFusion2SLR: needs model.dialogue_teacher"):
        system.losses(make_batch(), {"DistFusion2SLR": 1.0})
    with pytest.raises(ConfigError, match="unknown loss"):
        system.losses(make_batch(), {"SeqCTC": 1.0})


@pytest.mark.parametrize("task,terms", [("slr", {**SLR_TERMS, **TEACHERS_OWN_TERMS}),
                                        ("slt", {**SLT_TERMS, "TranslationToGlossCrossEntropy": 1.0,
                                                 "DialogueCTC": 1.0, "DistFusion2SLR": 1.0})])
def test_padding_changes_no_loss(task, terms):
    system = build(task, "transformer").eval()
    with torch.no_grad():
        base = system.losses(make_batch(), terms)
        padded = system.losses(make_batch(extra_frames=9, extra_tokens=3), terms)
    for name in terms:
        assert torch.allclose(base[name], padded[name], atol=1e-5), (name, float(base[name]), float(padded[name]))


def test_gradients_reach_every_student_parameter_and_no_frozen_teacher():
    system = build("slr").train()
    frozen = {"dialogue_teacher", "text2gloss"}
    before = {k: v.clone() for k, v in system.dialogue_teacher.state_dict().items()}
    out = system.losses(make_batch(), SLR_TERMS, frozen=frozen)
    out["total"].backward()
    for name, p in [*system.student.named_parameters(), *system.student_projections.named_parameters()]:
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    for teacher in (system.dialogue_teacher, system.text2gloss):
        assert all(p.grad is None for p in teacher.parameters())
        assert teacher.training                            # mode restored after the call
    after = system.dialogue_teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)   # no BatchNorm statistics moved


def test_teacher_outputs_are_detached_even_when_the_teacher_trains():
    system = build("slr").train()
    system.losses(make_batch(), {"DistFusion2SLR": 1.0, "FeatureFusion2SLR": 1.0, "DistTranslation2SLR": 1.0})["total"].backward()
    assert all(p.grad is None for p in system.dialogue_teacher.parameters())
    assert all(p.grad is None for p in system.text2gloss.parameters())
    system.zero_grad(set_to_none=True)
    system.losses(make_batch(), {"DialogueCTC": 1.0})["total"].backward()
    assert all(p.grad is None for p in system.student.parameters())
    assert system.dialogue_teacher.classifier.weight.grad is not None


def test_infeasible_samples_are_reported_not_nan():
    torch.manual_seed(0)
    cfg = tiny_config("slr")
    cfg.model.visual.temporal_pad = "none"                 # the step counts below are unpadded: (T - 4) // 2 - 4
    system = build_system(cfg, GlossVocab(GLOSSES), WordVocab(WORDS), Tokenizer())
    batch = make_batch()
    batch.video_lengths = torch.tensor([30, 24, 14])      # 14 frames -> T' = 1, sample 2 has 1 gloss: fine
    batch.glosses[2, :1] = 5
    batch.glosses = torch.cat([batch.glosses, torch.zeros(3, 1, dtype=torch.long)], 1)
    batch.glosses[1, :3] = torch.tensor([4, 4, 4])        # sample 1: T' = 6 frames, needs 5: feasible
    batch.gloss_lengths = torch.tensor([3, 3, 1])
    batch.glosses[0] = torch.tensor([1, 1, 1, 1])          # sample 0: T' = 9, "1 1 1 1" needs 7: feasible
    batch.gloss_lengths[0] = 4
    batch.video_lengths[0] = 24                            # now T' = 6 < 7: infeasible
    out = system.losses(batch, {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "DistTranslation2SLR": 1.0})
    assert float(out["ConvCTCSign.left_out"]) == 1 and float(out["Text2GlossAlignment.left_out"]) == 1
    assert all(torch.isfinite(out[k]) for k in ("ConvCTCSign", "SeqCTCSign", "DistTranslation2SLR"))


def test_peaks_alignment_mode():
    system = build("slr")
    system.cfg.loss.alignment = "peaks"
    out = system.losses(make_batch(), {"DistTranslation2SLR": 1.0, "FeatureTranslation2SLR": 1.0})
    assert torch.isfinite(out["DistTranslation2SLR"]) and torch.isfinite(out["FeatureTranslation2SLR"])


def test_recognize_and_translate():
    slr = build("slr")
    batch = make_batch()
    for decoder in ("greedy", "beam"):
        hyps = slr.recognize(batch, decoder=decoder, beam_width=3)
        assert len(hyps) == 3 and all(0 not in h for h in hyps)
    assert len(slr.recognize(batch, model="dialogue_teacher")) == 3
    assert len(slr.translate(batch, model="text2gloss", max_len=4)) == 3
    slt = build("slt")
    for beam in (1, 2):
        hyps = slt.translate(batch, beam=beam, max_len=5)
        assert len(hyps) == 3 and all(len(h) <= 5 and 2 not in h for h in hyps)
    assert len(slt.translate(batch, model="gloss2text", max_len=5)) == 3
    assert len(slt.translate(batch, model="dialogue_teacher", max_len=5)) == 3
    assert slt.student.training                           # inference leaves the mode as it was


@pytest.mark.parametrize("task", ["slr", "slt"])
def test_rdrop_without_dropout_is_the_plain_cross_entropy_and_with_dropout_adds_a_consistency_term(task):
    """R-Drop's two passes differ only by their dropout masks: with every dropout at 0 the loss is
    exactly the cross-entropy; with dropout on, the passes disagree and the loss is larger."""
    weights = {"TranslationToGlossCrossEntropy": 1.0}

    def loss(rdrop: float, dropout: float) -> float:
        system = build(task)
        system.cfg.loss.rdrop = rdrop
        for module in system.modules():
            if isinstance(module, nn.Dropout):
                module.p = dropout
            elif isinstance(getattr(module, "dropout", None), float):      # attention-weight dropout
                module.dropout = dropout
        system.train()
        torch.manual_seed(1)
        out = system.losses(make_batch(), weights)
        out["total"].backward()                      # the consistency term carries gradients
        return float(out["TranslationToGlossCrossEntropy"].detach())

    assert loss(5.0, 0.0) == pytest.approx(loss(0.0, 0.0), abs=1e-6)
    assert loss(5.0, 0.5) > loss(0.0, 0.5) + 1e-3


def test_rdrop_is_off_for_a_frozen_teacher():
    """A frozen text teacher (distillation) runs once: no second pass, no extra term."""
    system = build("slr")
    system.cfg.loss.rdrop = 5.0
    calls = []
    system.text2gloss.register_forward_hook(lambda *a: calls.append(1))
    weights = {"DistTranslation2SLR": 1.0, "SeqCTCSign": 1.0, "TranslationToGlossCrossEntropy": 1.0}
    system.losses(make_batch(), weights, frozen=["text2gloss"])
    assert len(calls) == 1
    system.losses(make_batch(), weights)            # trained: the second pass runs
    assert len(calls) == 3


def test_dist_keeps_its_own_temperature_when_the_teachers_kd_temperature_changes():
    """VAC's Dist runs at loss.dist_temperature (8, as VAC); loss.temperature is the teachers' KD
    temperature; loss.temperatures / loss.t2_factor override either per term."""
    from signkd.config import kl_temperature, load_config
    from conftest import TINY_CONFIG

    system = build("slr").eval()                            # no dropout: the same logits every call
    batch = make_batch()
    terms = {"Dist": 1.0, "DistFusion2SLR": 1.0}
    values = {}
    for temperature in (8.0, 2.0):
        system.cfg.loss.temperature = temperature
        with torch.no_grad():
            values[temperature] = system.losses(batch, terms)
    assert float(values[8.0]["Dist"]) == float(values[2.0]["Dist"])
    assert float(values[8.0]["DistFusion2SLR"]) != float(values[2.0]["DistFusion2SLR"])
    system.cfg.loss.dist_temperature = 2.0
    with torch.no_grad():
        assert float(system.losses(batch, terms)["Dist"]) != float(values[8.0]["Dist"])
    cfg = load_config(TINY_CONFIG, ["loss.temperature=4", "loss.temperatures={DistTranslation2SLR: 1.5}",
                                    "loss.t2_factor={DistFusion2SLR: false}"]).loss
    assert [kl_temperature(cfg, t) for t in ("Dist", "DistFusion2SLR", "DistTranslation2SLR")] == \
        [(2.0, True), (4.0, False), (1.5, True)]                           # tiny.yaml: dist_temperature 2
    assert kl_temperature(load_config().loss, "Dist") == (8.0, True)
    with pytest.raises(ConfigError, match="loss.temperatures.SeqCTCSign: not a temperature-KL loss term"):
        load_config(TINY_CONFIG, ["loss.temperatures={SeqCTCSign: 2}"])
    with pytest.raises(ConfigError, match="loss.dist_temperature: expected a number > 0"):
        load_config(TINY_CONFIG, ["loss.dist_temperature=0"])


def test_a_checkpoint_from_before_dist_temperature_keeps_its_shared_temperature():
    from signkd.config import from_dict, to_dict, upgrade_stored_config

    old = to_dict(tiny_config())
    old["loss"]["temperature"] = 3.0
    del old["loss"]["dist_temperature"]
    assert from_dict(upgrade_stored_config(old)).loss.dist_temperature == 3.0


def test_dialogue_sign_dist_trains_the_teachers_sign_encoder_conv_side_only():
    """The original trained the dialogue teacher's sign encoder with all of VAC's losses: its two
    CTCs (DialogueSignCTC) and Dist (DialogueSignDist, here): the conv logits learn from the
    detached sequence logits, so the gradient reaches the CNN / temporal conv / conv classifier and
    nothing of the sequence side, nor the student."""
    from signkd.config import load_config
    from signkd.loss_terms import TERMS
    from conftest import REPO

    assert TERMS["DialogueSignDist"].trains == ("dialogue_teacher",)
    system = build("slr")
    out = system.losses(make_batch(), {"DialogueSignDist": 25.0})
    assert float(out["DialogueSignDist"].detach()) > 0 and out["total"].requires_grad
    out["total"].backward()
    encoder = system.dialogue_teacher.sign_encoder
    assert float(encoder.conv_classifier.weight.grad.abs().sum()) > 0
    assert float(next(encoder.front.cnn.parameters()).grad.abs().sum()) > 0
    assert encoder.classifier.weight.grad is None and system.dialogue_teacher.classifier.weight.grad is None
    assert all(p.grad is None for p in system.student.parameters())
    for name in ("teacher_slr_bilstm", "teacher_slt_bilstm", "teacher_slr_transformer", "teacher_slt_transformer"):
        cfg = load_config(REPO / "configs" / "dialogue_phoenix" / f"{name}.yaml")
        assert cfg.loss.weights["DialogueSignDist"] == 25.0 and cfg.loss.dist_temperature == 8.0, name


def test_slt_word_loss_can_take_the_originals_scale_summed_over_the_batch():
    """loss.translation_reduction: batch_sum is the original's XentLoss (summed over every real
    token of the batch); token_mean divides that by the number of real tokens. The configs that
    reproduce the original use batch_sum, the demo keeps its tuned mean."""
    from pathlib import Path

    from signkd.config import load_config
    from conftest import shipped_configs

    system = build("slt").eval()
    batch = make_batch()
    with torch.no_grad():
        mean = float(system.losses(batch, {"TranslationCrossEntropy": 1.0})["TranslationCrossEntropy"])
        system.cfg.loss.translation_reduction = "batch_sum"
        summed = float(system.losses(batch, {"TranslationCrossEntropy": 1.0})["TranslationCrossEntropy"])
    tokens = int(batch.dec_lengths.sum())
    assert tokens > len(batch) and summed == pytest.approx(mean * tokens, rel=1e-5)
    for path in shipped_configs():
        cfg = load_config(path)
        if cfg.model.task == "slt" and cfg.model.student:
            expected = "token_mean" if "synthetic" in Path(path).parts else "batch_sum"
            assert cfg.loss.translation_reduction == expected, path
