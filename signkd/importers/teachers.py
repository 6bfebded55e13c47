"""The original's dialogue teacher -> a signkd `DialogueTeacher` checkpoint
(`signkd import original TEACHER.pt --part dialogue-teacher --gloss-dict vocab.txt --tokenizer BERT_DIR`),
and its SLR model's Text2Gloss teacher -> a signkd `Text2GlossTeacher` (`--part text2gloss`, the
second half of this file, which has its own table).

Why its own module: the sign encoder maps as every imported VACModel does (signkd.importers, prefix
`sign_encoder.`); the BERT text stream, the hybrid fusion and `classifier_combine` map here, from
their vendored pytorch_pretrained_bert (modeling.py: BertForSignOnly, BertHybridFusion ->
BertModelHybrid = BertRespectiveEmbeddings + BertHybridEncoder of BertHybridLayer).

Key mapping (signkd keys under `dialogue_teacher.`; l = fusion layer, i = BERT layer):

  their key                                                      signkd key
  bert_text.bert.embeddings.{word,position}_embeddings.weight    text_encoder.bert.embeddings.{same}
  bert_text.bert.embeddings.LayerNorm.*                          text_encoder.bert.embeddings.LayerNorm.*
  (none: their text path adds no token type)                     text_encoder.bert.embeddings.token_type_embeddings
                                                                   = zeros, so BERT adds nothing
  bert_text.bert.encoder.layer.i.*                               text_encoder.bert.encoder.layer.i.* (same names)
  multimodal_fusion.bert.embeddings.position_embeddings.weight   fusion.video_positions.table.weight
  multimodal_fusion.bert.embeddings.LayerNorm.*                  fusion.video_positions.norm.*
  M.attention.self.{query,key,value}.*                           fusion.layers.l.self_attn.{q,k,v}_proj.*
  M.attention.output_1.dense.* / .LayerNorm.*                    fusion.layers.l.self_attn.out_proj.* / self_norm.*
  M.attention.cross.{query,key,value}.*                          fusion.layers.l.cross_attn.{q,k,v}_proj.*
  M.attention.output_2.dense.* / .LayerNorm.*                    fusion.layers.l.cross_attn.out_proj.* / cross_norm.*
  M.intermediate.dense.* / M.output.dense.* / M.output.LayerNorm.*   fusion.layers.l.ff.0.* / ff.2.* / ff_norm.*
  classifier_combine.*                                           classifier.*  rows permuted to signkd's glosses
  (M = multimodal_fusion.bert.encoder.layer.l)

Not imported (no part of the gloss logits): both models' `cls.*` (MLM / NSP heads), `bert.pooler.*`,
the fusion's unused word and token-type tables, bert_text's token-type table. The NSP head (their
model sets `multimodal_fusion.cls = bert_text.cls`, so both names hold it) is left out: which class
meant "belongs" cannot be read off a file whose labels were always 1.

Numerics that differ from signkd's own modules, and how the imported config matches each:
- every LayerNorm has eps 1e-5 (BertLayerNorm): the text encoder's through its stored BERT
  architecture (`layer_norm_eps`), the fusion's through `model.fusion.norm_eps: 1e-5`;
- BertRespectiveEmbeddings adds the fusion's position table (+ its LayerNorm) to the text stream as
  well, which already carries BERT's: `model.fusion.text_positions: true`;
- text -> video cross-attention uses the transpose of the video -> text mask, which adds one
  constant to a whole query row, i.e. masks nothing: `model.fusion.text_attends_padding: true`;
- masks are (1 - m) * -10000 added to the scores; signkd drops masked keys, the same in float32.
The text tokenizer is theirs: WordPiece over their BERT's vocab.txt with lowercasing and accent
stripping on (the vendored tokenizer's default), so context token ids are the ones it was trained on.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

import torch

from signkd.errors import CheckpointError

TEXT = "bert_text."
FUSION = "multimodal_fusion."
CLASSIFIER = "classifier_combine."
# prefixes that must be present for --part dialogue-teacher
REQUIRED = ("sign_encoder.", TEXT, FUSION, CLASSIFIER)
# their keys under the teacher's prefixes that feed no gloss logit (heads, poolers, unused tables)
UNUSED = re.compile(r"(bert_text|multimodal_fusion)\.(cls\..*|bert\.pooler\..*|bert\.embeddings\.token_type_embeddings"
                    r"\.weight)|multimodal_fusion\.bert\.embeddings\.word_embeddings\.weight")
FUSION_NAMES = {"self_attn.q_proj": "attention.self.query", "self_attn.k_proj": "attention.self.key",
                "self_attn.v_proj": "attention.self.value", "self_attn.out_proj": "attention.output_1.dense",
                "self_norm": "attention.output_1.LayerNorm", "cross_attn.q_proj": "attention.cross.query",
                "cross_attn.k_proj": "attention.cross.key", "cross_attn.v_proj": "attention.cross.value",
                "cross_attn.out_proj": "attention.output_2.dense", "cross_norm": "attention.output_2.LayerNorm",
                "ff.0": "intermediate.dense", "ff.2": "output.dense", "ff_norm": "output.LayerNorm"}
TEACHER_TERMS = ("DialogueCTC", "DialogueSignCTC", "DialogueSignDist")
ORIGINAL_EPS = 1e-5


def their_teacher_key(key: str) -> Optional[str]:
    """signkd DialogueTeacher key (without `dialogue_teacher.`, not under sign_encoder.) -> their
    key; None for signkd's token-type table, which has no counterpart (imported as zeros)."""
    if key.startswith("text_encoder.bert."):
        rest = key[len("text_encoder.bert."):]
        return None if rest.startswith("embeddings.token_type_embeddings") else f"{TEXT}bert.{rest}"
    if key == "fusion.video_positions.table.weight":
        return f"{FUSION}bert.embeddings.position_embeddings.weight"
    if key.startswith("fusion.video_positions.norm."):
        return f"{FUSION}bert.embeddings.LayerNorm.{key.rsplit('.', 1)[1]}"
    match = re.fullmatch(r"fusion\.layers\.(\d+)\.(.+)\.(weight|bias)", key)
    if match and match.group(2) in FUSION_NAMES:
        return f"{FUSION}bert.encoder.layer.{match.group(1)}.{FUSION_NAMES[match.group(2)]}.{match.group(3)}"
    if key.startswith("classifier."):
        return f"{CLASSIFIER}{key[len('classifier.'):]}"
    raise CheckpointError(f"the dialogue-teacher import has no rule for signkd key dialogue_teacher.{key} "
                          "(only a hybrid fusion over BiLSTM features, no matching head, is importable)")


