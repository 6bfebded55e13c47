"""Teachers at tiny sizes: shapes, lengths, padding invariance, real matching negatives, SLT memory
variants, step API == teacher-forced forward, gradients, no parameter shared with the student."""
import dataclasses

import pytest
import torch

from signkd.config import (ConfigError, DecoderConfig, FusionConfig, ModelConfig, Seq2SeqEncoderConfig,
                           SequenceConfig, TextEncoderConfig, VisualConfig)
from signkd.models.recognizer import SLRStudent
from signkd.data.vocab import GlossVocab
from signkd.models.teachers import DialogueTeacher, Gloss2TextTeacher, Text2GlossTeacher

C, WORDS, TEXT_VOCAB, H = 7, 13, 30, 16
GLOSSES = GlossVocab(f"G{i}" for i in range(1, C))    # C classes with the blank
torch.set_num_threads(1)


def tiny_cfg(**over) -> ModelConfig:
    cfg = ModelConfig(
        hidden=H,
        visual=VisualConfig(backbone="small", small_channels=[4, 8], temporal=["K3", "P2", "K3"], hidden=12),
        sequence=SequenceConfig(kind="bilstm", layers=1, dropout=0.0),
        text=TextEncoderConfig(layers=0, hidden=8, heads=2, ff=16, max_positions=32),
        fusion=FusionConfig(layers=2, heads=2, ff=32, max_positions=40),
        teacher_decoder=DecoderConfig(layers=2, heads=2, ff=32),
        text_teacher_encoder=Seq2SeqEncoderConfig(layers=1, heads=2, ff=32),
    )
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **{field: value}))
        else:
            setattr(cfg, key, value)
    return cfg


def dialogue(**over):
    torch.manual_seed(0)
    cfg = tiny_cfg(**over)
    return DialogueTeacher(cfg, C, TEXT_VOCAB, num_words=WORDS if cfg.task == "slt" else 0).eval()


def video_batch():
    torch.manual_seed(1)
    video = torch.randn(3, 16, 3, 16, 16)
    lengths = torch.tensor([16, 12, 9])
    ctx = torch.randint(1, TEXT_VOCAB, (3, 6))
    ctx_lengths = torch.tensor([6, 3, 5])
    return video, lengths, ctx, ctx_lengths


def expected_steps(lengths):
    return (lengths + 1) // 2          # K3-P2-K3 with VAC's edge padding (the default): ceil(T / 2)


# ---------------------------------------------------------------------------------- dialogue

@pytest.mark.parametrize("over", [{}, {"fusion__on": "conv"}, {"fusion__kind": "concat"}])
def test_dialogue_shapes_and_lengths(over):
    teacher = dialogue(**over)
    video, vl, ctx, cl = video_batch()
    out = teacher(video, vl, ctx, cl)
    steps = expected_steps(vl)
    t = int(steps.max())
    assert out["lengths"].tolist() == steps.tolist()
    assert out["logits"].shape == (3, t, C) and out["features"].shape == (3, t, H)
    assert out["sign_conv_logits"].shape == (3, t, C) and out["sign_seq_logits"].shape == (3, t, C)
    assert out["text_features"].shape == (3, 6, H)
    assert out["mask"].sum(1).tolist() == steps.tolist()
    assert "match_logits" not in out and "word_logits" not in out
    # frame-aligned with a student of the same layout
    student = SLRStudent(tiny_cfg(**over), C).eval()
    assert student(video, vl)["lengths"].tolist() == out["lengths"].tolist()


@pytest.mark.parametrize("over", [{}, {"fusion__on": "conv"}, {"fusion__kind": "concat"}])
def test_dialogue_padding_invariance(over):
    teacher = dialogue(**over)
    video, vl, ctx, cl = video_batch()
    out = teacher(video, vl, ctx, cl, with_matching=True)
    video_p = torch.cat([video, torch.randn(3, 5, 3, 16, 16)], 1)
    video_p[2, 9:] = 3.0                                     # padded frames changed
    ctx_p = torch.cat([ctx, torch.randint(1, TEXT_VOCAB, (3, 4))], 1)
    ctx_p[1, 3:] = torch.randint(1, TEXT_VOCAB, (7,))        # padded tokens changed
    out_p = teacher(video_p, vl, ctx_p, cl, with_matching=True)
    for i, n in enumerate(out["lengths"].tolist()):
        for key in ("logits", "features", "sign_seq_logits", "sign_conv_logits"):
            assert torch.allclose(out[key][i, :n], out_p[key][i, :n], atol=1e-5), key
        assert torch.allclose(out["text_features"][i, :cl[i]], out_p["text_features"][i, :cl[i]], atol=1e-5)
    assert torch.allclose(out["match_logits"], out_p["match_logits"], atol=1e-5)


