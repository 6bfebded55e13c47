"""A student checkpoint ready for inference: its student alone (no teachers, no trainer), its
config, vocabularies, preprocessing and the longest training targets (the decoding budget).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from signkd.errors import CheckpointError
from signkd.inference.preprocessing import Preprocessing


@dataclass
class StudentBundle:
    student: torch.nn.Module      # SLRStudent or SLTStudent, eval mode
    cfg: object                   # signkd.config.Config of the run
    gloss_vocab: object
    word_vocab: object
    preprocessing: Preprocessing
    max_lengths: dict

    @property
    def is_slt(self) -> bool:
        from signkd.models.recognizer import SLTStudent
        return isinstance(self.student, SLTStudent)

    @property
    def encoder(self):
        """The SLR part (frame CNN, temporal conv, sequence encoder, classifiers)."""
        return self.student.encoder if self.is_slt else self.student


def load_student(path: str | Path, device: str | torch.device = "cpu") -> StudentBundle:
    """A signkd checkpoint -> its student, config, vocabularies and preprocessing.
    CheckpointError (one line) for files that are not signkd checkpoints or hold no student."""
    from signkd.checkpoint import Checkpoint
    from signkd.models.parts import model_parts
    from signkd.restore import restore

    ckpt = Checkpoint.read(path)
    cfg = ckpt.run_config()
    parts = model_parts(cfg)
    if not parts.student or not any(k.startswith("student.") for k in ckpt.model):
        what = (f"a teacher checkpoint ({', '.join(parts.teachers)})" if parts.teachers
                else "a checkpoint without a student")
        raise CheckpointError(f"{path}: {what}; recognize/translate/export need a student checkpoint "
                              "(a run with model.student: true)")
    if parts.is_slt and not ckpt.vocab.get("word"):
        raise CheckpointError(f"{path}: an SLT student checkpoint without its word vocabulary")
    restored = restore(ckpt, cfg=cfg, device=device, modules=("student",))
    return StudentBundle(restored.system.student, restored.cfg, restored.vocabs.gloss, restored.vocabs.word,
                         Preprocessing.from_checkpoint(ckpt.preprocessing, restored.cfg),
                         dict(ckpt.preprocessing.get("max_lengths") or {}))