def _count(state: dict, pattern: str) -> int:
    return len({m.group(1) for m in map(re.compile(pattern).fullmatch, state) if m})


def teacher_config(cfg, state: dict, path, config_name: str, notes: list[str]):
    """The student-import config `cfg` (preprocessing and sign encoder already theirs) made a
    dialogue-teacher run whose fusion / text settings compute their numbers; geometry the file
    decides is checked against the config, naming the field."""
    from signkd.config import StageConfig

    m = cfg.model
    m.student, m.dialogue_teacher = False, True
    if m.teacher_sequence is not None:       # their sign encoder is the checked BiLSTM of model.sequence
        notes.append("model.teacher_sequence dropped: their teacher's sign encoder is a BiLSTM (model.sequence)")
        m.teacher_sequence = None
    if m.fusion.kind != "hybrid" or m.fusion.on != "sequence":
        raise CheckpointError(f"{config_name}: model.fusion is {m.fusion.kind} on {m.fusion.on}; {path} holds the "
                              "original's hybrid fusion over the sign encoder's BiLSTM features (kind hybrid, on sequence)")
    fusion_layers = _count(state, re.escape(FUSION) + r"bert\.encoder\.layer\.(\d+)\..*")
    if fusion_layers != m.fusion.layers:
        raise CheckpointError(f"{path}: its fusion has {fusion_layers} layer(s) but model.fusion.layers is "
                              f"{m.fusion.layers} in {config_name}")
    text_layers = _count(state, re.escape(TEXT) + r"bert\.encoder\.layer\.(\d+)\..*")
    if text_layers != m.text.layers:
        notes.append(f"model.text.layers {m.text.layers} -> {text_layers} (its bert_text)")
        m.text.layers = text_layers
    words = state.get(f"{TEXT}bert.embeddings.word_embeddings.weight")
    if words is not None and (words.shape[1] != m.hidden or m.text.hidden != m.hidden):
        raise CheckpointError(f"{path}: its BERT text stream is {words.shape[1]} wide; model.hidden and model.text.hidden "
                              f"must both be that (no projection between the streams) in {config_name}")
    changed = [f"{k} {getattr(m.fusion, k)!r} -> {v!r}" for k, v in
               (("norm_eps", ORIGINAL_EPS), ("text_positions", True), ("text_attends_padding", True),
                ("matching_head", False)) if getattr(m.fusion, k) != v]
    m.fusion.norm_eps, m.fusion.text_positions, m.fusion.text_attends_padding = ORIGINAL_EPS, True, True
    m.fusion.matching_head = False
    if changed:
        notes.append(f"model.fusion set to the original's numerics: {'; '.join(changed)}")
    cfg.train.stages = [StageConfig(train=["dialogue_teacher"])]
    cfg.loss.weights = {k: v for k, v in cfg.loss.weights.items() if k in TEACHER_TERMS} or \
        {"DialogueCTC": 1.0, "DialogueSignCTC": 1.0, "DialogueSignDist": 25.0}
    return cfg


