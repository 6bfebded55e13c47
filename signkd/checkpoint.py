"""One checkpoint file holds everything needed to resume, evaluate or deploy a run: model,
optimizer, scheduler, AMP scaler, RNG states, epoch, the resolved config, vocabularies and the
text tokenizer, preprocessing and metrics.

Why these rules:
- written to a temp file then `os.replace`d, so an interrupted save never leaves a torn file;
- only tensors and plain containers inside, so loading works with `torch.load(weights_only=True)`
  (no arbitrary unpickling of files found on the internet);
- a checkpoint that does not fit the model fails with one line naming the mismatch (which
  config field differs, which keys are missing or unexpected), instead of PyTorch's page of keys
  or, worse, the original's silent non-strict load.

It sits below models, training and inference (.importlinter), so loading weights -- a frame CNN's
ImageNet file, a run's checkpoint -- never imports the trainer.
"""
from __future__ import annotations

import os
import pickle
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from signkd.atomic import atomic_write
from signkd.errors import CheckpointError

FORMAT = "signkd-checkpoint"
VERSION = 1


# --------------------------------------------------------------------------------------------
# RNG states (as tensors / plain lists, so weights_only loading accepts them)
# --------------------------------------------------------------------------------------------

def capture_rng() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except (RuntimeError, IndexError):  # resumed on a different number of GPUs
            pass


# --------------------------------------------------------------------------------------------
# Writing and reading
# --------------------------------------------------------------------------------------------

def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Atomically write `payload` (plus format tags) to `path` (signkd.atomic: a kill, a full disk
    or an unwritable folder leaves the old file untouched, no temp file behind, and one line)."""
    return atomic_write(path, lambda fh: torch.save({"format": FORMAT, "version": VERSION, **payload}, fh),
                        error=CheckpointError, what="checkpoint")


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint with weights_only=True. Files holding arbitrary Python objects are
    refused unless SIGNKD_TRUST_CHECKPOINTS=1 (only for files you made yourself)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        refused = next((ln for ln in lines if "GLOBAL" in ln), None)
        if refused is None or not zipfile.is_zipfile(path):
            detail = next((ln for ln in lines if "Unsupported" in ln or "invalid" in ln.lower()), _first_line(exc))
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({detail[:160]})") from None
        if os.environ.get("SIGNKD_TRUST_CHECKPOINTS") == "1":
            return torch.load(path, map_location="cpu", weights_only=False)
        raise CheckpointError(f"{path}: holds objects weights_only loading refuses ({refused[:160]}); "
                              "set SIGNKD_TRUST_CHECKPOINTS=1 only if you trust the file") from None
    except Exception as exc:   # torch raises RuntimeError, EOFError, ValueError, OSError, ... for torn files
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None


def model_state_of(ckpt: Any, path: str | Path = "") -> dict:
    """The model state dict inside a checkpoint: ours (`model`), common layouts (`state_dict`,
    `model_state_dict`), or a bare state dict. `.module.` from DataParallel is stripped."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(ckpt).__name__}")
    state = None
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(ckpt.get(key), dict):
            state = ckpt[key]
            break
    if state is None:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            state = ckpt
        else:
            raise CheckpointError(f"{path}: no model weights found (keys: {', '.join(list(map(str, ckpt))[:6])})")
    return {k.replace("module.", "", 1) if k.startswith("module.") else k: v for k, v in state.items()}


def require_signkd(ckpt: dict, path: str | Path) -> None:
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a signkd checkpoint (no '{FORMAT}' tag); "
                              "use it through an `init:` entry if it only holds weights")


