"""Transformer decoder over one or two memories (signjoey layout, pre-LN), and the attention
primitives the fusion encoder and the teachers share.

Why one module for all decoders: the SLT student, the Gloss2Text and Text2Gloss teachers and the
dialogue SLT teacher all decode the same way; only the number of memories differs (the dialogue
teacher attends to the fused video *and* the fused text stream, summing the two cross-attentions
as the original's ``TransformerDecoder2Encoder`` layer).

Masks are built from lengths here, never passed in: True = real position, may be attended.
The step API (``TransformerDecoder.step``) recomputes the whole prefix (no incremental cache), so
it is exactly the teacher-forced forward read at the last position; it plugs into
``signkd.decoding.seq2seq_greedy`` / ``seq2seq_beam_search`` as ``step_fn``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from signkd.config import ConfigError, DecoderConfig
from signkd.data.batch import lengths_to_mask


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(U, U) bool, True where query u may see key k (k <= u)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(length, dim) fixed sine/cosine position table (Vaswani et al.), no length limit."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table.to(dtype)


def drop_tokens(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Word dropout: zero whole token vectors of x (B, L, H) with probability p, no rescaling (a
    dropped token reads as an unknown word, as at a real out-of-vocabulary position)."""
    if not training or p <= 0.0:
        return x
    keep = torch.rand(x.shape[:2], device=x.device) >= p                       # (B, L)
    return x * keep[..., None].to(x.dtype)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with key-padding (and optional structural) masks.

    Why our own: one explicit mask convention (True = attend) for every attention in the project,
    and no NaN for a query row whose keys are all masked (such rows attend to everything instead;
    they only occur at padded/empty positions, whose outputs nobody reads).
    """

    def __init__(self, hidden: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"attention: hidden size {hidden} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = hidden // heads
        self.dropout = dropout
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape  # (B, N, H) -> (B, heads, N, head_dim)
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor, key_mask: torch.Tensor,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """query (B, Lq, H), key_value (B, Lk, H), key_mask (B, Lk) bool real keys,
        attn_mask (Lq, Lk) bool or None -> (B, Lq, H)."""
        b, lq, hidden = query.shape
        mask = key_mask[:, None, None, :]                        # (B, 1, 1, Lk)
        if attn_mask is not None:
            mask = mask & attn_mask[None, None]                  # (B, 1, Lq, Lk)
        mask = mask.expand(b, 1, lq, key_mask.size(1))
        mask = mask | ~mask.any(-1, keepdim=True)                # rows with no key: finite, unread
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(key_value)), self._split(self.v_proj(key_value))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, lq, hidden))


class PreNormFeedForward(nn.Module):
    """signjoey's position-wise FFN: z + Drop(W2 Drop(ReLU(W1 LN(z))))."""

    def __init__(self, hidden: int, ff: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.net = nn.Sequential(nn.Linear(hidden, ff), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(ff, hidden), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(self.norm(x))


class DecoderLayer(nn.Module):
    """Pre-LN decoder layer: causal self-attention, cross-attention to each memory (summed),
    feed-forward. With two memories each has its own cross-attention module (the original
    reused one module for both; the fused video and text streams differ enough to deserve two)."""

    def __init__(self, hidden: int, heads: int, ff: int, dropout: float, num_memories: int = 1):
        super().__init__()
        self.self_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.self_attn = MultiHeadAttention(hidden, heads, dropout)
        self.cross_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.cross_attn = nn.ModuleList(MultiHeadAttention(hidden, heads, dropout) for _ in range(num_memories))
        self.feed_forward = PreNormFeedForward(hidden, ff, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor,
                memories: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """x (B, U, H), x_mask (B, U) bool, memories [(mem (B, S, H), mask (B, S))] -> (B, U, H)."""
        n = self.self_norm(x)
        h = x + self.dropout(self.self_attn(n, n, x_mask, causal_mask(x.size(1), x.device)))
        n = self.cross_norm(h)
        for attn, (memory, memory_mask) in zip(self.cross_attn, memories):
            h = h + self.dropout(attn(n, memory, memory_mask))
        return self.feed_forward(h)


BERT_POSITIONS = 512   # learned position rows of the "bert" target embedding (BertConfig's default)


class TransformerDecoder(nn.Module):
    """Token embedding (x sqrt(H)) + sinusoidal positions + emb dropout -> pre-LN layers ->
    final LayerNorm -> bias-free projection to the vocabulary (optionally tied to the embedding).
    ``embedding="bert"``: the token embedding is instead LayerNorm(token + learned position), as
    the original's decoders read BertEmbeddings (eps 1e-5), before the same sinusoidal positions.

    forward(tokens (B, U), lengths (B,), memory (B, S, H), memory_lengths (B,)
            [, memory2 (B, S2, H), memory2_lengths (B,)]) -> logits (B, U, V), hidden (B, U, H)
    """

    def __init__(self, vocab_size: int, hidden: int = 768, layers: int = 3, heads: int = 8, ff: int = 2048,
                 dropout: float = 0.1, emb_dropout: float = 0.1, num_memories: int = 1,
                 tie_embeddings: bool = False, padding_idx: int = 0, token_dropout: float = 0.0,
                 embedding: str = "scaled"):
        super().__init__()
        if embedding not in ("scaled", "bert"):
            raise ConfigError(f"decoder.embedding: expected 'scaled' or 'bert', got {embedding!r}")
        if num_memories not in (1, 2):
            raise ConfigError(f"decoder: num_memories must be 1 or 2, got {num_memories}")
        if vocab_size < 1:
            raise ConfigError(f"decoder: vocabulary size must be positive, got {vocab_size}")
        self.hidden = hidden
        self.vocab_size = vocab_size
        self.num_memories = num_memories
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=padding_idx)
        nn.init.normal_(self.embed.weight, std=hidden ** -0.5)
        with torch.no_grad():
            self.embed.weight[padding_idx].zero_()
        self.embed_positions = nn.Embedding(BERT_POSITIONS, hidden) if embedding == "bert" else None
        self.embed_norm = nn.LayerNorm(hidden, eps=1e-5) if embedding == "bert" else None
        self.emb_dropout = nn.Dropout(emb_dropout)
        self.token_dropout = token_dropout
        self.layers = nn.ModuleList(DecoderLayer(hidden, heads, ff, dropout, num_memories) for _ in range(layers))
        self.final_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.output = nn.Linear(hidden, vocab_size, bias=False)
        if tie_embeddings:
            self.output.weight = self.embed.weight

    @classmethod
    def from_config(cls, cfg: DecoderConfig, vocab_size: int, hidden: int, num_memories: int = 1,
                    padding_idx: int = 0) -> "TransformerDecoder":
        return cls(vocab_size, hidden=hidden, layers=cfg.layers, heads=cfg.heads, ff=cfg.ff, dropout=cfg.dropout,
                   emb_dropout=cfg.emb_dropout, num_memories=num_memories,
                   tie_embeddings=cfg.tie_embeddings, padding_idx=padding_idx, token_dropout=cfg.token_dropout,
                   embedding=cfg.embedding)

    def _memories(self, memory, memory_lengths, memory2, memory2_lengths) -> list:
        pairs = [(memory, memory_lengths)] + ([(memory2, memory2_lengths)] if memory2 is not None else [])
        if len(pairs) != self.num_memories:
            raise ConfigError(f"decoder: built for {self.num_memories} memories, called with {len(pairs)}")
        return [(m, lengths_to_mask(n, m.size(1))) for m, n in pairs]

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, memory: torch.Tensor,
                memory_lengths: torch.Tensor, memory2: Optional[torch.Tensor] = None,
                memory2_lengths: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        memories = self._memories(memory, memory_lengths, memory2, memory2_lengths)
        u = tokens.size(1)
        x = drop_tokens(self.embed(tokens), self.token_dropout, self.training)                      # (B, U, H)
        if self.embed_norm is None:
            x = x * math.sqrt(self.hidden)
        else:
            if u > BERT_POSITIONS:
                raise ConfigError(f"decoder.embedding: bert: {u} target steps exceed its {BERT_POSITIONS} positions")
            x = self.embed_norm(x + self.embed_positions.weight[:u][None])
        x = self.emb_dropout(x + sinusoidal_positions(u, self.hidden, x.device, x.dtype)[None])
        x_mask = lengths_to_mask(lengths, u)                                           # (B, U)
        for layer in self.layers:
            x = layer(x, x_mask, memories)
        hidden = self.final_norm(x)                                                    # (B, U, H)
        return self.output(hidden), hidden                                             # (B, U, V)

    def step(self, tokens: torch.Tensor, memory: torch.Tensor, memory_lengths: torch.Tensor,
             memory2: Optional[torch.Tensor] = None, memory2_lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens (N, U) prefixes (all real) -> log-probs (N, V) of the next token."""
        lengths = torch.full((tokens.size(0),), tokens.size(1), dtype=torch.long, device=tokens.device)
        logits, _ = self.forward(tokens, lengths, memory, memory_lengths, memory2, memory2_lengths)
        return torch.log_softmax(logits[:, -1].float(), dim=-1)