def _architecture(cfg, state: dict, prefix: str, heads: int) -> dict:
    """BertConfig values of their BERT under `prefix` (eps 1e-5, erf GELU), stored in the
    checkpoint so the text encoder is rebuilt in their numerics without any BERT name resolving."""
    from signkd.models.text import architecture_from_state

    probe = {f"x.bert.{k[len(prefix) + 5:]}": v for k, v in state.items() if k.startswith(f"{prefix}bert.")}
    probe.setdefault("x.bert.embeddings.token_type_embeddings.weight", torch.zeros(2, cfg.model.hidden))
    stored = {"layer_norm_eps": ORIGINAL_EPS, "hidden_act": "gelu", "num_attention_heads": heads,
              "hidden_dropout_prob": cfg.model.text.dropout, "attention_probs_dropout_prob": cfg.model.text.dropout,
              "pad_token_id": 0}
    out = architecture_from_state(probe, "x.", stored, heads)
    out["type_vocab_size"] = 2
    return out


def text_architecture(cfg, state: dict) -> dict:
    return _architecture(cfg, state, TEXT, cfg.model.text.heads)


def their_tokenizer(folder: Optional[str | Path], vocab_size: int) -> dict:
    """{file name: uint8 tensor} of their tokenizer (lowercasing WordPiece over `folder`/vocab.txt)."""
    from transformers import BertTokenizerFast

    if folder is None:
        raise CheckpointError("import original: --tokenizer DIR is required for a teacher that reads text: the "
                              "folder of their BERT (bert-base-german-cased-v1) holding its vocab.txt")
    vocab = Path(folder) / "vocab.txt" if Path(folder).is_dir() else Path(folder)
    if not vocab.is_file():
        raise CheckpointError(f"{folder}: no vocab.txt (their BERT's WordPiece vocabulary)")
    with tempfile.TemporaryDirectory(prefix="signkd-import-tok-") as tmp:
        source, out = Path(tmp) / "vocab", Path(tmp) / "out"     # only their vocab.txt is read
        source.mkdir()
        shutil.copyfile(vocab, source / "vocab.txt")
        try:
            tokenizer = BertTokenizerFast.from_pretrained(str(source), do_lower_case=True, strip_accents=None,
                                                          model_max_length=512, local_files_only=True)
        except Exception as exc:   # tokenizers raises many types for broken files
            raise CheckpointError(f"{vocab}: not a WordPiece vocab.txt ({str(exc).splitlines()[0][:120]})") from None
        if len(tokenizer) != vocab_size:
            raise CheckpointError(f"{vocab}: {len(tokenizer)} word pieces but bert_text's word embeddings have "
                                  f"{vocab_size} rows; not the vocabulary this teacher was trained with")
        tokenizer.save_pretrained(str(out))
        return {f.name: torch.frombuffer(bytearray(f.read_bytes()), dtype=torch.uint8).clone()
                for f in sorted(out.iterdir()) if f.is_file()}


