"""The three teachers. None shares a parameter with the student (the original shared the SLT
``text_embedding`` between the student and the Gloss2Text teacher, so "frozen" teachers moved).

- ``DialogueTeacher``: its own sign encoder (student layout, so its frames line up with the
  student's) + BERT over the dialogue context + video–text fusion -> gloss logits on the fused
  video stream; optional matching head with real negatives; for SLT a word decoder over the
  fused streams.
- ``Text2GlossTeacher``: BERT over the spoken sentence -> gloss decoder (teacher-forced).
- ``Gloss2TextTeacher``: Transformer encoder over gloss ids -> word decoder (teacher-forced on
  the SLT student's ``dec_in``, so position u of both decoders is the same target word).

The seq2seq teachers expose ``encode(...) -> memories`` and ``decode_step(tokens, *memories)``
for ``signkd.decoding.seq2seq_greedy`` / ``seq2seq_beam_search``, and ``generate`` on top.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import torch
from torch import nn

from signkd.config import ConfigError, ModelConfig
from signkd.data.batch import lengths_to_mask
from signkd.data.vocab import GlossVocab
from signkd.models.decoder import TransformerDecoder, drop_tokens, sinusoidal_positions
from signkd.models.fusion import MatchingHead, TransformerEncoder, build_fusion, concat_streams
from signkd.models.recognizer import build_sign_encoder
from signkd.models.text import TextEncoder


def _project(in_dim: int, out_dim: int) -> nn.Module:
    """A Linear only where two widths differ (e.g. a pretrained BERT's 768 vs a smaller model)."""
    return nn.Identity() if in_dim == out_dim else nn.Linear(in_dim, out_dim)


class Seq2SeqGenerate:
    """``generate`` for modules with ``encode`` and ``decode_step`` (greedy when beam_size == 1)."""

    @torch.no_grad()
    def generate(self, *inputs, bos: int, eos: int, max_len: int, beam_size: int = 1,
                 alpha: float = 1.0) -> list[list[int]]:
        from signkd import decoding

        memories = self.encode(*inputs)
        batch_size = memories[0].size(0)
        if beam_size <= 1:
            return decoding.seq2seq_greedy(self.decode_step, memories, batch_size, bos, eos, max_len)
        return decoding.seq2seq_beam_search(self.decode_step, memories, batch_size, bos, eos, max_len,
                                            beam_size=beam_size, alpha=alpha)


def same_rows(ids: torch.Tensor, lengths: torch.Tensor, other_ids: torch.Tensor,
              other_lengths: torch.Tensor) -> torch.Tensor:
    """(B,) bool: row i of both padded id batches holds the same real tokens."""
    mask = lengths_to_mask(lengths, ids.size(1))
    return (lengths == other_lengths) & ((ids == other_ids) | ~mask).all(1)


# --------------------------------------------------------------------------------------------
# Dialogue teacher
# --------------------------------------------------------------------------------------------

class DialogueTeacher(nn.Module, Seq2SeqGenerate):
    """Sign encoder + BERT context + fusion (``cfg.fusion.kind`` hybrid | concat).

    forward(video (B, T, 3, H, W), video_lengths (B,), ctx_ids (B, Lc), ctx_lengths (B,),
            dec_in (B, U) = None, dec_lengths (B,) = None, with_matching=False) -> dict(
        logits (B, T', C)            gloss logits on the fused video stream (loss DialogueCTC)
        features (B, T', H)          fused video stream (feature distillation target)
        text_features (B, Lc, H)     fused text stream
        lengths (B,), mask (B, T')   real output steps, identical to the student's
        sign_conv_logits, sign_seq_logits (B, T', C)  own sign-encoder heads, the "residual"
                                     path that keeps the teacher grounded in the video (DialogueSignCTC,
                                     DialogueSignDist)
        sign_features (B, T', H)     own sign-encoder sequence features
        match_logits (N, 2), match_labels (N,)   with_matching: B positive pairs (label 1), then
                                     one negative per sample (label 0): the context of the previous
                                     sample in the batch (batch rolled by one), skipped where that
                                     context is identical to the sample's own (so B = 1 has none)
        word_logits (B, U, V), word_features (B, U, H)   task slt and dec_in given)

    ``cfg.fusion.on``: fuse the sign encoder's sequence features (default) or its temporal-conv
    features (text enters before the sequence model sees the frames' context).
    ``cfg.teacher_decoder.memory`` (slt): both fused streams (two cross-attentions per layer),
    the fused video stream only, or all fused outputs concatenated into one memory.
    """

    def __init__(self, cfg: ModelConfig, num_classes: int, text_vocab_size: int, num_words: int = 0,
                 text_architecture: Optional[dict] = None):
        super().__init__()
        hidden = cfg.hidden
        self.task = cfg.task
        self.fuse_on = cfg.fusion.on
        if self.fuse_on not in ("sequence", "conv"):
            raise ConfigError(f"model.fusion.on: expected 'sequence' or 'conv', got {self.fuse_on!r}")
        self.sign_encoder = build_sign_encoder(cfg, num_classes)
        sign_dim = hidden if self.fuse_on == "sequence" else self.sign_encoder.front.out_dim
        self.sign_proj = _project(sign_dim, hidden)
        self.text_encoder = TextEncoder(cfg.text, text_vocab_size, architecture=text_architecture)
        self.text_proj = _project(self.text_encoder.hidden, hidden)
        self.fusion = build_fusion(cfg.fusion, hidden)
        self.classifier = nn.Linear(hidden, num_classes)
        self.matching = MatchingHead(hidden) if cfg.fusion.matching_head else None
        self.memory = cfg.teacher_decoder.memory
        self.decoder = None
        if cfg.task == "slt":
            if num_words < 1:
                raise ConfigError("model.task: slt needs a word vocabulary (num_words >= 1) for the dialogue teacher")
            if self.memory not in ("both", "video", "all"):
                raise ConfigError(f"model.teacher_decoder.memory: expected both, video or all, got {self.memory!r}")
            self.decoder = TransformerDecoder.from_config(cfg.teacher_decoder, num_words, hidden,
                                                          num_memories=2 if self.memory == "both" else 1)

    def _fuse(self, video, video_lengths, ctx_ids, ctx_lengths):
        sign = self.sign_encoder(video, video_lengths)
        lengths = sign["lengths"]
        stream = self.sign_proj(sign["features" if self.fuse_on == "sequence" else "conv_features"])  # (B, T', H)
        text = self.text_proj(self.text_encoder(ctx_ids, ctx_lengths))                                # (B, Lc, H)
        fused_video, fused_text = self.fusion(stream, lengths, text, ctx_lengths)
        return sign, stream, text, fused_video, fused_text

    def _matching(self, stream, lengths, text, ctx_ids, ctx_lengths, fused_text):
        if self.matching is None:
            raise ConfigError("model.fusion.matching_head: MatchingLoss needs the matching head (set it to true)")
        b = ctx_ids.size(0)
        neg_ids, neg_lengths = ctx_ids.roll(1, 0), ctx_lengths.roll(1, 0)
        real = ~same_rows(ctx_ids, ctx_lengths, neg_ids, neg_lengths)          # (B,) a true negative exists
        logits = [self.matching(fused_text)]                                    # (B, 2) positives
        if real.any():
            neg_text, neg_lengths = text.roll(1, 0)[real], neg_lengths[real]   # BERT is per sample: roll its output
            neg_text = neg_text[:, : int(neg_lengths.max())]
            _, fused_neg = self.fusion(stream[real], lengths[real], neg_text, neg_lengths)
            logits.append(self.matching(fused_neg))                             # (N_neg, 2)
        labels = torch.cat([torch.ones(b, dtype=torch.long, device=ctx_ids.device),
                            torch.zeros(int(real.sum()), dtype=torch.long, device=ctx_ids.device)])
        return torch.cat(logits), labels

    def _memories(self, fused_video, lengths, fused_text, ctx_lengths) -> tuple:
        if self.memory == "both":
            return fused_video, lengths, fused_text, ctx_lengths
        if self.memory == "video":
            return fused_video, lengths
        return concat_streams(fused_video, lengths, fused_text, ctx_lengths)

    def forward(self, video: torch.Tensor, video_lengths: torch.Tensor, ctx_ids: torch.Tensor,
                ctx_lengths: torch.Tensor, dec_in: Optional[torch.Tensor] = None,
                dec_lengths: Optional[torch.Tensor] = None, with_matching: bool = False) -> dict[str, torch.Tensor]:
        sign, stream, text, fused_video, fused_text = self._fuse(video, video_lengths, ctx_ids, ctx_lengths)
        lengths = sign["lengths"]
        out = {
            "logits": self.classifier(fused_video),                            # (B, T', C)
            "features": fused_video,                                            # (B, T', H)
            "text_features": fused_text,                                        # (B, Lc, H)
            "lengths": lengths,
            "mask": lengths_to_mask(lengths, fused_video.size(1)),
            "sign_conv_logits": sign["conv_logits"],
            "sign_seq_logits": sign["seq_logits"],
            "sign_features": sign["features"],
        }
        if with_matching:
            out["match_logits"], out["match_labels"] = self._matching(stream, lengths, text, ctx_ids,
                                                                      ctx_lengths, fused_text)
        if dec_in is not None:
            if self.decoder is None:
                raise ConfigError("model.task: the dialogue teacher has no word decoder unless task is slt")
            memories = self._memories(fused_video, lengths, fused_text, ctx_lengths)
            out["word_logits"], out["word_features"] = self.decoder(dec_in, dec_lengths, *memories)
        return out

    def encode(self, video, video_lengths, ctx_ids, ctx_lengths) -> tuple:
        """-> memories for `decode_step` (tensors with the batch first)."""
        if self.decoder is None:
            raise ConfigError("model.task: the dialogue teacher translates only when task is slt")
        sign, _, _, fused_video, fused_text = self._fuse(video, video_lengths, ctx_ids, ctx_lengths)
        return self._memories(fused_video, sign["lengths"], fused_text, ctx_lengths)

    def decode_step(self, tokens: torch.Tensor, *memories: torch.Tensor) -> torch.Tensor:
        """tokens (N, U) -> log-probs (N, V) of the next word."""
        return self.decoder.step(tokens, *memories)


# --------------------------------------------------------------------------------------------
# Text teachers
# --------------------------------------------------------------------------------------------

class Text2GlossTeacher(nn.Module, Seq2SeqGenerate):
    """BERT over the spoken sentence -> Transformer decoder over glosses.

    Gloss decoder vocabulary = the run's ``GlossVocab`` (its ``seq2seq_size`` = C + 2 ids): 0 = pad
    (the CTC blank's id), glosses 1..C-1, then its bos = C and eos = C + 1, so the first C logits are
    the student's CTC classes (`gloss_class_logits`). The BERT is ``cfg.text`` (same pretrained name
    as the dialogue teacher's, but its own copy) keeping ``cfg.text_teacher_encoder.layers`` layers; a
    randomly initialised one takes heads/ff/dropout from ``cfg.text_teacher_encoder``.

    forward(text_ids (B, Lt), text_lengths (B,), gloss_in (B, L+1), gloss_in_lengths (B,)) -> dict(
        logits (B, L+1, C+2), features (B, L+1, H) decoder hidden after its final norm, lengths (B,))
    """

    def __init__(self, cfg: ModelConfig, text_vocab_size: int, gloss_vocab: GlossVocab,
                 text_architecture: Optional[dict] = None):
        super().__init__()
        size, num_classes = gloss_vocab.seq2seq_size, gloss_vocab.num_classes
        if num_classes < 2:
            raise ConfigError(f"text2gloss: gloss vocabulary (with pad, bos, eos) too small: {size}")
        # GlossVocab owns <s> / </s>; the decoder's last two outputs must be them, after the C classes
        self.bos, self.eos = gloss_vocab.bos, gloss_vocab.eos
        if (self.bos, self.eos) != (num_classes, num_classes + 1) or size != self.eos + 1:
            raise ConfigError(f"text2gloss: GlossVocab's <s> = {self.bos}, </s> = {self.eos} are not the two ids after "
                              f"its {num_classes} classes in {size} decoder outputs")
        tte = cfg.text_teacher_encoder
        text_cfg = dataclasses.replace(cfg.text, layers=tte.layers, heads=tte.heads, ff=tte.ff, dropout=tte.dropout) \
            if not cfg.text.pretrained else cfg.text
        self.encoder = TextEncoder(text_cfg, text_vocab_size, layers=tte.layers, token_dropout=tte.token_dropout,
                                   architecture=text_architecture)
        self.encoder_proj = _project(self.encoder.hidden, cfg.hidden)
        self.decoder = TransformerDecoder.from_config(cfg.teacher_decoder, size, cfg.hidden)

    def encode(self, text_ids: torch.Tensor, text_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder_proj(self.encoder(text_ids, text_lengths)), text_lengths     # (B, Lt, H), (B,)

    def forward(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, gloss_in: torch.Tensor,
                gloss_in_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        memory, memory_lengths = self.encode(text_ids, text_lengths)
        logits, features = self.decoder(gloss_in, gloss_in_lengths, memory, memory_lengths)
        return {"logits": logits, "features": features, "lengths": gloss_in_lengths}

    def decode_step(self, tokens: torch.Tensor, memory: torch.Tensor, memory_lengths: torch.Tensor) -> torch.Tensor:
        return self.decoder.step(tokens, memory, memory_lengths)

    @staticmethod
    def decoder_steps(gloss_lengths: torch.Tensor) -> torch.Tensor:
        """(B,) real decoder steps: one more than the glosses, as Collate writes gloss_in = [<s>, g1..gL]
        and gloss_out = [g1..gL, </s>] (tests/data/test_batching.py checks it)."""
        return gloss_lengths + 1

    def gloss_class_logits(self, logits: torch.Tensor, num_classes: int) -> torch.Tensor:
        """(B, L+1, C+2) logits -> (B, L+1, C), the columns of a CTC student's `num_classes` classes:
        the decoder's vocabulary is the C classes (0 = pad at the blank's id), then <s>, </s>."""
        if self.bos != num_classes or logits.shape[-1] != self.eos + 1:
            raise ConfigError(f"model.text2gloss: its vocabulary ({logits.shape[-1]} ids, <s> = {self.bos}) is not "
                              f"the {num_classes} gloss classes + <s> + </s> of the student's gloss vocabulary")
        return logits[..., : self.bos]


class GlossEncoder(nn.Module):
    """Gloss ids (B, L) -> (B, L, H): own embedding (x sqrt(H)) + sinusoidal positions, LayerNorm,
    dropout, post-LN Transformer layers (BERT-base geometry by default, as the original)."""

    def __init__(self, num_classes: int, hidden: int, layers: int, heads: int, ff: int, dropout: float,
                 token_dropout: float = 0.0):
        super().__init__()
        self.hidden = hidden
        self.token_dropout = token_dropout
        self.embed = nn.Embedding(num_classes, hidden, padding_idx=0)
        nn.init.normal_(self.embed.weight, std=hidden ** -0.5)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(hidden, layers, heads, ff, dropout)

    def forward(self, glosses: torch.Tensor, lengths: torch.Tensor, extra: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.embed(glosses) if extra is None else self.embed(glosses) + extra     # (B, L, H)
        x = drop_tokens(x, self.token_dropout, self.training) * math.sqrt(self.hidden)
        x = x + sinusoidal_positions(glosses.size(1), self.hidden, x.device, x.dtype)[None]
        return self.encoder(self.dropout(self.norm(x)), lengths)


class Gloss2TextTeacher(nn.Module, Seq2SeqGenerate):
    """Gloss encoder -> word decoder, teacher-forced on the SLT student's ``dec_in``.

    forward(glosses (B, L), gloss_lengths (B,), dec_in (B, U), dec_lengths (B,)) -> dict(
        word_logits (B, U, V), word_features (B, U, H) decoder hidden after its final norm)
    """

    def __init__(self, cfg: ModelConfig, num_classes: int, num_words: int,
                 gloss_words: Optional[list[int]] = None):
        super().__init__()
        if num_classes < 2 or num_words < 1:
            raise ConfigError(f"gloss2text: needs glosses and words, got {num_classes} classes and {num_words} words")
        tte = cfg.text_teacher_encoder
        self.encoder = GlossEncoder(num_classes, cfg.hidden, tte.layers, tte.heads, tte.ff, tte.dropout,
                                    tte.token_dropout)
        self.decoder = TransformerDecoder.from_config(cfg.teacher_decoder, num_words, cfg.hidden)
        self.register_buffer("gloss_words", None, persistent=False)
        if tte.share_word_embeddings:
            # gloss id -> word id of the same spelling, 0 (the zero padding row) where there is none
            if gloss_words is None or len(gloss_words) != num_classes:
                raise ConfigError("model.text_teacher_encoder.share_word_embeddings: needs the gloss -> word map "
                                  f"({num_classes} entries) from the vocabularies")
            self.register_buffer("gloss_words", torch.tensor(gloss_words, dtype=torch.long), persistent=False)

    def encode(self, glosses: torch.Tensor, gloss_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        extra = None if self.gloss_words is None else self.decoder.embed(self.gloss_words[glosses])
        return self.encoder(glosses, gloss_lengths, extra), gloss_lengths         # (B, L, H), (B,)

    def forward(self, glosses: torch.Tensor, gloss_lengths: torch.Tensor, dec_in: torch.Tensor,
                dec_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        memory, memory_lengths = self.encode(glosses, gloss_lengths)
        word_logits, word_features = self.decoder(dec_in, dec_lengths, memory, memory_lengths)
        return {"word_logits": word_logits, "word_features": word_features}

    def decode_step(self, tokens: torch.Tensor, memory: torch.Tensor, memory_lengths: torch.Tensor) -> torch.Tensor:
        return self.decoder.step(tokens, memory, memory_lengths)
