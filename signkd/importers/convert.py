"""`signkd import`'s conversion: their checkpoint + gloss dictionary + a signkd config of the same
architecture -> a signkd student checkpoint payload that `signkd test`, `recognize` and `export`
load through `restore()` like any trained one.

Order: the gloss dictionary and the file are read (source_files), the config is made a student-only
SLR run with the preprocessing the weights saw, the file's architecture is checked against it
(key_mapping.check_architecture, naming the field), every key is mapped and the built student
loads the result strictly; anything left over or missing is one line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch

from signkd.atomic import sha256_file
from signkd.errors import CheckpointError
from signkd.importers.key_mapping import check_architecture, map_state
from signkd.importers.source_files import gloss_permutation, read_gloss_dict, read_source_checkpoint, source_state
from signkd.importers import teachers as import_teachers
from signkd.importers.sources import (DIALOGUE_TEACHER_CONFIG, ORIGINAL_OTHER, SOURCE_PREPROCESSING, SOURCE_TEMPORAL_PAD,
                                    SOURCES, TEXT2GLOSS_CONFIG)
from signkd.loss_terms import TERMS
from signkd.temporal import TemporalSpec

# The loss terms an imported SLR student's config keeps: the student's own, no teacher, no word decoder.
SLR_STUDENT_TERMS = tuple(name for name, term in TERMS.items()
                          if term.trains == ("student",) and not term.distils and not term.needs_words)
# VAC's weights of those terms (its configs/baseline.yaml), for a config that weights none of them.
VAC_WEIGHTS = {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "Dist": 25.0}


@dataclass
class Imported:
    payload: dict                         # what save_checkpoint writes
    notes: list[str] = field(default_factory=list)


def student_config(config_path: Path, overrides: Sequence[str], notes: list[str]):
    """The signkd config an imported checkpoint carries: `config_path` + overrides, made a
    student-only SLR run (no teachers, no init, no download) whose eval preprocessing is what
    the weights were trained with."""
    from signkd.config import StageConfig, load_config
    from signkd.data.corpora import check_config_format

    cfg = load_config(config_path, list(overrides))
    check_config_format(cfg.data.format)
    m = cfg.model
    m.task, m.student, m.num_classes = "slr", True, 0
    m.dialogue_teacher = m.text2gloss = m.gloss2text = False
    m.visual.pretrained = ""                          # the weights come from the file
    cfg.train.init = []
    cfg.train.stages = [StageConfig(train=["student"])]
    cfg.loss.weights = {k: v for k, v in cfg.loss.weights.items() if k in SLR_STUDENT_TERMS} or dict(VAC_WEIGHTS)
    a = cfg.data.augment
    fields = ("resize", "keep_aspect", "crop", "mean", "std")
    changed = [f"{k} {getattr(a, k)!r} -> {SOURCE_PREPROCESSING[k]!r}" for k in fields
               if getattr(a, k) != SOURCE_PREPROCESSING[k]]
    for k in fields:
        setattr(a, k, SOURCE_PREPROCESSING[k])
    cfg.data.frame_interval = SOURCE_PREPROCESSING["frame_interval"]
    for k, value in SOURCE_TEMPORAL_PAD.items():
        if getattr(m.visual, k) != value:
            changed.append(f"model.visual.{k} {getattr(m.visual, k)!r} -> {value!r}")
        setattr(m.visual, k, value)
    if changed:
        notes.append(f"{config_path.name}: data.augment / model.visual set to what the weights saw: {'; '.join(changed)}")
    return cfg


def _check_part(state: dict, prefix: str, part: str, path: Path) -> None:
    if prefix and not any(k.startswith(prefix) for k in state):
        present = sorted({k.split(".")[0] + "." for k in state})
        known = [p for p in present if p in ORIGINAL_OTHER or p in SOURCES["original"].parts.values()]
        hint = ("; --part teacher-sign-encoder imports a dialogue teacher's sign encoder"
                if "sign_encoder." in present else "")
        raise CheckpointError(f"{path}: no {prefix}* keys for --part {part} "
                              f"(it holds {', '.join(known or present[:6])}){hint}")


def _check_classes(state: dict, key: str, vocab, gloss_dict, path: Path) -> None:
    """Their classifier's class count against the gloss dictionary, before any shape message."""
    if f"{key}.weight" not in state:
        return
    rows = state[f"{key}.weight"].shape[0 if f"{key}.bias" in state else -1]
    if rows != vocab.num_classes:
        raise CheckpointError(f"{path}: {key}.weight has {rows} classes but {gloss_dict} names "
                              f"{vocab.num_classes - 1} glosses (+ blank = {vocab.num_classes}); "
                              "not this checkpoint's gloss dictionary")


