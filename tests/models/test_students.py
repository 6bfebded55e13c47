"""SLR / SLT students: shapes, lengths, padding invariance, gradients, decoding step."""
from __future__ import annotations

import typing

import pytest
import torch
import torch.nn.functional as F

from signkd import decoding
from signkd.config import ModelConfig, SequenceConfig
from signkd.data.batch import lengths_to_mask
from signkd.losses import ctc_loss, token_cross_entropy
from signkd.models.recognizer import SingleClipStudent, SLRStudent, SLTStudent, build_sign_encoder
from signkd.models.sequence import BiLSTMEncoder, TransformerSequenceEncoder

C, V = 7, 11


def tiny_model_config(kind: str = "bilstm") -> ModelConfig:
    cfg = ModelConfig(hidden=16)
    cfg.visual.backbone, cfg.visual.small_channels, cfg.visual.hidden = "small", [4, 8], 12
    cfg.sequence.kind, cfg.sequence.heads, cfg.sequence.ff, cfg.sequence.dropout = kind, 2, 32, 0.1
    cfg.decoder.layers, cfg.decoder.heads, cfg.decoder.ff = 2, 2, 32
    return cfg


def video(b: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 3, 16, 16, generator=g)


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_sequence_encoders_shapes_and_padding(kind):
    torch.manual_seed(0)
    enc = (BiLSTMEncoder(6, 10, 2, 0.0) if kind == "bilstm" else TransformerSequenceEncoder(6, 10, 2, 2, 16, 0.0)).eval()
    x, lengths = torch.randn(3, 9, 6), torch.tensor([9, 4, 6])
    with torch.no_grad():
        y = enc(x, lengths)
        y_long = enc(torch.cat([x, torch.randn(3, 5, 6)], 1), lengths)
        alone = enc(x[1:2, :4], lengths[1:2])
    assert y.shape == (3, 9, 10)
    assert float(y[~lengths_to_mask(lengths, 9)].abs().sum()) == 0.0
    mask = lengths_to_mask(lengths, 9)
    assert torch.allclose(y[mask], y_long[:, :9][mask], atol=1e-5)
    assert torch.allclose(alone[0], y[1, :4], atol=1e-5)


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_slr_student_shapes_and_lengths(kind):
    torch.manual_seed(0)
    model = SLRStudent(tiny_model_config(kind), C)
    out = model(video(2, 30), torch.tensor([30, 22]))
    assert out["lengths"].tolist() == [15, 11]            # ceil(T / 2): VAC's edge padding (default)
    assert out["conv_logits"].shape == out["seq_logits"].shape == (2, 15, C)
    assert out["features"].shape == (2, 15, 16) and out["conv_features"].shape == (2, 15, 12)
    assert out["mask"].tolist()[1] == [True] * 11 + [False] * 4
    cfg = tiny_model_config(kind)
    cfg.visual.temporal_pad = "none"
    assert SLRStudent(cfg, C)(video(2, 30), torch.tensor([30, 22]))["lengths"].tolist() == [9, 5]  # (T - 4) // 2 - 4


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_slr_student_padding_invariance(kind):
    torch.manual_seed(0)
    model = SLRStudent(tiny_model_config(kind), C).eval()
    lengths = torch.tensor([30, 22])
    clips = video(2, 30)
    with torch.no_grad():
        base = model(clips, lengths)
        padded = model(torch.cat([clips, video(2, 11, seed=1)], 1), lengths)   # 11 more padded frames
        alone = model(clips[1:, :22], lengths[1:])
    mask = base["mask"]
    for key in ("conv_logits", "seq_logits", "features"):
        t = base[key].shape[1]
        assert torch.allclose(base[key][mask], padded[key][:, :t][mask], atol=1e-5), key
        assert torch.allclose(alone[key][0], base[key][1, :11], atol=1e-5), key


def test_sign_encoder_has_the_student_layout():
    cfg = tiny_model_config()
    student, encoder = SLRStudent(cfg, C), build_sign_encoder(cfg, C)
    assert [(n, p.shape) for n, p in student.named_parameters()] == [(n, p.shape) for n, p in encoder.named_parameters()]


def test_slt_student_shapes_and_step():
    torch.manual_seed(0)
    model = SLTStudent(tiny_model_config(), C, V).eval()
    dec_in = torch.tensor([[1, 5, 6, 7], [1, 4, 0, 0]])
    dec_lengths = torch.tensor([4, 2])
    with torch.no_grad():
        out = model(video(2, 30), torch.tensor([30, 22]), dec_in, dec_lengths)
        memory, memory_lengths = model.encode(video(2, 30), torch.tensor([30, 22]))
        step = model.decode_step(dec_in[:, :3], memory, memory_lengths)
    assert out["word_logits"].shape == (2, 4, V) and out["word_features"].shape == (2, 4, 16)
    assert memory.shape == (2, 15, 16) and memory_lengths.tolist() == [15, 11]
    assert torch.allclose(step[0], torch.log_softmax(out["word_logits"][0, 2], -1), atol=1e-5)


