"""Cross-field and range checks of a built Config that types alone cannot express."""
from __future__ import annotations

import dataclasses
import math

from signkd.config.messages import ConfigError, did_you_mean, _show, _show_key
from signkd.config.schema import MODULE_NAMES, Config
from signkd.temporal import TemporalSpec


# The dev metrics the Evaluator reports (signkd/training/evaluate.py) that `train.select_metric`
# may name: recognised glosses give WER and its parts; generated glosses (Text2Gloss) also the
# translation metrics on gloss text, prefixed gloss_; translated words the translation metrics.
GLOSS_METRICS = ("wer", "sub", "del", "ins")
TRANSLATION_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "chrf", "rouge_l")
GENERATED_GLOSS_METRICS = tuple(f"gloss_{m}" for m in TRANSLATION_METRICS)
SELECT_METRICS = GLOSS_METRICS + GENERATED_GLOSS_METRICS + TRANSLATION_METRICS


def validate(cfg: Config) -> None:
    """Cross-field and range checks that types alone cannot express. Each value checked here would
    otherwise fail only later (a ZeroDivisionError in the first epoch, a torch error without the
    key, a stage missing at epoch 40) or silently do nothing (a select_metric typo: no best.pt)."""
    for key, value in _float_values(cfg, ""):
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value}")
    for i, stage in enumerate(cfg.train.stages):
        for group in ("train", "frozen"):
            for name in getattr(stage, group):
                if name not in MODULE_NAMES:
                    raise ConfigError(f"train.stages[{i}].{group}: unknown module {_show(name)}"
                                      f"{did_you_mean(name, MODULE_NAMES)}")
    m = cfg.model
    if m.video_translator and not (m.task == "slt" and m.student):
        raise ConfigError("model.video_translator: a word-level teacher for an SLT student; needs model.task: slt "
                          "and model.student: true")
    if m.video_translator and m.gloss2text:
        raise ConfigError("model.video_translator: takes Gloss2Text's place as the translation teacher; set "
                          "model.gloss2text: false (or model.video_translator: false)")
    _at_least("train.epochs", cfg.train.epochs, 1)
    check_stage_epochs(cfg)
    _at_least("model.visual.temporal_pad_multiple", cfg.model.visual.temporal_pad_multiple, 0)
    TemporalSpec.from_config(cfg.model.visual)       # layer specs, padding mode and multiple
    d, t, o, a, e = cfg.data, cfg.train, cfg.train.optim, cfg.data.augment, cfg.eval
    for key, value, low in (("data.batch_size", d.batch_size, 1), ("data.eval_batch_size", d.eval_batch_size, 1),
                            ("data.num_workers", d.num_workers, 0), ("data.frame_interval", d.frame_interval, 1),
                            ("data.tokenizer_vocab_size", d.tokenizer_vocab_size, 1),
                            ("data.word_min_freq", d.word_min_freq, 0),
                            ("data.augment.resize", a.resize, 0), ("data.augment.crop", a.crop, 0),
                            ("data.augment.min_frames", a.min_frames, 0), ("data.augment.max_frames", a.max_frames, 0),
                            ("train.eval_every", t.eval_every, 1), ("train.average_last", t.average_last, 0),
                            ("train.max_steps_per_epoch", t.max_steps_per_epoch, 0),
                            ("train.log_every", t.log_every, 0), ("train.num_threads", t.num_threads, 0),
                            ("train.optim.accumulate", o.accumulate, 1),
                            ("train.optim.warmup_epochs", o.warmup_epochs, 0),
                            ("eval.beam_width", e.beam_width, 1), ("eval.translation_beam", e.translation_beam, 1)):
        _at_least(key, value, low)
    if a.resize > 0 and a.crop > a.resize:
        raise ConfigError(f"data.augment.crop: {a.crop} is larger than data.augment.resize {a.resize}; "
                          f"expected crop <= resize (or resize 0)")
    if 0 < a.max_frames < a.min_frames:
        raise ConfigError(f"data.augment.max_frames: {a.max_frames} is below data.augment.min_frames "
                          f"{a.min_frames}; expected max_frames >= min_frames (or 0 = no limit)")
    for key, value in (("train.optim.lr", o.lr), ("train.optim.gamma", o.gamma),
                       ("loss.temperature", cfg.loss.temperature), ("loss.dist_temperature", cfg.loss.dist_temperature),
                       *((f"loss.temperatures.{k}", v) for k, v in cfg.loss.temperatures.items()),
                       ("eval.max_output_factor", e.max_output_factor)):
        if not value > 0:
            raise ConfigError(f"{key}: expected a number > 0, got {value}")
    for key, value in (("train.optim.weight_decay", o.weight_decay), ("train.optim.grad_clip", o.grad_clip),
                       ("loss.rdrop", cfg.loss.rdrop)):
        if value < 0:
            raise ConfigError(f"{key}: expected a number >= 0 (0 = off), got {value}")
    for prefix, factor in o.lr_multipliers.items():
        if factor < 0:
            raise ConfigError(f"train.optim.lr_multipliers.{_show_key(prefix)}: expected a factor >= 0, got {factor}")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise ConfigError(f"train.optim.betas: expected two values in [0, 1), got {_show(o.betas)}")
    if not 0 <= a.flip <= 1:
        raise ConfigError(f"data.augment.flip: expected a probability in [0, 1], got {a.flip}")
    if not 0 <= a.temporal_rescale < 1:
        raise ConfigError(f"data.augment.temporal_rescale: expected a ratio in [0, 1), got {a.temporal_rescale}")
    for name in ("mean", "std"):
        values = getattr(a, name)
        if len(values) != 3:
            raise ConfigError(f"data.augment.{name}: expected 3 values (R, G, B), got {len(values)}")
    if not all(v > 0 for v in a.std):
        raise ConfigError(f"data.augment.std: expected 3 values > 0, got {_show(a.std)}")
    if not 0 <= cfg.loss.label_smoothing < 1:
        raise ConfigError(f"loss.label_smoothing: expected a value in [0, 1), got {cfg.loss.label_smoothing}")
    for key, value in _dropout_fields(cfg.model, "model"):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key}: expected a probability in [0, 1), got {value}")
    if cfg.train.max_nonfinite_batches < 0:
        raise ConfigError(f"train.max_nonfinite_batches: must be >= 0 (0 = never stop), got {cfg.train.max_nonfinite_batches}")
    if t.select_metric and t.select_metric not in SELECT_METRICS:
        raise ConfigError(f"train.select_metric: {_show(t.select_metric)} is not a dev metric the evaluator "
                          f"reports{did_you_mean(t.select_metric, SELECT_METRICS)} (or leave it empty: by task)")


