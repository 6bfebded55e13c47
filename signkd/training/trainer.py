"""The training loop: stages, loss schedules, optimisation, checkpoints, DDP, evaluation.

Reproducibility contract (tests/test_checkpoint.py): on CPU with `train.deterministic: true`
and `data.num_workers: 0`, 2 epochs straight and 1 epoch + `--resume` + 1 epoch give bit-identical
weights. What makes it hold: every epoch reseeds the global RNGs from (seed, epoch); batch order
and augmentation are pure functions of (seed, epoch, index); the checkpoint carries optimizer,
scheduler, scaler and RNG states as well as the model.

Beside the loop: start-up (resume, --load-weights, `init:`, vocabularies) in startup.py, the files
an epoch commits in epoch_files.py, its statistics in epoch_stats.py, the run's record and seeding
in run_state.py, its outputs in report.py.
"""
from __future__ import annotations

import functools
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import torch

from signkd.config import Config, dump_yaml, to_dict
from signkd.errors import TrainingDiverged
from signkd.hardware import cpu_description, cpu_has_bf16
from signkd.models.parts import model_parts
from signkd import checkpoint as ckpt_io
from signkd.checkpoint import Checkpoint
from signkd.training import distributed as D
from signkd.training import run_dir as run_dirs
from signkd.training import startup
from signkd.data.preprocessing import preprocessing_of
from signkd.training.data import DataBundle, build_data, frame_size_of, train_loader, write_report
from signkd.training.epoch_files import EpochFiles
from signkd.training.epoch_stats import EpochTally
from signkd.training.evaluate import Evaluator, is_better, select_metric
from signkd.training.optimizer import Schedule, build_optimizer
from signkd.training.report import TensorBoard, write_run_outputs
from signkd.training.run_state import TrainState, epoch_seed, seed_everything, set_deterministic
from signkd.training.stages import active_weights, apply_stage, check_stages, stage_at, stage_index