def test_matching_negatives_are_other_samples_contexts():
    teacher = dialogue()
    video, vl, ctx, cl = video_batch()
    out = teacher(video, vl, ctx, cl, with_matching=True)
    assert out["match_logits"].shape == (6, 2)
    assert out["match_labels"].tolist() == [1, 1, 1, 0, 0, 0]
    positives = teacher.matching(out["text_features"])
    assert torch.allclose(out["match_logits"][:3], positives, atol=1e-5)
    rolled = teacher(video, vl, ctx.roll(1, 0), cl.roll(1, 0))        # video i with context i-1
    assert torch.allclose(out["match_logits"][3:], teacher.matching(rolled["text_features"]), atol=1e-5)
    assert not torch.allclose(out["match_logits"][:3], out["match_logits"][3:], atol=1e-4)


def test_matching_skips_identical_contexts_and_single_sample():
    teacher = dialogue()
    video, vl, ctx, cl = video_batch()
    ctx[1, :6] = ctx[0, :6]
    cl[1] = cl[0]                                            # sample 1's negative would be its own context
    out = teacher(video, vl, ctx, cl, with_matching=True)
    assert out["match_labels"].tolist() == [1, 1, 1, 0, 0]
    rolled = teacher(video, vl, ctx.roll(1, 0), cl.roll(1, 0))
    expected = teacher.matching(rolled["text_features"])[[0, 2]]
    assert torch.allclose(out["match_logits"][3:], expected, atol=1e-5)
    single = teacher(video[:1], vl[:1], ctx[:1], cl[:1], with_matching=True)
    assert single["match_labels"].tolist() == [1] and single["match_logits"].shape == (1, 2)


def test_matching_needs_the_head():
    teacher = dialogue(fusion__matching_head=False)
    assert teacher.matching is None
    with pytest.raises(ConfigError, match="matching_head"):
        teacher(*video_batch(), with_matching=True)


@pytest.mark.parametrize("memory", ["both", "video", "all"])
def test_dialogue_slt_memories_and_step_api(memory):
    teacher = dialogue(task="slt", teacher_decoder__memory=memory)
    assert len(teacher.decoder.layers[0].cross_attn) == (2 if memory == "both" else 1)
    video, vl, ctx, cl = video_batch()
    dec_in = torch.randint(1, WORDS, (3, 5))
    full = torch.full((3,), 5)
    out = teacher(video, vl, ctx, cl, dec_in, full)
    assert out["word_logits"].shape == (3, 5, WORDS) and out["word_features"].shape == (3, 5, H)
    memories = teacher.encode(video, vl, ctx, cl)
    assert all(m.size(0) == 3 for m in memories)
    expected = torch.log_softmax(out["word_logits"], -1)
    for u in range(1, 6):
        assert torch.allclose(teacher.decode_step(dec_in[:, :u], *memories), expected[:, u - 1], atol=1e-5)


def test_dialogue_slt_padding_invariance_of_words():
    teacher = dialogue(task="slt", teacher_decoder__memory="all")
    video, vl, ctx, cl = video_batch()
    dec_in = torch.randint(1, WORDS, (3, 5))
    dl = torch.tensor([5, 2, 4])
    out = teacher(video, vl, ctx, cl, dec_in, dl)
    ctx_p = torch.cat([ctx, torch.randint(1, TEXT_VOCAB, (3, 3))], 1)
    dec_p = torch.cat([dec_in, torch.randint(1, WORDS, (3, 2))], 1)
    video_p = torch.cat([video, torch.randn(3, 4, 3, 16, 16)], 1)
    out_p = teacher(video_p, vl, ctx_p, cl, dec_p, dl)
    for i, n in enumerate(dl.tolist()):
        assert torch.allclose(out["word_logits"][i, :n], out_p["word_logits"][i, :n], atol=1e-5)


def test_dialogue_config_errors():
    with pytest.raises(ConfigError, match="num_words"):
        DialogueTeacher(tiny_cfg(task="slt"), C, TEXT_VOCAB)
    teacher = dialogue()
    video, vl, ctx, cl = video_batch()
    with pytest.raises(ConfigError, match="slt"):
        teacher(video, vl, ctx, cl, torch.ones(3, 2, dtype=torch.long), torch.full((3,), 2))


