"""From a config and its vocabularies to a `SignKDSystem`: the parts `model_parts` names, each
built once, with the pretrained ImageNet / BERT weights its config names unless a checkpoint
overwrites them at once (`restored`).

The state-dict prefixes of the modules that load pretrained weights are written here once: both
`pretrained_targets` (which `restore` and the trainer match against checkpoints) and the builder
use them.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from signkd.config import Config, ConfigError
from signkd.data.vocab import WordVocab
from signkd.models.parts import ModelParts, model_parts
from signkd.models.system import SignKDSystem

# Prefixes of the modules built from pretrained weights: the frame CNNs (ImageNet ResNet18) ...
STUDENT_CNN = {"slr": "student.front.cnn.", "slt": "student.encoder.front.cnn."}
DIALOGUE_CNN = "dialogue_teacher.sign_encoder.front.cnn."
# ... and the BERT text encoders.
DIALOGUE_BERT = "dialogue_teacher.text_encoder."
TEXT2GLOSS_BERT = "text2gloss.encoder."


def pretrained_targets(cfg: Config) -> dict[str, str]:
    """{state-dict prefix: "visual" | "text"} of every module this config builds from pretrained
    weights named by model.visual.pretrained (ImageNet ResNet18) / model.text.pretrained (BERT)."""
    m, parts, out = cfg.model, model_parts(cfg), {}
    if m.visual.pretrained:
        if parts.student:
            out[STUDENT_CNN["slt" if parts.is_slt else "slr"]] = "visual"
        if parts.dialogue_teacher:
            out[DIALOGUE_CNN] = "visual"
    if m.text.pretrained:
        if parts.dialogue_teacher:
            out[DIALOGUE_BERT] = "text"
        if parts.text2gloss:
            out[TEXT2GLOSS_BERT] = "text"
    return out


def gloss_word_map(gloss_vocab, word_vocab) -> Optional[list[int]]:
    """For each gloss id, the id of the target word spelled the same (lower-cased; PHOENIX writes
    umlauts in glosses as AE/OE/UE, so "KUEHL" is "kühl"), else 0."""
    if word_vocab is None:
        return None
    index = {w: i for i, w in enumerate(word_vocab.itos)}

    def word_of(gloss: str) -> int:
        low = gloss.lower()
        umlauts = low.replace("ae", "ä").replace("oe", "ö").replace("ue", "ü")
        return index.get(low) or index.get(umlauts) or 0

    return [0] + [word_of(g) for g in gloss_vocab.glosses]


def _check_vocabularies(parts: ModelParts, cfg: Config, gloss_vocab, word_vocab, tokenizer) -> None:
    num_classes = gloss_vocab.num_classes
    if cfg.model.num_classes and cfg.model.num_classes != num_classes:
        raise ConfigError(f"model.num_classes: config says {cfg.model.num_classes}, the gloss vocabulary has "
                          f"{num_classes}")
    if parts.writes_words and word_vocab is None:
        raise ConfigError("model.task: slt (or model.gloss2text) needs a word vocabulary")
    if parts.reads_text and tokenizer is None:
        raise ConfigError("data.tokenizer: the dialogue / text2gloss teachers need a BERT tokenizer")


def build_system(cfg: Config, gloss_vocab, word_vocab=None, tokenizer=None,
                 restored: Optional[dict] = None) -> SignKDSystem:
    """Build the parts of `model_parts(cfg)`. gloss_vocab gives C (blank included) and the
    Text2Gloss vocabulary; word_vocab the SLT words; tokenizer the BERT vocabulary size.

    `restored`: {prefix of `pretrained_targets`: None (a frame CNN) or BertConfig values (a text
    encoder, see signkd.models.text.architecture_from_state)} for the pretrained modules whose
    weights a checkpoint overwrites at once: they are built without loading (or downloading) the
    pretrained weights, a text encoder in the checkpoint's geometry."""
    from signkd.models.recognizer import SLRStudent, SLTStudent
    from signkd.models.teachers import DialogueTeacher, Gloss2TextTeacher, Text2GlossTeacher

    restored = restored or {}
    m, parts = cfg.model, model_parts(cfg)

    no_imagenet = dataclasses.replace(m, visual=dataclasses.replace(m.visual, pretrained=""))

    def without_imagenet(prefix: str):
        return no_imagenet if prefix in restored else m

    _check_vocabularies(parts, cfg, gloss_vocab, word_vocab, tokenizer)
    num_classes = gloss_vocab.num_classes
    num_words = len(word_vocab) if word_vocab is not None else 0
    text_vocab = len(tokenizer) if tokenizer is not None else 0

    # built in this order: the parts draw their initial weights from one random stream
    student = None
    if parts.student:
        student_cfg = without_imagenet(STUDENT_CNN["slt" if parts.is_slt else "slr"])
        student = SLTStudent(student_cfg, num_classes, num_words) if parts.is_slt \
            else SLRStudent(student_cfg, num_classes)
    dialogue = DialogueTeacher(without_imagenet(DIALOGUE_CNN), num_classes, text_vocab,
                               num_words if parts.is_slt else 0, text_architecture=restored.get(DIALOGUE_BERT)) \
        if parts.dialogue_teacher else None
    text2gloss = Text2GlossTeacher(m, text_vocab, gloss_vocab,
                                   text_architecture=restored.get(TEXT2GLOSS_BERT)) if parts.text2gloss else None
    gloss_words = gloss_word_map(gloss_vocab, word_vocab) if m.text_teacher_encoder.share_word_embeddings else None
    gloss2text = Gloss2TextTeacher(m, num_classes, num_words, gloss_words) if parts.gloss2text else None
    # the same architecture as the SLT student: its weights come from a trained one (train.init)
    video_translator = SLTStudent(no_imagenet, num_classes, num_words) if parts.video_translator else None
    words = word_vocab if word_vocab is not None else WordVocab     # its special ids are class constants
    return SignKDSystem(cfg, student, dialogue, text2gloss, gloss2text, num_classes,
                        word_bos=words.bos, word_eos=words.eos, word_pad=words.pad, video_translator=video_translator)
