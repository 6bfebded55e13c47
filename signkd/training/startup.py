"""Where a training run's vocabularies and first weights come from, resolved before epoch one.

The order matters and `Trainer.__init__` follows it; each step takes what the earlier ones give:
  1. `read_start`: the checkpoint the run continues from, read once -- last.pt on --resume (its
     config checked against this run's), else the --load-weights file.
  2. `resolve_vocabs`: that checkpoint's vocabularies and tokenizer, so ids never move. Without one,
     they are built from the train split with the text tokenizer of the first `init:` checkpoint
     that brings a text-reading teacher (a WordPiece trained here would give its BERT other ids);
     under DDP rank 0 builds them once and broadcasts them.
  3. `overwritten_pretrained`: the modules whose pretrained ImageNet / BERT weights a checkpoint
     replaces right after building, so build_system neither reads nor downloads them.
  4. `warm_start`: the --load-weights weights, then every `init:` entry in order, each checked
     against the run's vocabularies first; on --resume `resume_training` instead: the weights and
     the optimizer, scheduler, grad-scaler and RNG states of last.pt.
`StartPoint.inits` reads each `init:` checkpoint at most once over steps 2-4; it lives as long as
the start-up, so no checkpoint is held once training runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from signkd.config import Config, to_dict
from signkd.errors import CheckpointError
from signkd.models.parts import TEXT_READING_MODULES
from signkd import checkpoint as ckpt_io
from signkd.training import distributed as D
from signkd.training import run_dir as run_dirs
from signkd.checkpoint import Checkpoint
from signkd.data.vocab import Vocabs
from signkd.training.data import vocabs_from_train_split

Log = Callable[[str], None]


class InitCheckpoints:
    """The checkpoints of `train.init`, each read on first use and then kept."""

    def __init__(self, entries):
        self.entries = list(entries)
        self._read: dict[int, dict] = {}

    def get(self, i: int) -> tuple[dict, str]:
        """(raw checkpoint, "train.init[i] (path)") of entry i."""
        init = self.entries[i]
        where = f"train.init[{i}] ({init.checkpoint})"
        if not init.checkpoint or not init.prefix:
            raise CheckpointError(f"{where}: needs both checkpoint and prefix")
        if i not in self._read:
            self._read[i] = ckpt_io.load_checkpoint(init.checkpoint)
        return self._read[i], where


@dataclass
class StartPoint:
    resume: Optional[Checkpoint] = None     # last.pt on --resume
    weights: Optional[Checkpoint] = None    # the --load-weights checkpoint
    weights_path: str = ""                  # ... as given on the command line
    inits: InitCheckpoints = field(default_factory=lambda: InitCheckpoints(()))

    @property
    def whole(self) -> Optional[Checkpoint]:
        """The checkpoint every weight and the vocabularies come from, if any."""
        return self.resume or self.weights


def read_start(cfg: Config, work_dir: Path, *, resume: bool, load_weights: str, force: bool, log: Log) -> StartPoint:
    """Step 1: read last.pt (--resume; refused when it cannot resume or, without `force`, when the
    config changed) or the --load-weights checkpoint."""
    start = StartPoint(inits=InitCheckpoints(cfg.train.init))
    if resume:
        last = work_dir / "last.pt"
        if not last.is_file():
            raise CheckpointError(f"{last}: nothing to resume (no last.pt in the work dir)")
        start.resume = Checkpoint.read(last)
        start.resume.require_resumable()
        run_dirs.check_resume_config(start.resume.config, to_dict(cfg), where=last, force=force, log=log)
        log(f"resuming from {last} (epoch {start.resume.epoch})")
    elif load_weights:
        start.weights, start.weights_path = Checkpoint.read(load_weights), load_weights
    return start


def init_tokenizer(cfg: Config, inits: InitCheckpoints, log: Log) -> Optional[dict]:
    """The tokenizer files of the first `init:` checkpoint that brings a text-reading teacher, when
    data.tokenizer is empty."""
    if cfg.data.tokenizer:
        return None
    for i, init in enumerate(inits.entries):
        if init.prefix.startswith(TEXT_READING_MODULES):
            ckpt, _ = inits.get(i)
            files = ((ckpt.get("vocab") or {}) if isinstance(ckpt, dict) else {}).get("tokenizer")
            if files:
                log(f"init: using the text tokenizer of {init.checkpoint}")
                return files
    return None


def resolve_vocabs(cfg: Config, work_dir: Path, dist: D.DistInfo, start: StartPoint,
                   log: Log) -> tuple[Optional[Vocabs], Optional[dict]]:
    """Step 2: (vocabs, tokenizer files) for build_data. Vocabs None: build_data builds them from
    the train split it reads, with these tokenizer files (None: it trains a WordPiece or loads
    data.tokenizer)."""
    copy_to = work_dir if dist.is_main else None      # only rank 0 writes work_dir/tokenizer
    if start.whole is not None:
        return Vocabs.from_state(start.whole.vocab, copy_to, where=str(start.whole.path)), None
    if dist.distributed:
        # rank 0 builds the vocabularies (and trains the WordPiece) once; the others receive them
        state = None
        if dist.is_main:
            tokenizer_files = init_tokenizer(cfg, start.inits, log)
            state = vocabs_from_train_split(cfg, work_dir, tokenizer_files=tokenizer_files).to_state()
        return Vocabs.from_state(D.broadcast_object(state, dist), copy_to), None
    return None, init_tokenizer(cfg, start.inits, log)


def overwritten_pretrained(cfg: Config, start: StartPoint, log: Log) -> dict:
    """Step 3: build_system's `restored`: the modules named for pretrained ImageNet / BERT weights
    whose weights come from a checkpoint right after building -- all of them on --resume and
    --load-weights, those a strict `train.init` entry covers otherwise (a non-strict one may leave
    some of a module's weights to the pretrained ones)."""
    from signkd.restore import WeightsSource, overwritten_pretrained as overwritten

    full = start.whole
    if full is not None:
        sources = [WeightsSource("", "", full.model, full.architecture, str(full.path))]
    else:
        norm = lambda p: (p.rstrip(".") + ".") if p else ""  # noqa: E731  (as load_prefix)
        sources = []
        for i, init in enumerate(cfg.train.init):
            if not (init.strict and init.checkpoint and init.prefix):
                continue
            ckpt, where = start.inits.get(i)
            architecture = ckpt.get("architecture") if isinstance(ckpt, dict) else None
            sources.append(WeightsSource(norm(init.prefix), norm(init.source_prefix or init.prefix),
                                         ckpt_io.model_state_of(ckpt, init.checkpoint),
                                         architecture if isinstance(architecture, dict) else {}, where))
    restored = overwritten(cfg, sources)
    for prefix in restored:
        name = "model.text.pretrained" if restored[prefix] is not None else "model.visual.pretrained"
        log(f"{name}: not loaded into {prefix.rstrip('.')} (its weights come from "
            f"{full.path if full is not None else 'train.init'})")
    return restored


def warm_start(system: torch.nn.Module, cfg: Config, start: StartPoint, vocabs: Vocabs, log: Log) -> None:
    """Step 4: load the --load-weights checkpoint, then every `init:` entry in order."""
    if start.weights is not None:
        ckpt_io.load_model_state(system, start.weights.model, where=str(start.weights_path),
                                 ckpt_model_cfg=start.weights.model_config, model_cfg=to_dict(cfg.model))
        log(f"loaded weights from {start.weights_path}")
    for i, init in enumerate(cfg.train.init):
        ckpt, where = start.inits.get(i)
        check_init_vocab(ckpt, where, vocabs, reads_text=init.prefix.startswith(TEXT_READING_MODULES))
        state = ckpt_io.model_state_of(ckpt, init.checkpoint)
        rep = ckpt_io.load_prefix(system, state, prefix=init.prefix, source_prefix=init.source_prefix,
                                  strict=init.strict, where=where)
        log(f"init: {init.prefix} <- {init.checkpoint}:{init.source_prefix or init.prefix} "
            f"({rep['loaded']} tensors; missing {len(rep['missing'])}"
            f"{' e.g. ' + rep['missing'][0] if rep['missing'] else ''}; unexpected {len(rep['unexpected'])}"
            f"{' e.g. ' + rep['unexpected'][0] if rep['unexpected'] else ''})")


def check_init_vocab(ckpt: dict, where: str, ours: Vocabs, reads_text: bool = False) -> None:
    """A module trained with other gloss / word / word-piece ids would load without error and
    mean nothing."""
    vocab = ckpt.get("vocab") if isinstance(ckpt, dict) else None
    if not vocab:
        return
    pieces = (vocab.get("tokenizer") or {}).get("vocab.txt")
    if reads_text and pieces is not None and (ours.tokenizer_files or {}).get("vocab.txt") is not None:
        mine = ours.tokenizer_files["vocab.txt"]
        if not torch.equal(torch.as_tensor(pieces), torch.as_tensor(mine)):
            count = lambda t: bytes(torch.as_tensor(t).tolist()).decode("utf-8").count("\n")  # noqa: E731
            raise CheckpointError(f"{where}: its text tokenizer differs from this run's ({count(pieces)} vs "
                                  f"{count(mine)} word pieces); give both runs the same data.tokenizer")
    theirs = vocab.get("gloss", {}).get("glosses")
    if theirs is not None and theirs != ours.gloss.glosses:
        only = sorted(set(theirs) ^ set(ours.gloss.glosses))
        raise CheckpointError(f"{where}: its gloss vocabulary differs from this run's ({len(theirs)} vs "
                              f"{len(ours.gloss.glosses)} glosses{', e.g. ' + repr(only[0]) if only else ', other order'}); "
                              "train both on the same train split")
    words = (vocab.get("word") or {}).get("words")
    if words is not None and ours.word is not None and words != ours.word.to_dict()["words"]:
        raise CheckpointError(f"{where}: its word vocabulary differs from this run's "
                              f"({len(words)} vs {len(ours.word.to_dict()['words'])} words)")


def resume_training(ckpt: Checkpoint, system: torch.nn.Module, optimizer, schedule, scaler, cfg: Config) -> None:
    """Step 4 on --resume: the weights and training states last.pt holds (the trainer's record is
    `TrainState.from_checkpoint`). It restores the RNG state too, so it comes last: a random number
    drawn after it would shift every later one."""
    ckpt_io.load_model_state(system, ckpt.model, where=str(ckpt.path),
                             ckpt_model_cfg=ckpt.model_config, model_cfg=to_dict(cfg.model))
    try:
        optimizer.load_state_dict(ckpt.optimizer)
        schedule.load_state_dict(ckpt.scheduler)
        if ckpt.scaler:
            scaler.load_state_dict(ckpt.scaler)
        ckpt_io.restore_rng(ckpt.rng)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{ckpt.path}: its optimizer / scheduler / RNG state does not fit this run "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