def test_dialogue_gradients_reach_every_parameter():
    teacher = dialogue(task="slt").train()
    video, vl, ctx, cl = video_batch()
    out = teacher(video, vl, ctx, cl, torch.randint(1, WORDS, (3, 4)), torch.tensor([4, 3, 2]), with_matching=True)
    loss = sum(out[k].float().pow(2).mean() for k in ("logits", "sign_conv_logits", "sign_seq_logits",
                                                      "match_logits", "word_logits"))
    loss.backward()
    missing = [n for n, p in teacher.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == [], missing


def test_no_parameter_shared_with_the_student():
    cfg = tiny_cfg(task="slt")
    from signkd.models.recognizer import SLTStudent
    student = SLTStudent(cfg, C, WORDS)
    teachers = [DialogueTeacher(cfg, C, TEXT_VOCAB, WORDS), Gloss2TextTeacher(cfg, C, WORDS),
                Text2GlossTeacher(cfg, TEXT_VOCAB, GLOSSES)]
    student_ptrs = {p.data_ptr() for p in student.parameters()}
    for teacher in teachers:
        assert not student_ptrs & {p.data_ptr() for p in teacher.parameters()}


# ---------------------------------------------------------------------------------- text2gloss

def text2gloss(**over):
    torch.manual_seed(0)
    return Text2GlossTeacher(tiny_cfg(**over), TEXT_VOCAB, GLOSSES).eval()


def test_text2gloss_takes_its_sequence_ends_from_the_gloss_vocabulary():
    """GlossVocab is the one source of the Text2Gloss <s> / </s>; a vocabulary that put them
    anywhere but right after its C classes is refused, as the student reads the first C logits."""
    class Shifted(GlossVocab):
        bos = property(lambda self: self.num_classes + 1)
        eos = property(lambda self: self.num_classes)

    teacher = text2gloss()
    assert (teacher.bos, teacher.eos) == (GLOSSES.bos, GLOSSES.eos)
    assert teacher.decoder.vocab_size == GLOSSES.seq2seq_size
    with pytest.raises(ConfigError, match="text2gloss: GlossVocab's <s> = 8, </s> = 7 are not the two ids after"):
        Text2GlossTeacher(tiny_cfg(), TEXT_VOCAB, Shifted(GLOSSES.glosses))
    logits = torch.randn(2, 3, GLOSSES.seq2seq_size)
    assert torch.equal(teacher.gloss_class_logits(logits, C), logits[..., :C])
    with pytest.raises(ConfigError, match="model.text2gloss: its vocabulary .* is not the 8 gloss classes"):
        teacher.gloss_class_logits(logits, C + 1)


def test_text2gloss_shapes_layers_and_vocab():
    teacher = text2gloss()
    assert teacher.encoder.num_layers == 1 and (teacher.bos, teacher.eos) == (C, C + 1)
    text, tl = torch.randint(1, TEXT_VOCAB, (2, 7)), torch.tensor([7, 4])
    gloss_in, gl = torch.randint(1, C + 1, (2, 4)), torch.tensor([4, 2])
    out = teacher(text, tl, gloss_in, gl)
    assert out["logits"].shape == (2, 4, C + 2) and out["features"].shape == (2, 4, H)
    assert out["lengths"].tolist() == [4, 2]


def test_text2gloss_padding_invariance_and_step():
    teacher = text2gloss()
    text, tl = torch.randint(1, TEXT_VOCAB, (2, 7)), torch.tensor([7, 4])
    gloss_in, gl = torch.randint(1, C + 1, (2, 4)), torch.tensor([4, 2])
    out = teacher(text, tl, gloss_in, gl)
    text_p = torch.cat([text, torch.randint(1, TEXT_VOCAB, (2, 3))], 1)
    text_p[1, 4:] = 5
    gloss_p = torch.cat([gloss_in, torch.randint(1, C, (2, 2))], 1)
    out_p = teacher(text_p, tl, gloss_p, gl)
    for i, n in enumerate(gl.tolist()):
        assert torch.allclose(out["logits"][i, :n], out_p["logits"][i, :n], atol=1e-5)
        assert torch.allclose(out["features"][i, :n], out_p["features"][i, :n], atol=1e-5)
    full = teacher(text, tl, gloss_in, torch.full((2,), 4))
    memories = teacher.encode(text, tl)
    expected = torch.log_softmax(full["logits"], -1)
    for u in range(1, 5):
        assert torch.allclose(teacher.decode_step(gloss_in[:, :u], *memories), expected[:, u - 1], atol=1e-5)


# ---------------------------------------------------------------------------------- gloss2text

def gloss2text(**over):
    torch.manual_seed(0)
    return Gloss2TextTeacher(tiny_cfg(**over), C, WORDS).eval()


def test_gloss2text_shapes_padding_invariance_and_step():
    teacher = gloss2text()
    glosses, gl = torch.randint(1, C, (3, 5)), torch.tensor([5, 2, 3])
    dec_in, dl = torch.randint(1, WORDS, (3, 6)), torch.tensor([6, 3, 1])
    out = teacher(glosses, gl, dec_in, dl)
    assert out["word_logits"].shape == (3, 6, WORDS) and out["word_features"].shape == (3, 6, H)
    glosses_p = torch.cat([glosses, torch.randint(1, C, (3, 2))], 1)
    glosses_p[1, 2:] = 3
    dec_p = torch.cat([dec_in, torch.randint(1, WORDS, (3, 3))], 1)
    out_p = teacher(glosses_p, gl, dec_p, dl)
    for i, n in enumerate(dl.tolist()):
        assert torch.allclose(out["word_logits"][i, :n], out_p["word_logits"][i, :n], atol=1e-5)
        assert torch.allclose(out["word_features"][i, :n], out_p["word_features"][i, :n], atol=1e-5)
    full = teacher(glosses, gl, dec_in, torch.full((3,), 6))
    memories = teacher.encode(glosses, gl)
    expected = torch.log_softmax(full["word_logits"], -1)
    for u in range(1, 7):
        assert torch.allclose(teacher.decode_step(dec_in[:, :u], *memories), expected[:, u - 1], atol=1e-5)


def test_gloss2text_tied_embeddings_option():
    teacher = gloss2text(teacher_decoder__tie_embeddings=True)
    assert teacher.decoder.output.weight is teacher.decoder.embed.weight
    assert gloss2text().decoder.output.weight is not gloss2text().decoder.embed.weight


@pytest.mark.parametrize("build", ["gloss2text", "text2gloss"])
def test_source_token_dropout_only_while_training(build):
    """Word dropout on the text teachers' source tokens: a regulariser, so eval outputs equal the
    model without it, and with every other dropout off, training outputs differ."""
    no_dropout = dict(teacher_decoder=DecoderConfig(layers=2, heads=2, ff=32, dropout=0.0, emb_dropout=0.0))
    with_drop = globals()[build](**no_dropout, text_teacher_encoder=Seq2SeqEncoderConfig(
        layers=1, heads=2, ff=32, dropout=0.0, token_dropout=0.5))
    without = globals()[build](**no_dropout, text_teacher_encoder=Seq2SeqEncoderConfig(
        layers=1, heads=2, ff=32, dropout=0.0))
    without.load_state_dict(with_drop.state_dict())
    if build == "gloss2text":
        inputs = (torch.randint(1, C, (3, 5)), torch.tensor([5, 2, 3]), torch.randint(1, WORDS, (3, 6)),
                  torch.tensor([6, 3, 1]))
        key = "word_logits"
    else:
        inputs = (torch.randint(1, TEXT_VOCAB, (3, 7)), torch.tensor([7, 4, 2]), torch.randint(1, C + 1, (3, 4)),
                  torch.tensor([4, 2, 1]))
        key = "logits"
    assert torch.equal(with_drop(*inputs)[key], without(*inputs)[key])
    with_drop.train(), without.train()
    assert torch.equal(without(*inputs)[key], without(*inputs)[key])   # nothing else is random
    torch.manual_seed(1)
    assert not torch.allclose(with_drop(*inputs)[key], without(*inputs)[key])


def test_generate_uses_seq2seq_decoding():
    teacher = gloss2text()
    glosses, gl = torch.randint(1, C, (2, 4)), torch.tensor([4, 3])
    hyps = teacher.generate(glosses, gl, bos=1, eos=2, max_len=5)
    assert len(hyps) == 2 and all(len(h) <= 5 and 2 not in h for h in hyps)
    # greedy by hand from the step API
    memories = teacher.encode(glosses, gl)
    tokens = torch.ones(2, 1, dtype=torch.long)
    for _ in range(5):
        tokens = torch.cat([tokens, teacher.decode_step(tokens, *memories).argmax(-1, keepdim=True)], 1)
    for i, hyp in enumerate(hyps):
        ref = tokens[i, 1:].tolist()
        ref = ref[: ref.index(2)] if 2 in ref else ref
        assert hyp == ref


def test_teacher_sequence_lets_students_of_either_kind_share_one_teacher():
    """model.teacher_sequence: the dialogue teacher keeps its own sequence model, so a BiLSTM and a
    Transformer student both load the same teacher checkpoint strictly."""
    tf = SequenceConfig(kind="transformer", layers=1, heads=2, ff=32, dropout=0.0)
    teacher = dialogue(teacher_sequence=tf)
    assert type(teacher.sign_encoder.sequence) is type(SLRStudent(tiny_cfg(sequence=tf), C).sequence)
    for student_sequence in (SequenceConfig(kind="bilstm", layers=1, dropout=0.0), tf):
        cfg = tiny_cfg(sequence=student_sequence, teacher_sequence=tf)
        again = DialogueTeacher(cfg, C, TEXT_VOCAB)
        again.load_state_dict(teacher.state_dict(), strict=True)
    plain = dialogue()                                # unset: the student's own sequence model
    assert type(plain.sign_encoder.sequence) is type(SLRStudent(tiny_cfg(), C).sequence)
    assert type(plain.sign_encoder.sequence) is not type(teacher.sign_encoder.sequence)


def test_gloss2text_shares_word_embeddings_with_glosses_spelled_like_words():
    from signkd.data.vocab import GlossVocab, WordVocab
    from signkd.models.build import gloss_word_map

    glosses = GlossVocab(["KUEHL", "MORGEN", "REGEN", "WIE-AUSSEHEN"])
    words = WordVocab(["morgen", "regen", "wird", "es", "kühl"])
    mapping = gloss_word_map(glosses, words)
    assert mapping == [0] + [words.encode(w)[0] for w in ("kühl", "morgen", "regen")] + [0]   # blank, 3 shared, 1 not
    cfg = tiny_cfg(text_teacher_encoder__share_word_embeddings=True)
    with pytest.raises(ConfigError, match="share_word_embeddings"):
        Gloss2TextTeacher(cfg, 5, len(words))
    torch.manual_seed(0)
    teacher = Gloss2TextTeacher(cfg, 5, len(words), mapping)
    assert "gloss_words" not in teacher.state_dict()                  # derived from the vocabularies
    ids, lengths = torch.tensor([[1, 4]]), torch.tensor([2])
    out = teacher(ids, lengths, torch.tensor([[1, 4]]), torch.tensor([2]))
    out["word_logits"].sum().backward()
    grad = teacher.decoder.embed.weight.grad
    shared_row = mapping[1]
    # MORGEN's word row learns from the encoder side too; the same model without sharing differs
    plain = Gloss2TextTeacher(tiny_cfg(), 5, len(words))
    plain.load_state_dict(teacher.state_dict())
    assert not torch.allclose(plain.encode(ids, lengths)[0], teacher.encode(ids, lengths)[0])
    assert grad[shared_row].abs().sum() > 0 and grad[0].abs().sum() == 0


def test_ensemble_averages_the_members_probabilities_and_decodes():
    from signkd.models.ensemble import Seq2SeqEnsemble

    torch.manual_seed(0)
    a, b = Gloss2TextTeacher(tiny_cfg(), C, WORDS).eval(), Gloss2TextTeacher(tiny_cfg(), C, WORDS).eval()
    glosses, gl = torch.randint(1, C, (2, 4)), torch.tensor([4, 3])
    tokens = torch.randint(1, WORDS, (2, 3))
    both = Seq2SeqEnsemble([a, b])
    mems = both.encode(glosses, gl)
    assert len(mems) == len(a.encode(glosses, gl)) * 2
    expected = (a.decode_step(tokens, *a.encode(glosses, gl)).exp() + b.decode_step(tokens, *b.encode(glosses, gl)).exp()) / 2
    assert torch.allclose(both.decode_step(tokens, *mems).exp(), expected, atol=1e-6)
    same = Seq2SeqEnsemble([a, a])                          # an ensemble of one model twice is that model
    for beam in (1, 3):
        assert same.generate(glosses, gl, bos=1, eos=2, max_len=6, beam_size=beam) == \
            a.generate(glosses, gl, bos=1, eos=2, max_len=6, beam_size=beam)
    with pytest.raises(ConfigError, match="at least two"):
        Seq2SeqEnsemble([a])
