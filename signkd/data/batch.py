"""The padded batch every model and loss consumes. Shapes use B = batch, T = padded frames,
L = glosses, U = decoder steps (N target words + 1), Lc / Lt = BERT tokens.

Padding value is 0 everywhere (0 is the CTC blank for glosses and <pad> for words / BERT);
lengths, never the padding value, say what is real.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional

import torch


@dataclass
class Batch:
    ids: list[str]
    video: Optional[torch.Tensor] = None          # (B, T, 3, H, W) float, normalised
    video_lengths: Optional[torch.Tensor] = None  # (B,) long, real frames per clip
    glosses: Optional[torch.Tensor] = None        # (B, L) gloss ids (1..C-1), 0-padded: CTC targets
    gloss_lengths: Optional[torch.Tensor] = None  # (B,)
    gloss_in: Optional[torch.Tensor] = None       # (B, L+1) [<s>, g1..gL] for the Text2Gloss decoder
    gloss_out: Optional[torch.Tensor] = None      # (B, L+1) [g1..gL, </s>]
    dec_in: Optional[torch.Tensor] = None         # (B, U) [<s>, w1..wN] word ids
    dec_out: Optional[torch.Tensor] = None        # (B, U) [w1..wN, </s>]
    dec_lengths: Optional[torch.Tensor] = None    # (B,) U = N + 1
    ctx_ids: Optional[torch.Tensor] = None        # (B, Lc) BERT ids of the dialogue context [CLS] .. [SEP]
    ctx_lengths: Optional[torch.Tensor] = None    # (B,)
    trans_ids: Optional[torch.Tensor] = None      # (B, Lt) BERT ids of the spoken translation
    trans_lengths: Optional[torch.Tensor] = None  # (B,)
    extra: dict = field(default_factory=dict)

    def to(self, device, non_blocking: bool = False) -> "Batch":
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
        return Batch(**out)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, rows: list[int]) -> "Batch":
        """The batch of `rows` only (every tensor field is batch-first)."""
        index = torch.as_tensor(rows, dtype=torch.long)
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[index.to(v.device)] if isinstance(v, torch.Tensor) else v
        out["ids"] = [self.ids[i] for i in rows]
        return Batch(**out)


def lengths_to_mask(lengths: torch.Tensor, max_len: Optional[int] = None) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True on real positions."""
    max_len = int(lengths.max().item()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def pad_sequences(seqs: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged int lists -> (B, Lmax) long tensor padded with `pad`, and (B,) lengths."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), max(1, int(lengths.max()) if len(seqs) else 1)), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out, lengths