def import_checkpoint(kind: str, checkpoint: str | Path, *, gloss_dict: Optional[str | Path],
                      config: Optional[str | Path] = None, overrides: Sequence[str] = (),
                      part: str = "student", tokenizer: Optional[str | Path] = None) -> Imported:
    """Their checkpoint + gloss dictionary -> a signkd student checkpoint payload (see the module
    docstring). `config`: the signkd config describing the architecture (default per source);
    its `model` must fit the file."""
    from signkd.config import to_dict
    from signkd.checkpoint import load_model_state
    from signkd.models.build import build_system

    if kind not in SOURCES:
        raise CheckpointError(f"import: unknown source {kind!r}; expected one of {', '.join(SOURCES)}")
    source = SOURCES[kind]
    if part not in source.parts:
        raise CheckpointError(f"import {kind} --part: expected one of {', '.join(source.parts)}, got {part!r}")
    if gloss_dict is None:
        raise CheckpointError(f"import {kind}: --gloss-dict FILE is required: the checkpoint holds class ids, "
                              "the gloss names are in their gloss_dict.npy (VAC) or vocab.txt (original)")
    prefix, path = source.parts[part], Path(checkpoint)
    ids = read_gloss_dict(gloss_dict)
    raw, notes = read_source_checkpoint(path)
    state = source_state(raw, path)
    _check_part(state, prefix, part, path)

    teacher, text2gloss = part == "dialogue-teacher", part == "text2gloss"    # both: importers/teachers.py
    if teacher or text2gloss:
        import_teachers.check_part_keys(state, path, part)
    config_path = Path(config) if config else \
        (DIALOGUE_TEACHER_CONFIG if teacher else TEXT2GLOSS_CONFIG if text2gloss else source.default_config)
    cfg = student_config(config_path, overrides, notes)
    vocab, index = gloss_permutation(ids)
    if not text2gloss:
        check_architecture(state, cfg, prefix=prefix, config_name=str(config_path), path=path)
        _check_classes(state, f"{prefix}{source.classifier}", vocab, gloss_dict, path)
    specs = TemporalSpec.parse(cfg.model.visual.temporal).layers
    layouts: dict = {}

    def map_sign_encoder(expected: dict) -> dict:
        mapped, found = map_state(state, expected, specs=specs, classifier=source.classifier, prefix=prefix,
                                  index=index, path=path)
        layouts.update(found)
        return mapped

    extra: dict = {}
    if teacher:
        cfg = import_teachers.teacher_config(cfg, state, path, str(config_path), notes)
        extra = import_teachers.import_teacher(state, cfg, vocab, index, path=path, tokenizer_dir=tokenizer,
                                               notes=notes, map_sign_encoder=map_sign_encoder)
        mapped = extra.pop("model")
        prefix = tuple(import_teachers.REQUIRED)
    elif text2gloss:
        cfg = import_teachers.text2gloss_config(cfg, state, path, str(config_path), notes)
        extra = import_teachers.import_text2gloss(state, cfg, vocab, index, path=path, tokenizer_dir=tokenizer)
        mapped = extra.pop("model")
        prefix = tuple(import_teachers.T2G_REQUIRED)
    else:
        system = build_system(cfg, vocab)
        mapped = map_sign_encoder({k[len("student."):]: v for k, v in system.state_dict().items()
                                   if k.startswith("student.")})
        load_model_state(system, mapped, where=str(path))        # strict: the final guard

    skipped = sorted({k.split(".")[0] + "." for k in state if not k.startswith(prefix)})
    if skipped:
        notes.append(f"not imported (not part of --part {part}): {', '.join(skipped)}")
    epoch = raw.get("epoch")
    epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None
    imported = {
        "source": kind, "part": part, "file": path.name, "sha256": sha256_file(path), "source_epoch": epoch,
        "gloss_dict": Path(gloss_dict).name,
        "gloss_order": "already sorted" if torch.equal(index, torch.arange(len(index))) else "permuted to sorted",
        "classifier_layout": layouts, "config": str(config_path),
        "preprocessing_not_applied": {
            "resize_filter": "their frames were resized with cv2 INTER_LANCZOS4; signkd uses PIL LANCZOS"},
    }
    payload = {"epoch": 0 if epoch is None else epoch + 1,      # theirs counts from 0; ours = epochs done
               "model": mapped, "config": to_dict(cfg),
               "vocab": {"gloss": vocab.to_dict(), "word": None, "tokenizer": None},
               "preprocessing": dict(SOURCE_PREPROCESSING), "metrics": {}, "trainer": {}, "imported": imported}
    payload.update(extra)                    # a teacher's vocab (with its tokenizer) and BERT architecture
    return Imported(payload, notes)


def write_imported(result: Imported, out: str | Path) -> Path:
    from signkd.checkpoint import save_checkpoint

    return save_checkpoint(out, result.payload)