def map_teacher_state(state: dict, expected: dict, index: torch.Tensor, path,
                      map_sign_encoder: Callable[[dict], dict]) -> dict:
    """Their state dict -> signkd `dialogue_teacher.` state dict fitting `expected` (the built
    teacher's, keys without the prefix). Missing, misshapen and leftover keys are one line each."""
    sign = {k[len("sign_encoder."):]: v for k, v in expected.items() if k.startswith("sign_encoder.")}
    out = {f"dialogue_teacher.sign_encoder.{k[len('student.'):]}": v for k, v in map_sign_encoder(sign).items()}

    def pick(key: str, src: str):
        return state[src][index] if key.startswith("classifier.") else state[src]

    rest = {k: v for k, v in expected.items() if not k.startswith("sign_encoder.")}
    out.update(_fit_their_state(state, rest, their_teacher_key, pick, path=path, prefix="dialogue_teacher.",
                                model="dialogue teacher", needs="teacher",
                                sizes="model.hidden / model.fusion / model.text and the gloss dictionary",
                                families=(TEXT, FUSION, CLASSIFIER), unused=UNUSED))
    return out


def _fit_their_state(state: dict, expected: dict, their_key: Callable[[str], Optional[str]],
                     pick: Callable[[str, str], torch.Tensor], *, path, prefix: str, model: str, needs: str,
                     sizes: str, families: tuple, unused) -> dict:
    """`prefix` + each key of `expected` -> the tensor their state holds for it (`their_key` names
    it; None: a tensor their model does not have, zeros, adding nothing; `pick` takes it out, with
    any row permutation), cast to the target's dtype. A missing or misshapen source and any key of
    their `families` left unused (other than `unused`) are one line each."""
    out, used = {}, set()
    for key, target in expected.items():
        src = their_key(key)
        if src is None:
            value = torch.zeros_like(target)
        elif src not in state:
            raise CheckpointError(f"{path}: no {src!r} (signkd's {prefix}{key} comes from it); "
                                  f"not the original's {model} of this architecture")
        else:
            value = pick(key, src)
            used.add(src)
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(f"{path}: {src} has shape {tuple(value.shape)} but the config's {needs} needs "
                                  f"{tuple(target.shape)} ({sizes})")
        out[f"{prefix}{key}"] = value.to(target.dtype).clone()
    left = sorted(k for k in state if k.startswith(families) and k not in used and not unused.fullmatch(k))
    if left:
        raise CheckpointError(f"{path}: {len(left)} key(s) of the {model} have no place in signkd's, "
                              f"e.g. {left[0]!r}")
    return out


def check_part_keys(state: dict, path, part: str) -> None:
    """One line naming every key prefix of `part` ("dialogue-teacher" / "text2gloss") the file lacks."""
    required = {"dialogue-teacher": REQUIRED, "text2gloss": T2G_REQUIRED}[part]
    missing = [p for p in required if not any(k.startswith(p) for k in state)]
    if missing:
        present = sorted({k.split(".")[0] + "." for k in state})
        raise CheckpointError(f"{path}: no {', '.join(p + '*' for p in missing)} keys for --part {part} "
                              f"(it holds {', '.join(present[:8])})")


