"""The video-only students: SLR (glosses by CTC) and SLT (SLR encoder + word decoder).

The dialogue teacher builds its own sign encoder with `build_sign_encoder`, i.e. the very same
layout as the student, so teacher and student frame outputs line up one to one (same T').
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from signkd.config import ConfigError, ModelConfig
from signkd.data.batch import lengths_to_mask
from signkd.models.decoder import TransformerDecoder
from signkd.models.sequence import build_sequence_encoder
from signkd.models.visual import VisualFrontEnd


class SLRStudent(nn.Module):
    """VAC sign encoder: frame CNN -> temporal conv -> conv classifier; sequence encoder ->
    sequence classifier. Blank = class 0.

    forward(video (B, T, 3, H, W), lengths (B,)) -> dict(
        conv_logits (B, T', C), seq_logits (B, T', C), features (B, T', H) sequence features,
        conv_features (B, T', Hv), lengths (B,) = T', mask (B, T') bool real steps)"""

    def __init__(self, cfg: ModelConfig, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"model.num_classes: need blank + at least one gloss, got {num_classes}")
        self.num_classes = num_classes
        self.front = VisualFrontEnd(cfg.visual)
        self.conv_classifier = nn.Linear(self.front.out_dim, num_classes)
        seq = cfg.sequence
        self.sequence = build_sequence_encoder(seq.kind, self.front.out_dim, cfg.hidden, seq.layers,
                                               seq.heads, seq.ff, seq.dropout)
        self.classifier = nn.Linear(cfg.hidden, num_classes)
        self.hidden = cfg.hidden

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) frames -> (B,) output steps T' (model.visual.temporal_pad included)."""
        return self.front.output_lengths(lengths)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        conv_features, out_lengths = self.front(video, lengths)                 # (B, T', Hv)
        features = self.sequence(conv_features, out_lengths)                    # (B, T', H)
        mask = lengths_to_mask(out_lengths, features.shape[1])
        return {
            "conv_logits": self.conv_classifier(conv_features),                 # (B, T', C)
            "seq_logits": self.classifier(features),                            # (B, T', C)
            "features": features,
            "conv_features": conv_features,
            "lengths": out_lengths,
            "mask": mask,
        }


class SingleClipStudent(nn.Module):
    """`SLRStudent.forward` for one clip, without packing or masks: what `signkd.inference.Recognizer`
    runs and `signkd export` writes to ONNX (traceable with a symbolic length). It calls each
    module's `single` path, which sits beside that module's batched `forward` and runs the same
    layers, so it gives the batched model's numbers for a batch of one (tests/models/test_students.py
    holds the two together) at ~7x the speed for the BiLSTM on CPU (no packing).

    forward(video (1, T, 3, H, W)) -> conv_logits (1, T', C), seq_logits (1, T', C)."""

    def __init__(self, encoder: SLRStudent):
        super().__init__()
        self.encoder = encoder

    def steps(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """(1, n, D) frame features, edge padding included -> conv_logits, seq_logits (1, n', C),
        features (1, n', H): the part of `forward` after the frame CNN (inference's windows)."""
        enc = self.encoder
        conv_features = enc.front.temporal.single(frames)                     # (1, n', Hv)
        features = enc.sequence.single(conv_features)                         # (1, n', H)
        return {"conv_logits": enc.conv_classifier(conv_features), "seq_logits": enc.classifier(features),
                "features": features}

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        front = self.encoder.front
        out = self.steps(front.pad.single(front.single_frame_features(video)))
        return out["conv_logits"], out["seq_logits"]


def build_sign_encoder(cfg: ModelConfig, num_classes: int) -> SLRStudent:
    """The dialogue teacher's sign encoder: the student's layout, with `model.teacher_sequence`
    as its sequence model when that is set."""
    if cfg.teacher_sequence is not None:
        cfg = dataclasses.replace(cfg, sequence=cfg.teacher_sequence)
    return SLRStudent(cfg, num_classes)


class SLTStudent(nn.Module):
    """SLR student (`encoder`, loadable from an SLR checkpoint's ``student.`` keys) + a Transformer
    decoder over its sequence features (3 layers, 8 heads by default).

    forward(video, lengths, dec_in (B, U), dec_lengths (B,)) -> the SLR dict plus
        word_logits (B, U, V), word_features (B, U, H) (decoder hidden after its final norm)."""

    def __init__(self, cfg: ModelConfig, num_classes: int, num_words: int):
        super().__init__()
        self.encoder = SLRStudent(cfg, num_classes)
        self.decoder = TransformerDecoder.from_config(cfg.decoder, num_words, cfg.hidden, num_memories=1)
        self.num_classes = num_classes
        self.num_words = num_words
        self.hidden = cfg.hidden

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.encoder.output_lengths(lengths)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor, dec_in: torch.Tensor,
                dec_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.encoder(video, lengths)
        word_logits, word_features = self.decoder(dec_in, dec_lengths, out["features"], out["lengths"])
        out["word_logits"] = word_logits                                         # (B, U, V)
        out["word_features"] = word_features                                     # (B, U, H)
        return out

    def encode(self, video: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> memories for `decode_step`: features (B, T', H), lengths (B,)."""
        out = self.encoder(video, lengths)
        return out["features"], out["lengths"]

    def decode_step(self, tokens: torch.Tensor, memory: torch.Tensor, memory_lengths: torch.Tensor) -> torch.Tensor:
        """step_fn for `signkd.decoding.seq2seq_*`: tokens (N, U) -> log-probs (N, V)."""
        return self.decoder.step(tokens, memory, memory_lengths)
