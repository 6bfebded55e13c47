"""Sequence encoders over temporal features: (B, T', D) + lengths -> (B, T', H), zero on padding.

Both see only real steps: the BiLSTM through packed sequences, the Transformer through a
key-padding mask, so padded steps never change a real step's output.

Each encoder's `single(x)` (one clip, every step real) sits beside its `forward`: what inference
and the ONNX export run (`signkd.models.recognizer.SingleClipStudent`). Packing does not export
and a mask built from the lengths would freeze the traced length, so `single` runs the same
weights without either; tests/models/test_students.py holds it to `forward` for every sequence kind.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from signkd.config import ConfigError
from signkd.data.batch import lengths_to_mask


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM (the VAC default: 2 layers, hidden 768 = 384 per direction)."""

    def __init__(self, input_dim: int, hidden: int, layers: int = 2, dropout: float = 0.3):
        super().__init__()
        if hidden % 2:
            raise ConfigError(f"model.hidden: a BiLSTM needs an even hidden size, got {hidden}")
        self.rnn = nn.LSTM(input_dim, hidden // 2, num_layers=layers, bidirectional=True,
                           batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D), lengths: (B,) >= 1 -> (B, T, H)
        packed = pack_padded_sequence(x, lengths.detach().cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out

    def single(self, x: torch.Tensor) -> torch.Tensor:
        # x: (1, T, D), every step real -> (1, T, H)
        return self.rnn(x)[0]


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(length, dim) sin/cos table of "Attention is all you need"."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table.to(dtype)


class TransformerSequenceEncoder(nn.Module):
    """Pre-LN Transformer encoder with sinusoidal positions (the original's Transformer student had
    none, so it could not tell frame order apart beyond the temporal conv's receptive field)."""

    def __init__(self, input_dim: int, hidden: int, layers: int = 2, heads: int = 8,
                 ff: int = 2048, dropout: float = 0.1):
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"model.sequence.heads: {heads} heads do not divide hidden size {hidden}")
        self.input_proj = nn.Linear(input_dim, hidden) if input_dim != hidden else nn.Identity()
        self.scale = math.sqrt(hidden)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(hidden, heads, ff, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.out_dim = hidden

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D) -> (B, T, H): projection, scale, positions, dropout
        h = self.input_proj(x) * self.scale
        return self.dropout(h + sinusoidal_positions(x.shape[1], h.shape[-1], x.device, h.dtype)[None])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D), lengths: (B,) >= 1 -> (B, T, H)
        mask = lengths_to_mask(lengths.to(x.device), x.shape[1])           # (B, T) True = real
        h = self.layers(self.embed(x), src_key_padding_mask=~mask)
        return self.norm(h) * mask[..., None].to(h.dtype)

    def single(self, x: torch.Tensor) -> torch.Tensor:
        # x: (1, T, D), every step real -> (1, T, H)
        h = self.embed(x)
        for layer in self.layers.layers:
            h = pre_ln_layer_single(layer, h)
        if self.layers.norm is not None:
            h = self.layers.norm(h)
        return self.norm(h)


def pre_ln_layer_single(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """One pre-LN `nn.TransformerEncoderLayer` over (1, T, H), no mask, written with reshapes that
    keep the time axis symbolic: the tracer bakes the example length into `nn.MultiheadAttention`'s
    views, so its ONNX graph would only run at that length."""
    if not layer.norm_first:
        raise ValueError("pre_ln_layer_single: the layer is not pre-LN (norm_first)")
    attn = layer.self_attn
    heads = attn.num_heads

    def self_attention(h: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(h, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)   # (1, T, H) each
        split = lambda t: t.reshape(t.shape[0], -1, heads, t.shape[-1] // heads).transpose(1, 2)  # noqa: E731
        out = F.scaled_dot_product_attention(split(q), split(k), split(v))             # (1, heads, T, H/heads)
        out = out.transpose(1, 2).reshape(h.shape[0], -1, h.shape[-1])
        return attn.out_proj(out)

    x = x + layer.dropout1(self_attention(layer.norm1(x)))
    h = layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x)))))
    return x + layer.dropout2(h)


def build_sequence_encoder(kind: str, input_dim: int, hidden: int, layers: int, heads: int,
                           ff: int, dropout: float) -> nn.Module:
    if kind == "bilstm":
        return BiLSTMEncoder(input_dim, hidden, layers, dropout)
    if kind == "transformer":
        return TransformerSequenceEncoder(input_dim, hidden, layers, heads, ff, dropout)
    raise ConfigError(f"model.sequence.kind: expected 'bilstm' or 'transformer', got {kind!r}")