def import_teacher(state: dict, cfg, vocab, index: torch.Tensor, *, path, tokenizer_dir, notes: list[str],
                   map_sign_encoder: Callable[[dict], dict]) -> dict:
    """-> (model state, vocab state, architecture) of the signkd checkpoint: the whole
    DialogueTeacher of `cfg` (already made by `teacher_config`) with their weights."""
    from signkd.checkpoint import load_model_state
    from signkd.data.vocab import Vocabs
    from signkd.models.build import DIALOGUE_BERT, DIALOGUE_CNN, build_system

    words = state.get(f"{TEXT}bert.embeddings.word_embeddings.weight")
    if words is None:
        raise CheckpointError(f"{path}: no {TEXT}bert.embeddings.word_embeddings.weight")
    tokenizer_files = their_tokenizer(tokenizer_dir, int(words.shape[0]))
    vocabs = Vocabs.from_state({"gloss": vocab.to_dict(), "word": None, "tokenizer": tokenizer_files}, where=str(path))
    if not cfg.model.text.pretrained:     # only a named BERT is rebuilt from a stored architecture (eps 1e-5)
        raise CheckpointError("model.text.pretrained: empty; name their BERT (e.g. bert-base-german-cased): it is "
                              "never loaded, the checkpoint stores its geometry")
    architecture = text_architecture(cfg, state)
    system = build_system(cfg, vocabs.gloss, None, vocabs.tokenizer,
                          restored={DIALOGUE_BERT: architecture, DIALOGUE_CNN: None})
    expected = {k[len("dialogue_teacher."):]: v for k, v in system.state_dict().items()
                if k.startswith("dialogue_teacher.")}
    mapped = map_teacher_state(state, expected, index, path, map_sign_encoder)
    load_model_state(system, mapped, where=str(path))        # strict: the final guard
    return {"model": mapped, "vocab": vocabs.to_state(), "architecture": {DIALOGUE_BERT: architecture}}


# --------------------------------------------------------------------------------------------
# The Text2Gloss teacher (`--part text2gloss`): the original SLR model's bert_translation2gloss
# (BertForSignOnly, pretrained German BERT, 2 layers), its target embedding `text_embedding`
# (BertEmbeddings over the gloss ids + <s> + </s>) and its signjoey TransformerDecoder `decoder`.
#
#   bert_translation2gloss.bert.{embeddings,encoder}.*   text2gloss.encoder.bert.* (as bert_text above)
#   text_embedding.word_embeddings.weight                 text2gloss.decoder.embed.weight       rows permuted
#   text_embedding.position_embeddings.weight / LayerNorm text2gloss.decoder.embed_positions / embed_norm
#   decoder.layers.i.x_layer_norm / dec_layer_norm        ...layers.i.self_norm / cross_norm
#   decoder.layers.i.trg_trg_att / src_trg_att            ...layers.i.self_attn / cross_attn.0
#     .{q,k,v}_layer / .output_layer                        .{q,k,v}_proj / .out_proj
#   decoder.layers.i.feed_forward.layer_norm / pwff_layer ...layers.i.feed_forward.norm / net (same indices)
#   decoder.layer_norm / decoder.output_layer             text2gloss.decoder.final_norm / output  rows permuted
#
# Their numerics: the target embedding is LayerNorm(token + learned position, eps 1e-5), unscaled,
# before signjoey adds the sinusoidal positions: model.teacher_decoder.embedding "bert" (signkd's
# own: token x sqrt(H)). Decoder ids are signkd's already: 0 pad, glosses, <s> = C, </s> = C + 1.
# --------------------------------------------------------------------------------------------