def test_slt_student_padding_invariance():
    torch.manual_seed(0)
    model = SLTStudent(tiny_model_config("transformer"), C, V).eval()
    lengths, dec_lengths = torch.tensor([30, 22]), torch.tensor([4, 2])
    dec_in = torch.tensor([[1, 5, 6, 7], [1, 4, 0, 0]])
    clips = video(2, 30)
    with torch.no_grad():
        base = model(clips, lengths, dec_in, dec_lengths)
        padded = model(torch.cat([clips, video(2, 6, seed=2)], 1), lengths,
                       torch.cat([dec_in, torch.tensor([[9, 9], [3, 3]])], 1), dec_lengths)
    mask = lengths_to_mask(dec_lengths, 4)
    assert torch.allclose(base["word_logits"][mask], padded["word_logits"][:, :4][mask], atol=1e-5)
    assert torch.allclose(base["word_features"][mask], padded["word_features"][:, :4][mask], atol=1e-5)


def test_slt_student_greedy_decoding_with_the_shared_decoder():
    torch.manual_seed(0)
    model = SLTStudent(tiny_model_config(), C, V).eval()
    with torch.no_grad():
        memories = model.encode(video(2, 30), torch.tensor([30, 22]))
        hyps = decoding.seq2seq_greedy(model.decode_step, memories, 2, bos=1, eos=2, max_len=5)
    assert len(hyps) == 2 and all(len(h) <= 5 and 2 not in h for h in hyps)


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_gradients_reach_every_student_parameter(kind):
    torch.manual_seed(0)
    model = SLTStudent(tiny_model_config(kind), C, V).train()
    lengths = torch.tensor([30, 26])
    dec_in, dec_out = torch.tensor([[1, 5, 6], [1, 4, 0]]), torch.tensor([[5, 6, 2], [4, 2, 0]])
    dec_lengths = torch.tensor([3, 2])
    out = model(video(2, 30), lengths, dec_in, dec_lengths)
    glosses, gloss_lengths = torch.tensor([[1, 2, 3], [4, 0, 0]]), torch.tensor([3, 1])
    loss = (ctc_loss(out["conv_logits"], out["lengths"], glosses, gloss_lengths)[0]
            + ctc_loss(out["seq_logits"], out["lengths"], glosses, gloss_lengths)[0]
            + token_cross_entropy(out["word_logits"], dec_out, lengths_to_mask(dec_lengths, 3)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, name


def test_training_mode_student_is_padding_invariant_too():
    """BatchNorm statistics come from real frames only, so even in train mode extra padding
    changes nothing (dropout off)."""
    torch.manual_seed(0)
    cfg = tiny_model_config()
    cfg.sequence.dropout = 0.0
    model = SLRStudent(cfg, C).train()
    clips, lengths = video(2, 30), torch.tensor([30, 22])
    base = model(clips, lengths)
    padded = model(torch.cat([clips, video(2, 8, seed=3)], 1), lengths)
    mask = base["mask"]
    assert torch.allclose(base["seq_logits"][mask], padded["seq_logits"][:, :15][mask], atol=1e-5)
    assert F.mse_loss(base["conv_logits"][mask], padded["conv_logits"][:, :15][mask]) < 1e-10


SEQUENCE_KINDS = typing.get_args(typing.get_type_hints(SequenceConfig)["kind"])


@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
@pytest.mark.parametrize("pad, temporal", [("vac", ["K5", "P2", "K5"]), ("none", ["K3", "P2", "K3", "P2"])])
def test_the_single_clip_path_is_the_batched_student(kind, pad, temporal):
    """`SingleClipStudent` (what recognize runs and export writes to ONNX) goes through each
    module's `single` path, not its `forward`: for every sequence kind the config accepts it must
    give the batched student's numbers, so a change to one path that the other does not follow
    fails here. Every weight and BatchNorm statistic is perturbed first, so a module that one path
    skips cannot hide behind an identity-like initialisation."""
    torch.manual_seed(0)
    cfg = tiny_model_config(kind)
    cfg.visual.temporal, cfg.visual.temporal_pad = temporal, pad
    model = SLRStudent(cfg, C).eval()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                value.add_(0.2 * torch.randn_like(value).abs() if name.endswith("running_var") else
                           0.2 * torch.randn_like(value))
    single = SingleClipStudent(model)
    for frames in (model.front.spec.min_input_length, 23, 40):
        clip = video(1, frames, seed=frames)
        with torch.no_grad():
            ref = model(clip, torch.tensor([frames]))
            conv_logits, seq_logits = single(clip)
        assert conv_logits.shape == ref["conv_logits"].shape, (kind, pad, frames)
        torch.testing.assert_close(conv_logits, ref["conv_logits"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(seq_logits, ref["seq_logits"], atol=1e-5, rtol=1e-5)
