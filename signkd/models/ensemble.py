"""Several trained seq2seq models of one vocabulary decoded as one model.

Why: an ensemble is the standard way the gloss-translation literature reports its best numbers
(Yin & Read 2020: one Gloss2Text Transformer ~23.3 test BLEU-4, an ensemble 24.9). Each member
keeps its own encoder and memory; at every step the members' next-token probabilities are
averaged (in probability space, as OpenNMT and fairseq do), so greedy and beam search run
unchanged on top (`encode` / `decode_step`, the interface of `Seq2SeqGenerate`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from signkd.config import ConfigError
from signkd.models.teachers import Seq2SeqGenerate


class Seq2SeqEnsemble(nn.Module, Seq2SeqGenerate):
    """encode(*inputs) -> every member's memories, concatenated (a flat tuple, so beam search can
    repeat them per beam); decode_step(tokens (N, U), *memories) -> (N, V) log of the mean of the
    members' next-token probabilities."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ConfigError(f"ensemble: needs at least two models, got {len(members)}")
        self.members = nn.ModuleList(members)
        for name in ("bos", "eos"):               # Text2Gloss keeps its own start / end ids
            values = {getattr(m, name, None) for m in members}
            if len(values) != 1:
                raise ConfigError(f"ensemble: the members disagree on their {name} id ({sorted(map(str, values))})")
            setattr(self, name, values.pop())

    def encode(self, *inputs) -> tuple:
        per_member = [tuple(m.encode(*inputs)) for m in self.members]
        if len({len(p) for p in per_member}) != 1:
            raise ConfigError("ensemble: the members return different numbers of memory tensors")
        return tuple(t for p in per_member for t in p)

    def decode_step(self, tokens: torch.Tensor, *memories) -> torch.Tensor:
        n = len(memories) // len(self.members)
        logps = torch.stack([m.decode_step(tokens, *memories[i * n:(i + 1) * n]).float()
                             for i, m in enumerate(self.members)])                 # (M, N, V)
        return torch.logsumexp(logps, 0) - math.log(len(self.members))
