"""Checking every stage's inputs the way training reads them, before any training."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional



from signkd.errors import SignkdError
from signkd.pipeline.resolve import StageRun


def _hub_name(text: str) -> bool:
    """A Hugging Face model id (`bert-base-german-cased`, `org/name`), not a local path."""
    return not text.startswith(("/", ".", "~")) and text.count("/") <= 1 and not Path(text).exists()


class InputChecker:
    """Checks a stage's inputs the way training reads them: the corpus splits through the trainer's
    own reader (annotation files, dialogue files, every frame folder), the packed cache, tokenizer
    and pretrained weights, checkpoints loaded from outside the pipeline. Reads of the same corpus
    are shared between stages."""

    def __init__(self, folders: list[Path]):
        self.folders = [str(f) for f in folders]
        self._reads: dict[tuple, Optional[Exception]] = {}
        self.downloads: dict[str, set[str]] = {}    # name -> config keys that load it by name
        self.absent: list[tuple[str, str]] = []      # (stage, a split that is not there)

    def made_here(self, path: str) -> bool:
        """Whether `path` lies in a stage's folder (made by that stage; its needs say when)."""
        return bool(path) and any(path == f or path.startswith(f + os.sep) for f in self.folders)

    def _read(self, cfg, role: str) -> Optional[Exception]:
        from signkd.models.parts import model_parts
        from signkd.training.data import read_split

        d = cfg.data
        key = (d.format, d.root, d.annotations, d.dialogue, d.frames, d.skip_bad, model_parts(cfg).reads_video,
               getattr(d, role))
        if key not in self._reads:
            try:
                read_split(cfg, role, [])
                self._reads[key] = None
            except SignkdError as exc:
                self._reads[key] = exc
        return self._reads[key]

    def check(self, run: StageRun) -> list[str]:
        """The stage's problems, each one line without the stage's name."""
        from signkd.data.corpus_reader import MissingAnnotationError
        from signkd.models.parts import model_parts
        from signkd.training.data import frame_source

        cfg, problems = run.cfg, []
        for key, path in [("weights", run.weights), ("corpus", run.corpus)] + \
                [(f"ensemble[{i}]", p) for i, p in enumerate(run.ensemble)]:
            if path and not self.made_here(path) and not Path(path).is_file():
                problems.append(f"{key}: not found: {path}")
        if cfg is None:
            return problems
        d, m, parts = cfg.data, cfg.model, model_parts(cfg)
        for role in ("train", "dev", "test"):
            if not getattr(d, role) or self.made_here(getattr(d, role)) or self.made_here(d.annotations):
                continue
            exc = self._read(cfg, role)
            if isinstance(exc, MissingAnnotationError) and role == "test":
                self.absent.append((run.name, f"{exc}; scored on dev only"))
            elif exc is not None and str(exc) not in problems:
                problems.append(str(exc))
        if d.cache and parts.reads_video and not self.made_here(d.cache):
            try:
                frame_source(cfg)
            except SignkdError as exc:
                problems.append(f"data.cache: {exc}")
        named = [("data.tokenizer", d.tokenizer), ("model.text.pretrained", m.text.pretrained)]
        for key, value in named if parts.reads_text else []:
            if not value or self.made_here(value) or Path(value).exists():
                continue
            if _hub_name(value):
                self.downloads.setdefault(value, set()).add(key)
            else:
                problems.append(f"{key}: not found: {value}")
        if parts.reads_video and m.visual.pretrained:
            if m.visual.pretrained == "imagenet":
                self.downloads.setdefault("imagenet", set()).add("model.visual.pretrained")
            elif not Path(m.visual.pretrained).is_file():
                problems.append(f"model.visual.pretrained: not found: {m.visual.pretrained}")
        for i, init in enumerate(cfg.train.init):
            if init.checkpoint and not self.made_here(init.checkpoint) and not Path(init.checkpoint).is_file():
                problems.append(f"train.init[{i}].checkpoint: not found: {init.checkpoint}")
        return problems

    def notes(self, stages: list[str]) -> list[str]:
        """Notes for the plan: what will be downloaded, splits that are absent."""
        out = [f"{name} ({', '.join(sorted(keys))}) is loaded by name: downloaded on first use unless cached"
               for name, keys in sorted(self.downloads.items())]
        return out + merge_problems(self.absent, stages)


def merge_problems(problems: list[tuple[str, str]], stages: list[str]) -> list[str]:
    """One line per distinct problem, naming the stages it stops (a missing corpus root is one line,
    not one per stage and split)."""
    where: dict[str, list[str]] = {}
    for stage, text in problems:
        if stage not in where.setdefault(text, []):
            where[text].append(stage)
    lines = []
    for text, names in where.items():
        who = "every stage" if len(names) == len(stages) > 1 else ("stage " if len(names) == 1 else "stages ") + \
            ", ".join(names)
        lines.append(f"{who}: {text}")
    return lines


