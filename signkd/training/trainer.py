"""The training loop: stages, loss schedules, optimisation, checkpoints, DDP, evaluation.

Reproducibility contract (tests/test_checkpoint.py): on CPU with `train.deterministic: true`
and `data.num_workers: 0`, 2 epochs straight and 1 epoch + `--resume` + 1 epoch give bit-identical
weights. What makes it hold: every epoch reseeds the global RNGs from (seed, epoch); batch order
and augmentation are pure functions of (seed, epoch, index); the checkpoint carries optimizer,
scheduler, scaler and RNG states as well as the model.
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from signkd.atomic import atomic_write_text
from signkd.config import Config, dump_yaml, to_dict
from signkd.errors import CheckpointError, TrainingDiverged
from signkd.hardware import cpu_has_bf16
from signkd.models.parts import TEXT_READING_MODULES, model_parts
from signkd.training import checkpoint as ckpt_io
from signkd.training.checkpoint import Checkpoint
from signkd.training import distributed as D
from signkd.training import run_dir as run_dirs
from signkd.training.data import (DataBundle, Vocabs, build_data, frame_size_of, preprocessing_of, train_loader,
                                  vocabs_from_train_split, write_report)
from signkd.training.evaluate import Evaluator, is_better, select_metric
from signkd.training.optimizer import Schedule, build_optimizer
from signkd.training.stages import active_weights, apply_stage, check_stages, stage_at, stage_index


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) & 0x7FFFFFFF


def set_deterministic(enabled: bool) -> None:
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@dataclass
class TrainState:
    epoch: int = 0                       # completed epochs
    global_step: int = 0                 # optimizer steps
    best_score: Optional[float] = None
    best_epoch: int = -1
    averaged: list = field(default_factory=list)   # epochs whose average is best.pt (train.average_last)
    average: dict = field(default_factory=dict)    # {"epochs", "dev"} of the averaged weights, better or not
    nan_skipped: int = 0
    history: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Trainer:
    @run_dirs.releases_on_failure
    def __init__(self, cfg: Config, *, work_dir: str | Path | None = None, resume: bool = False,
                 load_weights: str = "", dist: Optional[D.DistInfo] = None, log_file: bool = True,
                 force: bool = False):
        """`force`: train into a work dir that holds a finished run, or resume with a changed config
        (signkd/training/run_dir.py says why both are refused otherwise)."""
        self.cfg = cfg
        self.work_dir = Path(work_dir or cfg.work_dir)
        self.dist = dist or D.setup(cfg.train.device)
        self.device = self.dist.device
        self.is_main = self.dist.is_main
        # locked (rank 0) until close(); refused if another training holds it or it holds a run
        self.run_dir = run_dirs.claim(self.work_dir, self.dist, resume=resume, force=force)
        self._log_path = self.work_dir / "train.log" if (log_file and self.is_main) else None
        if self.run_dir.previous:
            self.log(self.run_dir.overwrite_note())
        if cfg.train.num_threads > 0:
            torch.set_num_threads(cfg.train.num_threads)
        set_deterministic(cfg.train.deterministic)
        seed_everything(cfg.train.seed)
        self.state = TrainState()
        check_stages(cfg)  # fail on an inconsistent schedule before any data is read

        resume_ckpt = weights_ckpt = None
        if resume:
            last = self.work_dir / "last.pt"
            if not last.is_file():
                raise CheckpointError(f"{last}: nothing to resume (no last.pt in the work dir)")
            resume_ckpt = Checkpoint.read(last)
            resume_ckpt.require_resumable()
            run_dirs.check_resume_config(resume_ckpt.config, to_dict(cfg), where=last, force=force, log=self.log)
            self.log(f"resuming from {last} (epoch {resume_ckpt.epoch})")
        elif load_weights:
            weights_ckpt = Checkpoint.read(load_weights)
        vocab_from = resume_ckpt or weights_ckpt
        vocabs = Vocabs.from_state(vocab_from.vocab, self.work_dir if self.is_main else None,
                                   where=str(vocab_from.path)) if vocab_from else None
        roles = ("train", "dev") if cfg.data.dev else ("train",)
        self._init_ckpts: dict = {}
        if vocabs is None and self.dist.distributed:
            # rank 0 builds the vocabularies (and trains the WordPiece) once; the others receive them
            state = None
            if self.is_main:
                state = vocabs_from_train_split(cfg, self.work_dir, tokenizer_files=self._init_tokenizer()).to_state()
            vocabs = Vocabs.from_state(D.broadcast_object(state, self.dist), self.work_dir if self.is_main else None)
        tokenizer_files = self._init_tokenizer() if vocabs is None else None
        self.data: DataBundle = build_data(cfg, self.work_dir, roles=roles, vocabs=vocabs,
                                           tokenizer_files=tokenizer_files, log=self.log)
        # the frame size training reads, for `recognize` when training kept the frames' own size
        # (resize 0; a packed cache records its size itself)
        self.frame_size = frame_size_of(self.data.datasets["train"]) \
            if not (cfg.data.augment.resize or cfg.data.cache) else None
        if self.is_main:
            write_report(self.data.report, self.work_dir / "data_report.txt")
            (self.work_dir / "config.yaml").write_text(dump_yaml(cfg), encoding="utf-8")

        from signkd.models.build import build_system

        v = self.data.vocabs
        restored = self._overwritten_pretrained(resume_ckpt or weights_ckpt)
        seed_everything(cfg.train.seed)  # same initial weights whatever the data step drew
        self.system = build_system(cfg, v.gloss, v.word, v.tokenizer, restored=restored)
        self.system = D.convert_sync_batchnorm(self.system, self.dist, cfg.train.sync_bn).to(self.device)
        check_stages(cfg, self.system)
        self.optimizer = build_optimizer(self.system, cfg.train.optim)
        self.steps_per_epoch = self._steps_per_epoch()
        self.schedule = Schedule(self.optimizer, cfg.train.optim, epochs=cfg.train.epochs,
                                 steps_per_epoch=self.steps_per_epoch)
        self.amp = cfg.train.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        # bfloat16 has float32's range, so CPU autocast needs no grad scaler
        self.cpu_bf16 = self._resolve_cpu_bf16(cfg.train.cpu_bf16)
        self.evaluator = Evaluator(cfg, self.data, self.dist, self.work_dir)
        self.select = select_metric(cfg)
        self._ddp = None
        self._ddp_stage = None
        self._tb = None

        if resume_ckpt is not None:
            self._restore(resume_ckpt)
        else:
            if weights_ckpt is not None:
                ckpt_io.load_model_state(self.system, weights_ckpt.model, where=str(load_weights),
                                         ckpt_model_cfg=weights_ckpt.model_config, model_cfg=to_dict(cfg.model))
                self.log(f"loaded weights from {load_weights}")
            self._apply_inits()

    def _resolve_cpu_bf16(self, setting) -> bool:
        """train.cpu_bf16 (true / false / auto) -> whether the training forward runs under bfloat16
        autocast here; logs the choice. Only on a CPU device; `auto` turns it on only where the CPU
        has bfloat16 units, because emulated bfloat16 is many times slower than float32."""
        if not setting or self.device.type != "cpu":
            return False
        units = cpu_has_bf16()
        if setting == "auto":
            self.log(f"train.cpu_bf16: auto -> {'bfloat16' if units else 'float32'} training "
                     f"(this CPU {'has' if units else 'has no'} bfloat16 units: AVX512-BF16 / AMX)")
            return units
        if not units:
            self.log("train.cpu_bf16: this CPU has no bfloat16 units (AVX512-BF16 / AMX), so PyTorch emulates "
                     "them and training is slower than float32; set train.cpu_bf16=auto or false")
        else:
            self.log("train.cpu_bf16: true -> bfloat16 training")
        return True

    def close(self) -> None:
        """Release the work dir's lock (held since __init__, through fit and the final test)."""
        self.run_dir.release()

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------------- logging

    def log(self, msg: str) -> None:
        if not self.is_main:
            return
        print(msg, flush=True)
        if self._log_path is not None:
            with open(self._log_path, "a", encoding="utf-8") as fh:
                fh.write(msg + "\n")

    def _tensorboard(self):
        if self._tb is None and self.is_main and self.cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional
                self._tb = False
            else:
                self._tb = SummaryWriter(str(self.work_dir / "tensorboard"))
        return self._tb or None

    # ----------------------------------------------------------------------------- set-up

    def _steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (a last, incomplete accumulation group also steps)."""
        n = len(self.data.datasets["train"])
        batches = n // (self.cfg.data.batch_size * self.dist.world_size)
        steps = -(-batches // self.cfg.train.optim.accumulate)
        if self.cfg.train.max_steps_per_epoch:
            steps = min(steps, self.cfg.train.max_steps_per_epoch)
        return max(1, steps)

    def _init_checkpoint(self, i: int) -> tuple[dict, str]:
        init = self.cfg.train.init[i]
        where = f"train.init[{i}] ({init.checkpoint})"
        if not init.checkpoint or not init.prefix:
            raise CheckpointError(f"{where}: needs both checkpoint and prefix")
        if i not in self._init_ckpts:
            self._init_ckpts[i] = ckpt_io.load_checkpoint(init.checkpoint)
        return self._init_ckpts[i], where

    def _overwritten_pretrained(self, full: Optional[Checkpoint]) -> dict:
        """build_system's `restored`: the modules named for pretrained ImageNet / BERT weights whose
        weights come from a checkpoint right after building -- all of them on --resume and
        --load-weights, those a strict `train.init` entry covers otherwise (a non-strict one may
        leave some of a module's weights to the pretrained ones) -- so nothing is downloaded or read
        by name only to be overwritten."""
        from signkd.training.restore import WeightsSource, overwritten_pretrained

        if full is not None:
            sources = [WeightsSource("", "", full.model, full.architecture, str(full.path))]
        else:
            norm = lambda p: (p.rstrip(".") + ".") if p else ""  # noqa: E731  (as load_prefix)
            sources = []
            for i, init in enumerate(self.cfg.train.init):
                if not (init.strict and init.checkpoint and init.prefix):
                    continue
                ckpt, where = self._init_checkpoint(i)
                architecture = ckpt.get("architecture") if isinstance(ckpt, dict) else None
                sources.append(WeightsSource(norm(init.prefix), norm(init.source_prefix or init.prefix),
                                             ckpt_io.model_state_of(ckpt, init.checkpoint),
                                             architecture if isinstance(architecture, dict) else {}, where))
        restored = overwritten_pretrained(self.cfg, sources)
        for prefix in restored:
            name = "model.text.pretrained" if restored[prefix] is not None else "model.visual.pretrained"
            self.log(f"{name}: not loaded into {prefix.rstrip('.')} (its weights come from "
                     f"{full.path if full is not None else 'train.init'})")
        return restored

    def _init_tokenizer(self) -> Optional[dict]:
        """The tokenizer of the first `init:` checkpoint that brings a text-reading teacher, when
        data.tokenizer is empty (a WordPiece trained here would give the teacher's BERT other ids)."""
        if self.cfg.data.tokenizer:
            return None
        for i, init in enumerate(self.cfg.train.init):
            if init.prefix.startswith(TEXT_READING_MODULES):
                ckpt, where = self._init_checkpoint(i)
                files = ((ckpt.get("vocab") or {}) if isinstance(ckpt, dict) else {}).get("tokenizer")
                if files:
                    self.log(f"init: using the text tokenizer of {init.checkpoint}")
                    return files
        return None

    def _check_init_vocab(self, ckpt: dict, where: str, reads_text: bool = False) -> None:
        """A module trained with other gloss / word / word-piece ids would load without error and
        mean nothing."""
        vocab = ckpt.get("vocab") if isinstance(ckpt, dict) else None
        if not vocab:
            return
        ours = self.data.vocabs
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

    def _apply_inits(self) -> None:
        for i, init in enumerate(self.cfg.train.init):
            ckpt, where = self._init_checkpoint(i)
            self._check_init_vocab(ckpt, where, reads_text=init.prefix.startswith(TEXT_READING_MODULES))
            state = ckpt_io.model_state_of(ckpt, init.checkpoint)
            rep = ckpt_io.load_prefix(self.system, state, prefix=init.prefix, source_prefix=init.source_prefix,
                                      strict=init.strict, where=where)
            self.log(f"init: {init.prefix} <- {init.checkpoint}:{init.source_prefix or init.prefix} "
                     f"({rep['loaded']} tensors; missing {len(rep['missing'])}"
                     f"{' e.g. ' + rep['missing'][0] if rep['missing'] else ''}; unexpected {len(rep['unexpected'])}"
                     f"{' e.g. ' + rep['unexpected'][0] if rep['unexpected'] else ''})")
        self._init_ckpts.clear()

    def _checkpoint(self, metrics: dict) -> Checkpoint:
        return Checkpoint(
            path=self.work_dir / "last.pt",
            epoch=self.state.epoch,
            model={k: v.detach().cpu() for k, v in ckpt_io.unwrap(self.system).state_dict().items()},
            architecture=text_architectures(ckpt_io.unwrap(self.system)),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.schedule.state_dict(),
            scaler=self.scaler.state_dict(),
            rng=ckpt_io.capture_rng(),
            config=to_dict(self.cfg),
            vocab=self.data.vocabs.to_state(),
            preprocessing={**preprocessing_of(self.cfg, self.frame_size), "max_lengths": self.evaluator.max_lengths},
            metrics=metrics,
            trainer=self.state.to_dict(),
        )

    def _restore(self, ckpt: Checkpoint) -> None:
        ckpt_io.load_model_state(self.system, ckpt.model, where=str(ckpt.path),
                                 ckpt_model_cfg=ckpt.model_config, model_cfg=to_dict(self.cfg.model))
        try:
            self.optimizer.load_state_dict(ckpt.optimizer)
            self.schedule.load_state_dict(ckpt.scheduler)
            if ckpt.scaler:
                self.scaler.load_state_dict(ckpt.scaler)
            ckpt_io.restore_rng(ckpt.rng)
        except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
            raise CheckpointError(f"{ckpt.path}: its optimizer / scheduler / RNG state does not fit this run "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
        known = set(TrainState.__dataclass_fields__)
        for key, value in ckpt.trainer.items():
            if key in known:
                setattr(self.state, key, value)
        self.state.epoch = ckpt.epoch
        if self.is_main:
            self._reconcile_best()

    # The commit protocol of an epoch's files (a kill between any two writes loses nothing):
    #   1. a better epoch's weights go to best.next.pt (not yet the best),
    #   2. the averaging snapshot, if any,
    #   3. last.pt -- the commit point: it records the epoch and which epoch is best,
    #   4. best.next.pt is renamed to best.pt.
    # `_reconcile_best` finishes or rolls back step 4 on resume, so best.pt always holds the
    # epoch last.pt calls best, and the final test scores the right weights.

    @property
    def _best_next(self) -> Path:
        return self.work_dir / "best.next.pt"

    def _reconcile_best(self) -> None:
        best, pending = self.work_dir / "best.pt", self._best_next
        wanted = _best_key(self.state.to_dict())
        if pending.is_file():
            staged = Checkpoint.read(pending)
            if _best_key(staged.trainer) == wanted:
                os.replace(pending, best)          # committed by last.pt, not yet promoted
            else:
                pending.unlink()                   # written for an epoch last.pt never committed
        if self.state.best_epoch > 0:
            held = _best_key(Checkpoint.read(best).trainer) if best.is_file() else None
            if held != wanted:
                raise CheckpointError(f"{best}: holds {_describe_best(held)} but {self.work_dir / 'last.pt'} records "
                                      f"{_describe_best(wanted)} as the best; the run's files are inconsistent "
                                      "(copied from elsewhere?); start the run again with --force")

    # ----------------------------------------------------------------------------- training

    def _model_fn(self, stage_no: int, frozen: frozenset):
        """The loss callable: the system itself, or its DDP wrapper (rebuilt when the set of
        trained parameters changes, i.e. at a stage boundary)."""
        if not self.dist.distributed:
            return lambda batch, weights: self.system.losses(batch, weights, frozen=set(frozen))
        if self._ddp is None or self._ddp_stage != stage_no:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            # the system's forward() is its losses(), so DDP prepares gradient reduction there
            self._ddp = DDP(self.system, device_ids=ids, find_unused_parameters=True)
            self._ddp_stage = stage_no
        return lambda batch, weights: self._ddp(batch, weights, frozen=set(frozen))

    def train_epoch(self, epoch: int) -> dict:
        cfg = self.cfg
        stage_no = stage_index(cfg, epoch)
        stage = stage_at(cfg, epoch)
        trained, frozen = apply_stage(ckpt_io.unwrap(self.system), stage)
        weights = active_weights(cfg, stage, epoch)
        forward = self._model_fn(stage_no, frozenset(frozen))
        seed_everything(epoch_seed(cfg.train.seed, epoch))
        loader = train_loader(self.data.datasets["train"], cfg, self.dist, epoch)
        total_batches = len(loader)
        if cfg.train.max_steps_per_epoch:
            total_batches = min(total_batches, cfg.train.max_steps_per_epoch * cfg.train.optim.accumulate)
        accumulate = cfg.train.optim.accumulate
        params = [p for p in self.system.parameters() if p.requires_grad]
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        count = frames = nan_here = micro = nan_run = 0
        limit = cfg.train.max_nonfinite_batches
        start = time.perf_counter()
        from tqdm import tqdm

        bar = tqdm(total=total_batches, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="batch",
                   disable=not (self.is_main and cfg.train.progress), dynamic_ncols=True, mininterval=1.0,
                   leave=False, file=sys.stderr)
        for i, batch in enumerate(loader):
            if i >= total_batches:
                break
            batch = batch.to(self.device, non_blocking=True)
            last_micro = (micro + 1) % accumulate == 0 or i + 1 == total_batches
            sync = nullcontext() if (self._ddp is None or last_micro) else self._ddp.no_sync()
            with sync:
                with self._autocast():
                    terms = forward(batch, weights)
                loss = terms["total"].float()  # sum of weight x term over the active terms
                bad = D.any_true(not bool(torch.isfinite(loss.detach())), self.dist)
                if bad:
                    nan_here += 1
                    nan_run += 1
                    self._skip_backward(loss, params)
                    bar.update(1)
                    if limit and nan_run >= limit:
                        bar.close()
                        raise TrainingDiverged(
                            f"train: {nan_run} consecutive batches with a non-finite loss in epoch {epoch + 1} "
                            f"(train.max_nonfinite_batches={limit}); stopped, the last good checkpoint is "
                            f"{self.work_dir / 'last.pt'} (epoch {self.state.epoch}); lower train.optim.lr or "
                            "set train.optim.grad_clip")
                    continue
                nan_run = 0
                self.scaler.scale(loss / accumulate).backward()
            micro += 1
            if micro % accumulate == 0 or i + 1 == total_batches:
                self._optimizer_step(params)
                tb = self._tensorboard()
                if tb is not None and cfg.train.log_every and self.state.global_step % cfg.train.log_every == 0:
                    tb.add_scalar("train/step_loss", float(loss.detach()), self.state.global_step)
                    tb.add_scalar("train/lr", self.schedule.lr(), self.state.global_step)
            count += 1
            frames += int(batch.video_lengths.sum()) if batch.video_lengths is not None else 0
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for k, v in terms.items():
                if k != "total" and isinstance(v, torch.Tensor) and v.numel() == 1:
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{sums['loss'] / count:.3f}", fps=f"{frames * self.dist.world_size / elapsed:.0f}", refresh=False)
            bar.update(1)
        bar.close()
        if micro % accumulate:
            self._optimizer_step(params)
        elapsed = time.perf_counter() - start
        keys = sorted(sums)
        totals = D.sum_values([sums[k] for k in keys] + [count, frames, nan_here], self.dist)
        n = max(1.0, totals[len(keys)])
        stats = {k: totals[j] / n for j, k in enumerate(keys)}
        stats.update(batches=int(totals[len(keys)]) // self.dist.world_size, frames_per_s=totals[len(keys) + 1] / max(elapsed, 1e-9),
                     nan_skipped=int(totals[len(keys) + 2]), seconds=elapsed, lr=self.schedule.lr(),
                     stage=stage_no, trained=sorted(trained), frozen=sorted(frozen))
        self.state.nan_skipped += stats["nan_skipped"]
        return stats

    def _autocast(self):
        """Mixed precision of the training forward: float16 on CUDA (train.amp), bfloat16 on CPU
        (train.cpu_bf16), else a no-op. Evaluation always runs in float32."""
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        if self.cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return nullcontext()

    def _skip_backward(self, loss: torch.Tensor, params: list) -> None:
        """Drop a batch whose loss is NaN/Inf. Alone: no backward at all. Under DDP every rank
        skips together (consensus flag) but still runs backward, because DDP expects one per
        forward; the gradients accumulated so far are saved and put back."""
        if self._ddp is None:
            return
        saved = [None if p.grad is None else p.grad.clone() for p in params]
        loss.backward()
        for p, g in zip(params, saved):
            p.grad = g

    def _optimizer_step(self, params: list) -> None:
        clip = self.cfg.train.optim.grad_clip
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.after_step()
        self.state.global_step += 1

    # ----------------------------------------------------------------------------- the run

    def fit(self) -> dict:
        cfg = self.cfg
        start = self.state.epoch
        if start >= cfg.train.epochs:
            self.log(f"nothing to train: {start} of {cfg.train.epochs} epochs done")
        for epoch in range(start, cfg.train.epochs):
            stats = self.train_epoch(epoch)
            self.schedule.after_epoch()
            self.state.epoch = epoch + 1
            record = {"epoch": epoch + 1, "train": stats}
            msg = (f"epoch {epoch + 1}/{cfg.train.epochs} stage {stats['stage']} loss {stats.get('loss', float('nan')):.4f} "
                   f"lr {stats['lr']:.2e} {stats['frames_per_s']:.0f} frames/s {stats['seconds']:.1f}s")
            if stats["nan_skipped"]:
                msg += f" ({stats['nan_skipped']} NaN/Inf batches skipped)"
            scored = model_parts(cfg).scored
            scored_trained = bool(scored & set(stats["trained"]))
            evaluated = scored_trained and "dev" in self.data.datasets and (
                (epoch + 1) % max(1, cfg.train.eval_every) == 0 or epoch + 1 == cfg.train.epochs)
            if not scored_trained:
                msg += f" | dev not scored: {', '.join(sorted(scored))} frozen in this stage"
            improved = False
            if evaluated:
                dev = self.evaluator.evaluate(self.system, "dev", tag="dev")
                record["dev"] = dev
                score = dev.get(self.select)
                improved = score is not None and is_better(self.select, score, self.state.best_score)
                if improved:
                    self.state.best_score, self.state.best_epoch = float(score), epoch + 1
                    self.evaluator.promote_hypotheses("dev")
                msg += f" | dev {self.evaluator.summary(dev)}" + (" (best)" if improved else "")
            elif scored_trained and "dev" not in self.data.datasets:
                improved = True  # no dev split: the last epoch is the best we know
                self.state.best_epoch = epoch + 1
            self.state.history.append(record)
            self.log(msg)
            self._tb_epoch(record)
            if improved:
                self.state.averaged = []
            self._check_finite_weights(epoch + 1)
            if self.is_main:
                checkpoint = self._checkpoint({"dev": record.get("dev"), "train": stats, "epoch": epoch + 1})
                self._commit(checkpoint, improved,
                             snapshot=cfg.train.average_last > 1 and epoch + 1 > cfg.train.epochs - cfg.train.average_last)
                self.write_outputs()
            D.barrier(self.dist)
        if cfg.train.average_last > 1 and not self.state.average and "dev" in self.data.datasets \
                and self.state.epoch >= cfg.train.epochs:
            self.average_snapshots()
        result = {"best_epoch": self.state.best_epoch, "best_score": self.state.best_score, "select": self.select}
        if self.state.averaged:
            result["averaged"] = self.state.averaged
        if cfg.train.test_at_end and cfg.data.test:
            result["final"] = self.final_test()
        if self.is_main:
            self.write_outputs(final=result.get("final"))
        if self._tb:
            self._tb.close()
        return result

    def _commit(self, last: Checkpoint, improved: bool, *, snapshot: bool = False,
                best: Optional[Checkpoint] = None) -> None:
        """Write an epoch's files in the order described above `_reconcile_best`."""
        if improved:
            (best or last).save(self._best_next)
        if snapshot:
            ckpt_io.save_checkpoint(self._snapshot_path(last.epoch), {"model": last.model})
        last.save(self.work_dir / "last.pt")
        if improved:
            os.replace(self._best_next, self.work_dir / "best.pt")

    def _check_finite_weights(self, epoch: int) -> None:
        """Never checkpoint NaN/Inf weights over the last good ones."""
        bad = next((name for name, p in ckpt_io.unwrap(self.system).named_parameters()
                    if not bool(torch.isfinite(p).all())), None)
        if bad is not None:
            raise TrainingDiverged(f"train: parameter {bad} is not finite after epoch {epoch}; stopped without "
                                   f"saving it (last good checkpoint: {self.work_dir / 'last.pt'}, epoch "
                                   f"{self.state.epoch - 1}); lower train.optim.lr or set train.optim.grad_clip")

    def _snapshot_path(self, epoch: int) -> Path:
        return self.work_dir / "snapshots" / f"epoch-{epoch:03d}.pt"

    def average_snapshots(self) -> None:
        """Checkpoint averaging (as fairseq's average_checkpoints): the mean of the last
        `train.average_last` epochs' weights usually scores better than any single one for
        seq2seq models. Scored on dev like an epoch; it replaces best.pt only if it is better."""
        cfg = self.cfg
        epochs = [e for e in range(cfg.train.epochs - cfg.train.average_last + 1, cfg.train.epochs + 1)
                  if self._snapshot_path(e).is_file()]
        if len(epochs) < 2:
            self.log(f"checkpoint averaging skipped: {len(epochs)} snapshot(s) of the last {cfg.train.average_last} epochs")
            return
        states = [ckpt_io.model_state_of(ckpt_io.load_checkpoint(p), p) for p in map(self._snapshot_path, epochs)]
        averaged = {}
        for key, last in states[-1].items():
            if torch.is_floating_point(last):
                averaged[key] = sum(s[key].double() for s in states).div(len(states)).to(last.dtype)
            else:
                averaged[key] = last   # integer buffers (BatchNorm step counters): the last epoch's
        ckpt_io.load_model_state(self.system, averaged, where=f"average of epochs {epochs[0]}-{epochs[-1]}")
        dev = self.evaluator.evaluate(self.system, "dev", tag="dev")
        score = dev.get(self.select)
        improved = score is not None and is_better(self.select, score, self.state.best_score)
        self.state.average = {"epochs": epochs, "dev": dev}
        self.log(f"average of epochs {epochs[0]}-{epochs[-1]} | dev {self.evaluator.summary(dev)}"
                 + (" (best)" if improved else f" (best stays epoch {self.state.best_epoch})"))
        if improved:
            self.state.best_score, self.state.best_epoch, self.state.averaged = float(score), epochs[-1], epochs
            self.evaluator.promote_hypotheses("dev")
        if self.is_main:
            # last.pt keeps the last epoch's weights; only its record of the run (averaged, best) changes
            last = Checkpoint.read(self.work_dir / "last.pt")
            last.trainer = self.state.to_dict()
            best = None
            if improved:
                best = self._checkpoint({"dev": dev, "averaged": epochs, "epoch": epochs[-1]})
            self._commit(last, improved, best=best)
            self.write_outputs()
        D.barrier(self.dist)

    def final_test(self) -> dict:
        """Score dev and test once with best.pt (test is never used for selection)."""
        best = self.work_dir / "best.pt"
        D.barrier(self.dist)
        if best.is_file():
            ckpt_io.load_model_state(self.system, Checkpoint.read(best).model, where=str(best))
        out = {"checkpoint": str(best), "epoch": self.state.best_epoch}
        out.update(self.evaluator.evaluate_splits(self.system, ("dev", "test")))
        for split in ("dev", "test"):
            if split in out:
                self.log(f"best (epoch {self.state.best_epoch}) {split}: {self.evaluator.summary(out[split])}")
        return out

    # ----------------------------------------------------------------------------- outputs

    def _tb_epoch(self, record: dict) -> None:
        tb = self._tensorboard()
        if tb is None:
            return
        step = record["epoch"]
        for k, v in record["train"].items():
            if isinstance(v, (int, float)) and k not in ("stage",):
                tb.add_scalar(f"train/{k}", v, step)
        for k, v in (record.get("dev") or {}).items():
            if isinstance(v, (int, float)):
                tb.add_scalar(f"dev/{k}", v, step)
        tb.flush()

    def write_outputs(self, final: Optional[dict] = None) -> None:
        from signkd.training.report import write_curves, write_report_md

        metrics = {"name": self.cfg.name, "select_metric": self.select, "best_epoch": self.state.best_epoch,
                   "best_score": self.state.best_score, "best_is_average_of": self.state.averaged,
                   "average": self.state.average, "nan_skipped": self.state.nan_skipped,
                   "history": self.state.history, "data_report": self.data.report[:200]}
        if final is not None:
            metrics["final"] = final
        path = self.work_dir / "metrics.json"
        atomic_write_text(path, json.dumps(metrics, indent=1, default=_jsonable), what="metrics")
        write_curves(self.state.history, self.work_dir / "curves.png")
        write_report_md(metrics, self.cfg, self.work_dir / "report.md")


def text_architectures(system) -> dict:
    """{module prefix: BertConfig values} of the system's BERT text encoders (checkpoint `architecture`)."""
    from signkd.models.text import TextEncoder, text_architecture

    return {f"{name}.": text_architecture(m) for name, m in system.named_modules() if isinstance(m, TextEncoder)}


def _best_key(trainer: dict) -> tuple:
    """What identifies the weights best.pt must hold: the best epoch, and the epochs averaged into it."""
    return trainer.get("best_epoch"), tuple(trainer.get("averaged") or ())


def _describe_best(key) -> str:
    if key is None:
        return "nothing (missing)"
    epoch, averaged = key
    return f"the average of epochs {averaged[0]}-{averaged[-1]}" if averaged else f"epoch {epoch}"


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, float) and math.isnan(x):
        return None
    return str(x)