# --------------------------------------------------------------------------------------------
# The checkpoint as one typed object
# --------------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    """A signkd checkpoint, read and checked once: every field typed, so no caller indexes the
    raw dict by string and each check below guards every command (train --resume/--load-weights,
    test, recognize, export, back-translate, the demo report).

    Why checked here: the file may come from anywhere. `read` refuses what is not a signkd
    checkpoint or lacks a field a command needs, with one line naming the file and the field,
    instead of a KeyError deep inside a command."""
    path: Path
    epoch: int                      # completed epochs
    model: dict                     # state dict of the whole system: name -> tensor
    config: dict                    # the run's resolved config (signkd.config.to_dict)
    vocab: dict                     # {"gloss", "word", "tokenizer"} (signkd.data.vocab.Vocabs.to_state)
    preprocessing: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    trainer: dict = field(default_factory=dict)   # TrainState of the run
    optimizer: Optional[dict] = None
    scheduler: Optional[dict] = None
    scaler: Optional[dict] = None
    rng: Optional[dict] = None
    imported: dict = field(default_factory=dict)  # provenance of a converted checkpoint (signkd.importers)
    # {module prefix: BertConfig values} of every BERT text encoder (signkd.models.text.text_architecture),
    # so a run that loaded one by name (model.text.pretrained) restores without that name
    architecture: dict = field(default_factory=dict)

    RESUME_FIELDS = ("optimizer", "scheduler", "rng", "trainer")

    @classmethod
    def read(cls, path: str | Path) -> "Checkpoint":
        return cls.from_payload(load_checkpoint(path), path)

    @classmethod
    def from_payload(cls, raw: Any, path: str | Path) -> "Checkpoint":
        require_signkd(raw, path)
        version = raw.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise CheckpointError(f"{path}: checkpoint format version {version!r}; this signkd reads up to {VERSION}")
        epoch = raw.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise CheckpointError(f"{path}: field 'epoch' missing or not a non-negative integer ({epoch!r})")
        model = raw.get("model")
        if not isinstance(model, dict) or not model or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
            raise CheckpointError(f"{path}: field 'model' missing or not a state dict of named tensors")
        typed: dict = {}
        for name, required in (("config", True), ("vocab", True), ("preprocessing", False), ("metrics", False),
                               ("trainer", False), ("optimizer", False), ("scheduler", False), ("scaler", False),
                               ("rng", False), ("imported", False), ("architecture", False)):
            value = raw.get(name)
            if value is None and not required:
                continue
            if not isinstance(value, dict) or (required and not value):
                raise CheckpointError(f"{path}: field {name!r} missing or not a mapping")
            typed[name] = value
        if not isinstance(typed["vocab"].get("gloss"), dict):
            raise CheckpointError(f"{path}: field 'vocab' holds no gloss vocabulary")
        return cls(path=Path(path), epoch=epoch, model=model, **typed)

    def to_payload(self) -> dict:
        """The dict `save_checkpoint` writes (format tags are added there)."""
        out = {"epoch": self.epoch, "model": self.model, "config": self.config, "vocab": self.vocab,
               "preprocessing": self.preprocessing, "metrics": self.metrics, "trainer": self.trainer}
        out.update({k: getattr(self, k) for k in ("optimizer", "scheduler", "scaler", "rng")
                    if getattr(self, k) is not None})
        if self.imported:
            out["imported"] = self.imported
        if self.architecture:
            out["architecture"] = self.architecture
        return out

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, self.to_payload())

    def require_resumable(self) -> None:
        missing = [k for k in self.RESUME_FIELDS if not getattr(self, k)]
        if missing:
            raise CheckpointError(f"{self.path}: cannot resume from it: no {', '.join(missing)} stored "
                                  "(a checkpoint for weights only; use --load-weights)")

    def run_config(self):
        """The run's `Config`, validated; a stored config this signkd cannot read is one line."""
        from signkd.config import ConfigError, from_dict, upgrade_stored_config

        try:
            return from_dict(upgrade_stored_config(self.config))
        except ConfigError as exc:
            raise CheckpointError(f"{self.path}: its stored config does not load ({exc})") from None

    @property
    def temporal_pad(self) -> Optional[tuple[str, int]]:
        """(model.visual.temporal_pad, temporal_pad_multiple) the weights were trained with
        ("none" for runs saved before the option existed); None where the stored config does not say."""
        from signkd.config import upgrade_stored_config

        model = upgrade_stored_config(self.config).get("model")
        visual = model.get("visual") if isinstance(model, dict) else None
        mode = visual.get("temporal_pad") if isinstance(visual, dict) else None
        multiple = visual.get("temporal_pad_multiple", 0) if isinstance(visual, dict) else 0
        if mode not in ("vac", "none") or isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 0:
            return None
        return mode, multiple

    @property
    def model_config(self) -> Optional[dict]:
        return self.config.get("model") if isinstance(self.config.get("model"), dict) else None