def check_stage_epochs(cfg: Config) -> None:
    """The stages cover every epoch 0 .. train.epochs-1 exactly once, in order: each until_epoch
    (exclusive) is > 0 and above the previous one, only the last stage may leave it empty, and a
    last stage with one reaches train.epochs. Checked when the config is loaded rather than when
    the first uncovered epoch comes (possibly days into a run)."""
    stages = cfg.train.stages
    if not stages:
        raise ConfigError("train.stages: at least one stage is needed")
    previous = 0
    for i, stage in enumerate(stages):
        end = stage.until_epoch
        if end is None:
            if i != len(stages) - 1:
                raise ConfigError(f"train.stages[{i}].until_epoch: only the last stage may leave it empty "
                                  f"(stages after it would never run)")
            continue
        if end <= previous:
            raise ConfigError(f"train.stages[{i}].until_epoch: expected an epoch > {previous}"
                              + (" (the previous stage's until_epoch); until_epoch values must increase" if i else "")
                              + f", got {end}")
        previous = end
    last = stages[-1].until_epoch
    if last is not None and last < cfg.train.epochs:
        raise ConfigError(f"train.stages[{len(stages) - 1}].until_epoch: the last stage ends at epoch {last} but "
                          f"train.epochs is {cfg.train.epochs}; leave its until_epoch empty or raise it")


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}: expected an integer >= {low}, got {value}")


def _float_values(node, prefix: str):
    """(dotted key, value) of every float anywhere in a config (fields, list items, mapping
    values, loss-weight schedules), for the finiteness check."""
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _float_values(getattr(node, f.name), f"{prefix}.{f.name}" if prefix else f.name)
    elif isinstance(node, float):
        yield prefix, node
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _float_values(item, f"{prefix}[{i}]")
    elif isinstance(node, dict):
        for k, item in node.items():
            yield from _float_values(item, f"{prefix}.{_show_key(k)}")


def _dropout_fields(node, prefix: str):
    """(dotted key, value) of every `*dropout` field under a config dataclass, so a new dropout
    field is range-checked without being listed here (torch would reject a value outside [0, 1]
    only at model build time, without naming the key, and would train with 1.0 on all-zero input)."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            yield from _dropout_fields(value, f"{prefix}.{f.name}")
        elif f.name.endswith("dropout"):
            yield f"{prefix}.{f.name}", value