T2G_TEXT, T2G_EMBED, T2G_DECODER = "bert_translation2gloss.", "text_embedding.", "decoder."
T2G_REQUIRED = (T2G_TEXT, T2G_EMBED, T2G_DECODER)
T2G_UNUSED = re.compile(r"bert_translation2gloss\.(cls\..*|bert\.pooler\..*|bert\.embeddings\.token_type_embeddings"
                        r"\.weight)|text_embedding\.token_type_embeddings\.weight")
# signjoey's decoder layer / attention / feed-forward names -> signkd's DecoderLayer
SIGNJOEY_LAYER = {"self_norm": "x_layer_norm", "self_attn": "trg_trg_att", "cross_norm": "dec_layer_norm",
                  "cross_attn.0": "src_trg_att", "feed_forward.norm": "feed_forward.layer_norm",
                  "feed_forward.net": "feed_forward.pwff_layer"}
SIGNJOEY_ATTENTION = {"q_proj": "q_layer", "k_proj": "k_layer", "v_proj": "v_layer", "out_proj": "output_layer"}


def their_text2gloss_key(key: str) -> Optional[str]:
    """signkd Text2GlossTeacher key (without `text2gloss.`) -> their key (None: imported as zeros)."""
    if key.startswith("encoder.bert."):
        rest = key[len("encoder.bert."):]
        return None if rest.startswith("embeddings.token_type_embeddings") else f"{T2G_TEXT}bert.{rest}"
    names = {"decoder.embed.weight": f"{T2G_EMBED}word_embeddings.weight",
             "decoder.embed_positions.weight": f"{T2G_EMBED}position_embeddings.weight",
             "decoder.embed_norm.weight": f"{T2G_EMBED}LayerNorm.weight",
             "decoder.embed_norm.bias": f"{T2G_EMBED}LayerNorm.bias",
             "decoder.final_norm.weight": f"{T2G_DECODER}layer_norm.weight",
             "decoder.final_norm.bias": f"{T2G_DECODER}layer_norm.bias",
             "decoder.output.weight": f"{T2G_DECODER}output_layer.weight"}
    if key in names:
        return names[key]
    match = re.fullmatch(r"decoder\.layers\.(\d+)\.(self_norm|self_attn|cross_norm|cross_attn\.0|feed_forward\.norm"
                         r"|feed_forward\.net)\.(.+)", key)
    if match:
        rest = match.group(3)
        head, _, tail = rest.partition(".")
        rest = f"{SIGNJOEY_ATTENTION[head]}.{tail}" if head in SIGNJOEY_ATTENTION else rest
        return f"{T2G_DECODER}layers.{match.group(1)}.{SIGNJOEY_LAYER[match.group(2)]}.{rest}"
    raise CheckpointError(f"the text2gloss import has no rule for signkd key text2gloss.{key} "
                          "(only a BERT encoder as wide as the decoder, model.teacher_decoder.embedding bert)")