# curves.png is redrawn at most this often while training (and always when it ends)
CURVES_EVERY_S = 30.0


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

        # start-up in the order signkd/training/startup.py describes
        start = startup.read_start(cfg, self.work_dir, resume=resume, load_weights=load_weights, force=force,
                                   log=self.log)
        vocabs, tokenizer_files = startup.resolve_vocabs(cfg, self.work_dir, self.dist, start, self.log)
        roles = ("train", "dev") if cfg.data.dev else ("train",)
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
        restored = startup.overwritten_pretrained(cfg, start, self.log)
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
        self.files = EpochFiles(self.work_dir)
        self._curves_drawn: Optional[float] = None   # time.monotonic() of the last curves.png
        self._ddp = None
        self._ddp_stage = None
        self.tensorboard = TensorBoard(self.work_dir / "tensorboard", self.is_main and cfg.train.tensorboard)

        if start.resume is not None:
            startup.resume_training(start.resume, self.system, self.optimizer, self.schedule, self.scaler, cfg)
            self.state = TrainState.from_checkpoint(start.resume.trainer, start.resume.epoch)
            if self.is_main:
                self.files.reconcile_best(self.state.to_dict())
        else:
            startup.warm_start(self.system, cfg, start, self.data.vocabs, self.log)

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

    # ----------------------------------------------------------------------------- set-up

    def _steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (a last, incomplete accumulation group also steps)."""
        n = len(self.data.datasets["train"])
        batches = n // (self.cfg.data.batch_size * self.dist.world_size)
        steps = -(-batches // self.cfg.train.optim.accumulate)
        if self.cfg.train.max_steps_per_epoch:
            steps = min(steps, self.cfg.train.max_steps_per_epoch)
        return max(1, steps)

    def _checkpoint(self, metrics: dict) -> Checkpoint:
        return Checkpoint(
            path=self.files.last,
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
        tally = EpochTally()
        micro = nan_run = 0
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
                    tally.nan_skipped += 1
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
                self.tensorboard.step(self.state.global_step, loss, self.schedule.lr, every=cfg.train.log_every)
            tally.add(loss, terms, int(batch.video_lengths.sum()) if batch.video_lengths is not None else 0)
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{tally.mean_loss():.3f}", fps=f"{tally.frames * self.dist.world_size / elapsed:.0f}",
                            refresh=False)
            bar.update(1)
        bar.close()
        if micro % accumulate:
            self._optimizer_step(params)
        stats = tally.reduce(self.dist, seconds=time.perf_counter() - start)
        stats.update(lr=self.schedule.lr(), stage=stage_no, trained=sorted(trained), frozen=sorted(frozen))
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
            self.tensorboard.epoch(record)
            if improved:
                self.state.averaged = []
            self._check_finite_weights(epoch + 1)
            if self.is_main:
                checkpoint = self._checkpoint({"dev": record.get("dev"), "train": stats, "epoch": epoch + 1})
                snapshot = cfg.train.average_last > 1 and epoch + 1 > cfg.train.epochs - cfg.train.average_last
                self.files.commit(checkpoint, improved, snapshot=snapshot)
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
            self.write_outputs(final=result.get("final"), done=True)
        self.tensorboard.close()
        return result

    def _check_finite_weights(self, epoch: int) -> None:
        """Never checkpoint NaN/Inf weights over the last good ones."""
        bad = next((name for name, p in ckpt_io.unwrap(self.system).named_parameters()
                    if not bool(torch.isfinite(p).all())), None)
        if bad is not None:
            raise TrainingDiverged(f"train: parameter {bad} is not finite after epoch {epoch}; stopped without "
                                   f"saving it (last good checkpoint: {self.work_dir / 'last.pt'}, epoch "
                                   f"{self.state.epoch - 1}); lower train.optim.lr or set train.optim.grad_clip")

    def average_snapshots(self) -> None:
        """Checkpoint averaging (as fairseq's average_checkpoints): the mean of the last
        `train.average_last` epochs' weights usually scores better than any single one for
        seq2seq models. Scored on dev like an epoch; it replaces best.pt only if it is better."""
        cfg = self.cfg
        epochs = [e for e in range(cfg.train.epochs - cfg.train.average_last + 1, cfg.train.epochs + 1)
                  if self.files.snapshot(e).is_file()]
        if len(epochs) < 2:
            self.log(f"checkpoint averaging skipped: {len(epochs)} snapshot(s) of the last {cfg.train.average_last} epochs")
            return
        averaged = self.files.averaged_snapshots(epochs)
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
            last = Checkpoint.read(self.files.last)
            last.trainer = self.state.to_dict()
            best = None
            if improved:
                best = self._checkpoint({"dev": dev, "averaged": epochs, "epoch": epochs[-1]})
            self.files.commit(last, improved, best=best)
            self.write_outputs()
        D.barrier(self.dist)

    def final_test(self) -> dict:
        """Score dev and test once with best.pt (test is never used for selection)."""
        best = self.files.best
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

    @functools.cached_property
    def machine(self) -> dict:
        """Which machine measured this run: the same seed gives other numbers on other CPU kernels
        (AVX2 vs AVX512) or another GPU, so metrics.json names it. Read once, at the first write."""
        machine = {"device": str(self.device), "cpu": cpu_description(torch.backends.cpu.get_cpu_capability()),
                   "torch": torch.__version__, "threads": torch.get_num_threads()}
        if self.device.type == "cuda":
            machine["gpu"] = torch.cuda.get_device_name(self.device)
        return machine

    def write_outputs(self, final: Optional[dict] = None, *, done: bool = False) -> None:
        """metrics.json and report.md of the run so far (rank 0), and curves.png when the run is
        `done` or CURVES_EVERY_S have passed since it was drawn: drawing it takes matplotlib about
        0.2 s, a few percent of a small model's epoch (the demo's stages have 20-60 of them)."""
        metrics = {"name": self.cfg.name, "select_metric": self.select, "best_epoch": self.state.best_epoch,
                   "best_score": self.state.best_score, "best_is_average_of": self.state.averaged,
                   "average": self.state.average, "nan_skipped": self.state.nan_skipped,
                   "history": self.state.history, "data_report": self.data.report[:200],
                   "machine": self.machine}
        if final is not None:
            metrics["final"] = final
        now = time.monotonic()
        curves = done or self._curves_drawn is None or now - self._curves_drawn >= CURVES_EVERY_S
        if curves:
            self._curves_drawn = now
        write_run_outputs(self.work_dir, self.cfg, metrics, curves=curves)


def text_architectures(system) -> dict:
    """{module prefix: BertConfig values} of the system's BERT text encoders (checkpoint `architecture`)."""
    from signkd.models.text import TextEncoder, text_architecture

    return {f"{name}.": text_architecture(m) for name, m in system.named_modules() if isinstance(m, TextEncoder)}
