"""BERT text encoder (Hugging Face ``BertModel``) for the dialogue context and the spoken sentence.

Why a wrapper: the teachers need (ids, lengths) -> (B, L, H) with the attention mask built from
lengths, a configurable number of kept BERT layers (the original kept only the embeddings, i.e.
0 layers), and the same module whether the weights come from a pretrained checkpoint (name or
local path, for users with the files) or a randomly initialised ``BertConfig`` (offline, tiny
tests). Nothing is downloaded unless ``pretrained`` names a hub model.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from signkd.config import ConfigError, TextEncoderConfig
from signkd.data.batch import lengths_to_mask
from signkd.models.decoder import drop_tokens


def _bert_config(cfg: TextEncoderConfig, vocab_size: int, layers: int):
    from transformers import BertConfig

    if cfg.hidden % cfg.heads:
        raise ConfigError(f"model.text.hidden: {cfg.hidden} is not divisible by model.text.heads {cfg.heads}")
    return BertConfig(vocab_size=vocab_size, hidden_size=cfg.hidden, num_hidden_layers=layers,
                      num_attention_heads=cfg.heads, intermediate_size=cfg.ff,
                      max_position_embeddings=cfg.max_positions, hidden_dropout_prob=cfg.dropout,
                      attention_probs_dropout_prob=cfg.dropout, pad_token_id=0)


class TextEncoder(nn.Module):
    """ids (B, L), lengths (B,) -> (B, L, H); padded positions are zeroed.

    ``layers`` overrides ``cfg.layers`` (the Text2Gloss teacher keeps its own count);
    ``token_dropout`` is word dropout on the word-piece embeddings while training. Layers past
    ``layers`` are dropped from the model (``encoder.layer`` truncated), so they cost nothing and
    are absent from checkpoints.
    """

    def __init__(self, cfg: TextEncoderConfig, vocab_size: int, layers: Optional[int] = None,
                 token_dropout: float = 0.0):
        super().__init__()
        from transformers import BertModel

        layers = cfg.layers if layers is None else layers
        if layers < 0:
            raise ConfigError(f"model.text.layers: expected >= 0, got {layers}")
        if cfg.pretrained:
            try:
                bert = BertModel.from_pretrained(cfg.pretrained, add_pooling_layer=False)
            except OSError as exc:
                raise ConfigError(f"model.text.pretrained: cannot load BERT {cfg.pretrained!r} "
                                  f"(not a local BERT folder and not downloadable here): {str(exc).splitlines()[0]}") from None
            if layers > bert.config.num_hidden_layers:
                raise ConfigError(f"model.text.layers: {cfg.pretrained} has {bert.config.num_hidden_layers} layers, asked for {layers}")
            if vocab_size and vocab_size != bert.config.vocab_size:
                bert.resize_token_embeddings(vocab_size)   # tokenizer with added tokens
        else:
            if vocab_size < 1:
                raise ConfigError(f"model.text: vocabulary size must be positive, got {vocab_size}")
            bert = BertModel(_bert_config(cfg, vocab_size, layers), add_pooling_layer=False)
        bert.encoder.layer = nn.ModuleList(list(bert.encoder.layer)[:layers])
        bert.config.num_hidden_layers = layers
        self.bert = bert
        self.hidden = bert.config.hidden_size
        self.max_positions = bert.config.max_position_embeddings
        self.vocab_size = bert.config.vocab_size
        self.token_dropout = token_dropout

    @property
    def num_layers(self) -> int:
        return len(self.bert.encoder.layer)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.size(1) > self.max_positions:
            raise ConfigError(f"model.text.max_positions: text of {ids.size(1)} tokens exceeds the "
                              f"BERT position table ({self.max_positions}); truncate it when tokenizing")
        mask = lengths_to_mask(lengths, ids.size(1))                                    # (B, L)
        # word-piece embeddings looked up here so word dropout can act on them (BERT then adds
        # positions and token types, as it does from input_ids)
        words = drop_tokens(self.bert.embeddings.word_embeddings(ids), self.token_dropout, self.training)
        out = self.bert(inputs_embeds=words, attention_mask=mask.long()).last_hidden_state  # (B, L, H)
        return out.masked_fill(~mask[..., None], 0.0)