# --------------------------------------------------------------------------------------------
# Fitting a state dict to a model, with messages that name the mismatch
# --------------------------------------------------------------------------------------------

def _flatten(d: Any, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


# Config fields that change no parameter shape or name: not worth naming as "the" mismatch.
_HARMLESS = ("dropout", "pretrained")


def config_differences(ckpt_model_cfg: Optional[dict], model_cfg: Optional[dict], limit: int = 3) -> list[str]:
    """`model.x.y is A in the checkpoint, B here` for architecture fields that differ."""
    if not ckpt_model_cfg or not model_cfg:
        return []
    a, b = _flatten(ckpt_model_cfg, "model"), _flatten(model_cfg, "model")
    out = []
    for key in sorted(set(a) | set(b)):
        if any(h in key.rsplit(".", 1)[-1] for h in _HARMLESS):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            out.append(f"{key} is {a.get(key, '<absent>')!r} in the checkpoint but {b.get(key, '<absent>')!r} here")
    return out[:limit]


def diff_state(model_state: dict, state: dict) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, shape mismatches) of `state` against `model_state`."""
    missing = [k for k in model_state if k not in state]
    unexpected = [k for k in state if k not in model_state]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(model_state[k].shape)}"
              for k in model_state if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(model_state[k].shape)]
    return missing, unexpected, shapes


def mismatch_message(where: str, missing, unexpected, shapes, config_diffs=()) -> str:
    parts = []
    if config_diffs:
        parts.append("; ".join(config_diffs))
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es), e.g. {shapes[0]} (checkpoint vs model)")
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
    return f"{where}: checkpoint does not fit this model: " + "; ".join(parts)


def load_model_state(model: nn.Module, state: dict, *, where: str, ckpt_model_cfg: Optional[dict] = None,
                     model_cfg: Optional[dict] = None) -> None:
    """Strictly load a full-model state dict, or raise one CheckpointError line naming the mismatch."""
    model = unwrap(model)
    own = model.state_dict()
    missing, unexpected, shapes = diff_state(own, state)
    if missing or unexpected or shapes:
        raise CheckpointError(mismatch_message(where, missing, unexpected, shapes,
                                               config_differences(ckpt_model_cfg, model_cfg)))
    model.load_state_dict(state, strict=True)


def load_prefix(model: nn.Module, state: dict, *, prefix: str, source_prefix: str = "", strict: bool = True,
                where: str = "") -> dict:
    """Load the entries of `state` under `source_prefix` into the part of `model` under `prefix`
    (e.g. an SLR student checkpoint's `student.` into an SLT student's `student.`, or a teacher
    run's `dialogue_teacher.` into this run's teacher). Returns a report dict
    {loaded, missing, unexpected}; strict raises on missing/unexpected keys, and a shape
    mismatch always raises."""
    model = unwrap(model)
    src = source_prefix or prefix
    norm = lambda p: (p.rstrip(".") + ".") if p else ""  # noqa: E731
    src, dst = norm(src), norm(prefix)
    own = {k: v for k, v in model.state_dict().items() if k.startswith(dst)}
    if not own:
        tops = sorted({k.split(".")[0] for k in model.state_dict()})
        raise CheckpointError(f"{where}: prefix {prefix!r} matches no parameter of this model "
                              f"(top-level modules: {', '.join(tops)})")
    picked = {dst + k[len(src):]: v for k, v in state.items() if k.startswith(src)}
    if not picked:
        tops = sorted({k.split(".")[0] for k in state})
        raise CheckpointError(f"{where}: the checkpoint has no entry under {src!r} (its top-level keys: {', '.join(tops[:8])})")
    missing, unexpected, shapes = diff_state(own, picked)
    if shapes or (strict and (missing or unexpected)):
        raise CheckpointError(mismatch_message(where, missing, unexpected, shapes)
                              + ("" if shapes else "; set strict: false in this init entry to allow it"))
    fitting = {k: v for k, v in picked.items() if k in own}
    model.load_state_dict(fitting, strict=False)
    return {"loaded": len(fitting), "missing": missing, "unexpected": unexpected}
