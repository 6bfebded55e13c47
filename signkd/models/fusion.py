"""Video–text fusion for the dialogue teacher, and its text–video matching head.

``HybridFusion`` (the original's "hybrid attention"): per layer, self-attention -> cross-attention
to the other stream -> FFN, each with residual + LayerNorm (BERT-style post-LN). ONE set of layer
weights serves both streams, one after the other: first the video stream (query V, keys/values T),
then the text stream (query T, keys/values the *updated* V).

Fixed against the original: text->video attention masks padded frames (the original used the
transposed video->text mask, so text attended to padding); the text stream, which already carries
BERT's position embedding, gets no second one here (only the video stream gets a learned
position embedding, once). ``FusionConfig`` can restore each of those (``norm_eps`` 1e-5,
``text_positions``, ``text_attends_padding``) so an imported original teacher computes its numbers.

``ConcatFusion`` (the original's "selfattnfusion"): both streams, each with its own positions and a
modality embedding, concatenated per sample (real steps only, so padding stays at the end) into
one plain Transformer encoder, then split back.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from signkd.config import ConfigError, FusionConfig
from signkd.data.batch import lengths_to_mask
from signkd.models.decoder import MultiHeadAttention


class FusionLayer(nn.Module):
    """BERT-style post-LN layer: self-attention, optional cross-attention, GELU FFN."""

    def __init__(self, hidden: int, heads: int, ff: int, dropout: float, cross: bool = True, eps: float = 1e-12):
        super().__init__()
        self.self_attn = MultiHeadAttention(hidden, heads, dropout)
        self.self_norm = nn.LayerNorm(hidden, eps=eps)
        self.cross_attn = MultiHeadAttention(hidden, heads, dropout) if cross else None
        self.cross_norm = nn.LayerNorm(hidden, eps=eps) if cross else None
        self.ff = nn.Sequential(nn.Linear(hidden, ff), nn.GELU(), nn.Linear(ff, hidden))
        self.ff_norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, other: Optional[torch.Tensor] = None,
                other_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B, Lx, H), x_mask (B, Lx) bool real; other (B, Ly, H), other_mask (B, Ly) -> (B, Lx, H)."""
        x = self.self_norm(x + self.dropout(self.self_attn(x, x, x_mask)))
        if self.cross_attn is not None:
            x = self.cross_norm(x + self.dropout(self.cross_attn(x, other, other_mask)))
        return self.ff_norm(x + self.dropout(self.ff(x)))


class TransformerEncoder(nn.Module):
    """Plain stack of post-LN self-attention layers; x (B, L, H), lengths (B,) -> (B, L, H), 0 on padding."""

    def __init__(self, hidden: int, layers: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(FusionLayer(hidden, heads, ff, dropout, cross=False) for _ in range(layers))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, x.size(1))
        for layer in self.layers:
            x = layer(x, mask)
        return x.masked_fill(~mask[..., None], 0.0)


class VideoPositions(nn.Module):
    """Learned absolute positions for the video stream, then LayerNorm + dropout (BERT embeddings)."""

    def __init__(self, hidden: int, max_positions: int, dropout: float, eps: float = 1e-12):
        super().__init__()
        self.table = nn.Embedding(max_positions, hidden)
        nn.init.normal_(self.table.weight, std=0.02)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, video: torch.Tensor, extra: Optional[torch.Tensor] = None) -> torch.Tensor:
        t = video.size(1)
        if t > self.table.num_embeddings:
            raise ConfigError(f"model.fusion.max_positions: {t} video steps exceed the position table "
                              f"({self.table.num_embeddings}); raise it or subsample frames (data.frame_interval)")
        x = video + self.table.weight[:t][None]
        if extra is not None:
            x = x + extra
        return self.dropout(self.norm(x))