def text2gloss_config(cfg, state: dict, path, config_name: str, notes: list[str]):
    """`cfg` made a Text2Gloss-only run in their geometry; what the file decides is checked."""
    from signkd.config import StageConfig

    m = cfg.model
    m.student = m.dialogue_teacher = m.gloss2text = False
    m.text2gloss = True
    layers = _count(state, re.escape(T2G_TEXT) + r"bert\.encoder\.layer\.(\d+)\..*")
    if layers != m.text_teacher_encoder.layers:
        raise CheckpointError(f"{path}: its bert_translation2gloss has {layers} layer(s) but "
                              f"model.text_teacher_encoder.layers is {m.text_teacher_encoder.layers} in {config_name}")
    decoder_layers = _count(state, re.escape(T2G_DECODER) + r"layers\.(\d+)\..*")
    if decoder_layers != m.teacher_decoder.layers:
        raise CheckpointError(f"{path}: its decoder has {decoder_layers} layer(s) but model.teacher_decoder.layers is "
                              f"{m.teacher_decoder.layers} in {config_name}")
    words = state.get(f"{T2G_TEXT}bert.embeddings.word_embeddings.weight")
    if words is not None and (words.shape[1] != m.hidden or m.text.hidden != m.hidden):
        raise CheckpointError(f"{path}: its BERT is {words.shape[1]} wide; model.hidden and model.text.hidden must both "
                              f"be that (no projection before the decoder) in {config_name}")
    if m.teacher_decoder.embedding != "bert" or m.teacher_decoder.tie_embeddings:
        notes.append(f"model.teacher_decoder.embedding {m.teacher_decoder.embedding!r} -> 'bert', tie_embeddings false "
                     "(their target embedding: BertEmbeddings)")
    m.teacher_decoder.embedding, m.teacher_decoder.tie_embeddings = "bert", False
    cfg.train.stages = [StageConfig(train=["text2gloss"])]
    cfg.loss.weights = {"TranslationToGlossCrossEntropy": 1.0}
    return cfg


def map_text2gloss_state(state: dict, expected: dict, index: torch.Tensor, path) -> dict:
    """Their state dict -> signkd `text2gloss.` state dict; gloss rows (embedding and output)
    permuted, <s> / </s> staying last. Missing, misshapen and leftover keys are one line each."""
    rows = torch.cat([index, torch.tensor([len(index), len(index) + 1])])

    def pick(key: str, src: str):
        value = state[src]
        if key in ("decoder.embed.weight", "decoder.output.weight"):
            if value.shape[0] != len(rows):
                raise CheckpointError(f"{path}: {src} has {value.shape[0]} rows but the gloss dictionary gives "
                                      f"{len(index)} classes + <s> + </s> = {len(rows)}")
            value = value[rows]
        return value

    return _fit_their_state(state, expected, their_text2gloss_key, pick, path=path, prefix="text2gloss.",
                            model="Text2Gloss teacher", needs="Text2Gloss",
                            sizes="model.hidden / model.teacher_decoder / model.text_teacher_encoder",
                            families=T2G_REQUIRED, unused=T2G_UNUSED)


def import_text2gloss(state: dict, cfg, vocab, index: torch.Tensor, *, path, tokenizer_dir) -> dict:
    """-> (model state, vocab state, architecture) of the signkd Text2Gloss checkpoint."""
    from signkd.checkpoint import load_model_state
    from signkd.data.vocab import Vocabs
    from signkd.models.build import TEXT2GLOSS_BERT, build_system

    words = state.get(f"{T2G_TEXT}bert.embeddings.word_embeddings.weight")
    if words is None:
        raise CheckpointError(f"{path}: no {T2G_TEXT}bert.embeddings.word_embeddings.weight")
    tokenizer_files = their_tokenizer(tokenizer_dir, int(words.shape[0]))
    vocabs = Vocabs.from_state({"gloss": vocab.to_dict(), "word": None, "tokenizer": tokenizer_files}, where=str(path))
    if not cfg.model.text.pretrained:
        raise CheckpointError("model.text.pretrained: empty; name their BERT (e.g. bert-base-german-cased): it is "
                              "never loaded, the checkpoint stores its geometry")
    architecture = _architecture(cfg, state, T2G_TEXT, cfg.model.text_teacher_encoder.heads)
    system = build_system(cfg, vocabs.gloss, None, vocabs.tokenizer, restored={TEXT2GLOSS_BERT: architecture})
    expected = {k[len("text2gloss."):]: v for k, v in system.state_dict().items() if k.startswith("text2gloss.")}
    mapped = map_text2gloss_state(state, expected, index, path)
    load_model_state(system, mapped, where=str(path))        # strict: the final guard
    return {"model": mapped, "vocab": vocabs.to_state(), "architecture": {TEXT2GLOSS_BERT: architecture}}
