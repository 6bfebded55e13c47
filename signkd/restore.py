"""One way to rebuild a trained system from a checkpoint, for every command that evaluates or
deploys one: `signkd test`, `recognize` / `translate` / `export` (the student alone),
`back-translate`, text-teacher ensembles and the demo report.

Why one function: each of those used to read the checkpoint's fields by string key and patch the
config its own way, so a check added to one entry point did not guard the others. Here the file is
read once as a typed `Checkpoint` (format, fields, vocabularies and tokenizer checked), the config
is made fit for restoring (no `init:` checkpoints to load, no ImageNet or BERT weights loaded by
name: the weights come from the checkpoint, a BERT's geometry too), and the weights load strictly
with a one-line message on any mismatch. `overwritten_pretrained` serves `--resume`, `--load-weights`
and `train.init` the same way. It sits below training and inference (.importlinter): a deployed
student is rebuilt without importing the trainer.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from signkd.config import MODULE_NAMES, Config, to_dict
from signkd.errors import CheckpointError
from signkd.checkpoint import Checkpoint, load_model_state
from signkd.data.vocab import Vocabs

# model.fusion settings that change no weight, only what the weights compute
FUSION_NUMERICS = ("norm_eps", "text_positions", "text_attends_padding")


@dataclass
class Restored:
    checkpoint: Checkpoint
    cfg: Config              # the config the system was built from (the checkpoint's unless one was given)
    vocabs: Vocabs
    system: torch.nn.Module  # signkd.models.system.SignKDSystem, in eval mode on `device`


@dataclass
class WeightsSource:
    """A checkpoint whose entries under `source_prefix` overwrite everything under `prefix` of the
    model being built (a whole checkpoint: both ""; a strict `train.init` entry: its prefixes)."""
    prefix: str
    source_prefix: str
    state: dict
    architecture: dict
    where: str


def overwritten_pretrained(cfg: Config, sources: Sequence[WeightsSource]) -> dict:
    """The `restored` argument of build_system: every module `cfg` would load pretrained ImageNet /
    BERT weights into (by name: a download, or a path) whose weights one of `sources` overwrites at
    once. Those are built without loading -- offline, or where the name no longer resolves, a
    checkpoint that holds everything must still load -- a BERT in the geometry of the checkpoint's
    weights (and of its stored `architecture`: heads, activation; else model.text.heads)."""
    from signkd.models.build import pretrained_targets
    from signkd.models.text import architecture_from_state

    out = {}
    for target, kind in pretrained_targets(cfg).items():
        for src in sources:
            if not target.startswith(src.prefix):
                continue
            module = src.source_prefix + target[len(src.prefix):]
            stored = src.architecture.get(module) if isinstance(src.architecture, dict) else None
            out[target] = None if kind == "visual" else architecture_from_state(
                src.state, module, stored if isinstance(stored, dict) else None, cfg.model.text.heads, src.where)
            break
    return out


def restore(source: str | Path | Checkpoint, *, cfg: Optional[Config] = None, device: str | torch.device = "cpu",
            work_dir: Optional[Path] = None, modules: Optional[Sequence[str]] = None) -> Restored:
    """Rebuild the system stored in `source` with its weights.

    `cfg`: build from this config instead of the checkpoint's (`signkd test CONFIG`: data paths and
    evaluation settings are the user's; an architecture that differs is named in the error).
    `modules`: build and load only these parts (e.g. ("student",) for recognition), so a student
    checkpoint of a 2-teacher run deploys without its teachers. `work_dir`: where a copy of the
    stored tokenizer goes."""
    from signkd.models.build import build_system
    from signkd.models.parts import model_parts

    ckpt = source if isinstance(source, Checkpoint) else Checkpoint.read(source)
    where = str(ckpt.path)
    cfg = copy.deepcopy(cfg) if cfg is not None else ckpt.run_config()
    # how the weights saw their clips, like the preprocessing: the checkpoint's, whatever a given
    # config says (a run trained without temporal padding scores and deploys without it)
    if ckpt.temporal_pad is not None:
        cfg.model.visual.temporal_pad, cfg.model.visual.temporal_pad_multiple = ckpt.temporal_pad
    # so is the fusion's arithmetic (an imported original dialogue teacher's: signkd.importers.teachers)
    stored_fusion = (ckpt.model_config or {}).get("fusion")
    for key in FUSION_NUMERICS:
        value = stored_fusion.get(key) if isinstance(stored_fusion, dict) else None
        if isinstance(value, type(getattr(cfg.model.fusion, key))):
            setattr(cfg.model.fusion, key, value)
    cfg.train.init = []                 # init: entries seed a training run; the weights come from here,
                                        # so no ImageNet / BERT weights are loaded to be overwritten at once
    state = ckpt.model
    if modules is not None:
        unknown = [m for m in modules if m not in MODULE_NAMES]
        if unknown:
            raise ValueError(f"restore: unknown module(s) {unknown}; expected some of {MODULE_NAMES}")
        present = model_parts(cfg).names
        missing = [m for m in modules if m not in present]
        if missing:
            raise CheckpointError(f"{where}: holds {', '.join(present) or 'no model'}, not {', '.join(missing)}")
        for name in MODULE_NAMES:
            setattr(cfg.model, name, name in modules)
        state = {k: v for k, v in state.items() if k.split(".", 1)[0] in modules}
    vocabs = Vocabs.from_state(ckpt.vocab, work_dir, where=where)
    restored = overwritten_pretrained(cfg, [WeightsSource("", "", state, ckpt.architecture, where)])
    system = build_system(cfg, vocabs.gloss, vocabs.word, vocabs.tokenizer, restored=restored)
    cfg.model.visual.pretrained = ""    # what was built: no ImageNet weights (a rebuild from cfg needs none)
    load_model_state(system, state, where=where, ckpt_model_cfg=ckpt.model_config, model_cfg=to_dict(cfg.model))
    system.to(device).eval()
    return Restored(ckpt, cfg, vocabs, system)
