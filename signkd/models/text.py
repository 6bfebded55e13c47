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


# What a checkpoint records of each BERT text encoder (signkd.checkpoint: `architecture`):
# what its weights' shapes cannot tell (heads, activation, norm epsilon, dropout), so a checkpoint of a
# run that loaded a pretrained BERT by name rebuilds without that name being reachable.
ARCHITECTURE_FIELDS = {"num_attention_heads": int, "hidden_act": str, "layer_norm_eps": float,
                       "hidden_dropout_prob": float, "attention_probs_dropout_prob": float, "pad_token_id": int}


def text_architecture(encoder: "TextEncoder") -> dict:
    """The BERT geometry of `encoder` to store in a checkpoint (plain ints, floats and strings)."""
    c = encoder.bert.config
    out = {k: getattr(c, k) for k in ARCHITECTURE_FIELDS if isinstance(getattr(c, k, None), (int, float, str))}
    out.update(vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=encoder.num_layers,
               intermediate_size=c.intermediate_size, max_position_embeddings=c.max_position_embeddings,
               type_vocab_size=c.type_vocab_size)
    return out


def architecture_from_state(state: dict, prefix: str, stored: Optional[dict], default_heads: int,
                            where: str = "checkpoint") -> dict:
    """The BertConfig values of the TextEncoder whose weights are `state`'s entries under `prefix`
    (e.g. "dialogue_teacher.text_encoder."): every size from the weights themselves (so nothing is
    built bigger than the file), the rest from `stored` (the checkpoint's `architecture` entry) or,
    for checkpoints without one, `default_heads` and BERT's defaults."""
    from signkd.errors import CheckpointError

    bert = f"{prefix}bert."
    words = state.get(f"{bert}embeddings.word_embeddings.weight")
    positions = state.get(f"{bert}embeddings.position_embeddings.weight")
    types = state.get(f"{bert}embeddings.token_type_embeddings.weight")
    if any(t is None or t.dim() != 2 for t in (words, positions, types)):
        raise CheckpointError(f"{where}: no BERT embeddings under {bert} to rebuild the text encoder from")
    layers = sorted({int(k[len(bert) + len("encoder.layer."):].split(".")[0]) for k in state
                     if k.startswith(f"{bert}encoder.layer.") and k[len(bert) + len("encoder.layer."):].split(".")[0].isdigit()})
    if layers != list(range(len(layers))):
        raise CheckpointError(f"{where}: the BERT layers under {bert} are not numbered 0..n-1")
    hidden = int(words.shape[1])
    ff = state.get(f"{bert}encoder.layer.0.intermediate.dense.weight")
    out = {"vocab_size": int(words.shape[0]), "hidden_size": hidden, "num_hidden_layers": len(layers),
           "max_position_embeddings": int(positions.shape[0]), "type_vocab_size": int(types.shape[0]),
           "intermediate_size": int(ff.shape[0]) if ff is not None else 4 * hidden,
           "num_attention_heads": default_heads}
    for key, kind in ARCHITECTURE_FIELDS.items():
        value = (stored or {}).get(key)
        if value is not None and isinstance(value, kind) and not isinstance(value, bool):
            out[key] = value
    from transformers.activations import ACT2FN

    if out.get("hidden_act", "gelu") not in ACT2FN:
        raise CheckpointError(f"{where}: its BERT under {bert} names an unknown activation {str(out['hidden_act'])[:40]!r}")
    heads = out["num_attention_heads"]
    if heads < 1 or hidden % heads:
        raise CheckpointError(f"{where}: its BERT under {bert} is {hidden} wide, which {heads} attention heads "
                              "do not divide")
    return out


class TextEncoder(nn.Module):
    """ids (B, L), lengths (B,) -> (B, L, H); padded positions are zeroed.

    ``layers`` overrides ``cfg.layers`` (the Text2Gloss teacher keeps its own count);
    ``token_dropout`` is word dropout on the word-piece embeddings while training. Layers past
    ``layers`` are dropped from the model (``encoder.layer`` truncated), so they cost nothing and
    are absent from checkpoints. ``architecture`` (BertConfig values, see
    `architecture_from_state`): build that geometry, randomly initialised, instead of loading
    ``cfg.pretrained`` -- for a model whose weights come from a checkpoint right after.
    """

    def __init__(self, cfg: TextEncoderConfig, vocab_size: int, layers: Optional[int] = None,
                 token_dropout: float = 0.0, architecture: Optional[dict] = None):
        super().__init__()
        from transformers import BertConfig, BertModel

        layers = cfg.layers if layers is None else layers
        if layers < 0:
            raise ConfigError(f"model.text.layers: expected >= 0, got {layers}")
        if architecture is not None:
            bert = BertModel(BertConfig(**architecture), add_pooling_layer=False)
        elif cfg.pretrained:
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