class HybridFusion(nn.Module):
    """forward(video (B, T, H), video_lengths, text (B, L, H), text_lengths) -> fused video (B, T, H),
    fused text (B, L, H); padded positions are zero."""

    def __init__(self, hidden: int, layers: int, heads: int, ff: int, dropout: float, max_positions: int = 512,
                 eps: float = 1e-12, text_positions: bool = False, text_attends_padding: bool = False):
        super().__init__()
        self.video_positions = VideoPositions(hidden, max_positions, dropout, eps)
        self.layers = nn.ModuleList(FusionLayer(hidden, heads, ff, dropout, eps=eps) for _ in range(layers))
        self.text_positions = text_positions              # the original: the same table + norm on the text too
        self.text_attends_padding = text_attends_padding  # the original: text -> video keys unmasked

    def forward(self, video: torch.Tensor, video_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_mask = lengths_to_mask(video_lengths, video.size(1))                  # (B, T)
        t_mask = lengths_to_mask(text_lengths, text.size(1))                    # (B, L)
        # keys of the text -> video cross-attention: the real frames, or (the original's transposed
        # mask, which adds the same -10000 to a whole query row) every frame
        v_keys = torch.ones_like(v_mask) if self.text_attends_padding else v_mask
        v = self.video_positions(video)
        t = self.video_positions(text) if self.text_positions else text
        for layer in self.layers:
            v = layer(v, v_mask, t, t_mask)          # video queries, text keys (padded tokens masked)
            t = layer(t, t_mask, v, v_keys)          # text queries, updated video keys (padded frames masked unless
                                                     # text_attends_padding)
        return v.masked_fill(~v_mask[..., None], 0.0), t.masked_fill(~t_mask[..., None], 0.0)


def concat_streams(a: torch.Tensor, a_lengths: torch.Tensor, b: torch.Tensor,
                   b_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample [a real steps, b real steps, padding]: (B, La, H), (B, Lb, H) -> (B, N, H), lengths (B,)
    with N = max(a_len + b_len). Keeps padding at the end, so a lengths mask describes the result."""
    la = a.size(1)
    lengths = a_lengths + b_lengths
    n = int(lengths.max())
    j = torch.arange(n, device=a.device)[None]                                  # (1, N)
    index = torch.where(j < a_lengths[:, None], j, la + j - a_lengths[:, None])  # (B, N) into cat([a, b])
    index = index.clamp(0, la + b.size(1) - 1)
    both = torch.cat([a, b], 1)
    out = both.gather(1, index[..., None].expand(-1, -1, a.size(2)))
    return out.masked_fill(~lengths_to_mask(lengths, n)[..., None], 0.0), lengths


def split_streams(x: torch.Tensor, a_lengths: torch.Tensor, la: int, b_lengths: torch.Tensor,
                  lb: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `concat_streams`: (B, N, H) -> (B, la, H), (B, lb, H), zero on padding."""
    last = x.size(1) - 1
    ja = torch.arange(la, device=x.device)[None].expand(x.size(0), -1).clamp(max=last)
    jb = (torch.arange(lb, device=x.device)[None] + a_lengths[:, None]).clamp(max=last)
    a = x.gather(1, ja[..., None].expand(-1, -1, x.size(2)))
    b = x.gather(1, jb[..., None].expand(-1, -1, x.size(2)))
    a = a.masked_fill(~lengths_to_mask(a_lengths, la)[..., None], 0.0)
    b = b.masked_fill(~lengths_to_mask(b_lengths, lb)[..., None], 0.0)
    return a, b


class ConcatFusion(nn.Module):
    """The original's "selfattnfusion": one plain encoder over [video; text]. Same call as HybridFusion."""

    def __init__(self, hidden: int, layers: int, heads: int, ff: int, dropout: float, max_positions: int = 512):
        super().__init__()
        self.video_positions = VideoPositions(hidden, max_positions, dropout)
        self.modality = nn.Embedding(2, hidden)          # 0 = video, 1 = text
        nn.init.normal_(self.modality.weight, std=0.02)
        self.encoder = TransformerEncoder(hidden, layers, heads, ff, dropout)

    def forward(self, video: torch.Tensor, video_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.video_positions(video, self.modality.weight[0])
        t = text + self.modality.weight[1]
        joint, lengths = concat_streams(v, video_lengths, t, text_lengths)     # (B, N, H)
        joint = self.encoder(joint, lengths)
        return split_streams(joint, video_lengths, video.size(1), text_lengths, text.size(1))


def build_fusion(cfg: FusionConfig, hidden: int) -> nn.Module:
    if cfg.kind == "hybrid":
        return HybridFusion(hidden, cfg.layers, cfg.heads, cfg.ff, cfg.dropout, cfg.max_positions, cfg.norm_eps,
                            cfg.text_positions, cfg.text_attends_padding)
    if cfg.kind != "concat":
        raise ConfigError(f"model.fusion.kind: expected 'hybrid' or 'concat', got {cfg.kind!r}")
    if cfg.norm_eps != 1e-12 or cfg.text_positions or cfg.text_attends_padding:
        raise ConfigError("model.fusion: norm_eps / text_positions / text_attends_padding are the original's hybrid "
                          "fusion; kind concat has none of them")
    return ConcatFusion(hidden, cfg.layers, cfg.heads, cfg.ff, cfg.dropout, cfg.max_positions)


class MatchingHead(nn.Module):
    """Does this context belong to this video? BERT NSP-style: tanh pooler on the fused text
    stream's first ([CLS]) token, then a 2-way classifier (1 = belongs)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.pooler = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.classifier = nn.Linear(hidden, 2)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """text (B, L, H) fused text stream -> (B, 2) logits."""
        return self.classifier(self.pooler(text[:, 0]))
