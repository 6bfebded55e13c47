"""Typed, validated configuration: defaults < YAML file < ``--set a.b=c`` overrides.

Why hand-rolled on dataclasses: we need one-line errors that name the offending key *and* the
closest valid key (``model.sequence.kindd: unknown key; did you mean 'kind'?``), alias support for
the original research code's loss names, and YAML ``base:`` composition, with no extra dependency.

A YAML file may start with ``base: other.yaml`` (a path relative to the file); its values are
merged over the base's, recursively for mappings.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from signkd.errors import SignkdError


class ConfigError(SignkdError, ValueError):
    """A config problem, always one line naming the key."""


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

CORPUS_FORMATS = ("phoenix2014", "phoenix2014t", "dialogue-phoenix", "csl-daily", "synthetic")


@dataclass
class AugmentConfig:
    """Train-time augmentation as in the original (VAC): one random crop for the whole clip,
    a horizontal flip of the whole clip, temporal rescaling. Test time uses a centre crop."""
    resize: int = 256                # frames are resized to resize x resize (0 = keep)
    keep_aspect: bool = False        # resize the short side to `resize` instead (no distortion)
    crop: int = 224                  # random crop (train) / centre crop (eval); 0 = none
    flip: float = 0.5                # probability of flipping the whole clip
    temporal_rescale: float = 0.2    # new length = len * U(1-r, 1+r)
    min_frames: int = 0              # lower clamp after temporal rescale (original: 32)
    max_frames: int = 0              # upper clamp after temporal rescale (original: 230); 0 = none
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])  # x/127.5-1 as the original


@dataclass
class DataConfig:
    format: Literal["phoenix2014", "phoenix2014t", "dialogue-phoenix", "csl-daily", "synthetic"] = "phoenix2014t"
    root: str = ""                   # corpus root as its authors ship it
    annotations: str = ""            # annotation file/dir override (lets text-only jobs run without frames)
    dialogue: str = ""               # dir with dialogue-PHOENIX `<split>.txt` context files
    frames: str = ""                 # frame folder override, e.g. features/fullFrame-256x256px
    cache: str = ""                  # packed cache written by `signkd prepare` (preferred when set)
    train: str = "train"             # split name or a path to an annotation file
    dev: str = "dev"
    test: str = "test"
    frame_interval: int = 1          # keep every n-th frame
    skip_bad: bool = False           # skip malformed samples (recorded in a report) instead of failing
    batch_size: int = 2
    eval_batch_size: int = 2
    num_workers: int = 2
    bucket_by_length: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # text side
    tokenizer: str = ""              # BERT tokenizer name/path; empty = train a WordPiece one offline
    tokenizer_vocab_size: int = 8000
    lowercase_translation: bool = True
    word_min_freq: int = 1           # words seen fewer times in train map to <unk>


@dataclass
class VisualConfig:
    backbone: Literal["resnet18", "small"] = "resnet18"
    pretrained: str = ""             # "", "imagenet" (downloads torchvision weights) or a file path
    small_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    temporal: list[str] = field(default_factory=lambda: ["K5", "P2", "K5"])
    hidden: int = 768
    dropout: float = 0.0


@dataclass
class SequenceConfig:
    kind: Literal["bilstm", "transformer"] = "bilstm"
    layers: int = 2
    heads: int = 8
    ff: int = 2048
    dropout: float = 0.3


@dataclass
class TextEncoderConfig:
    """BERT text stream. ``pretrained`` names a Hugging Face model or path; empty builds a
    randomly initialised BertModel of the given geometry (offline and tiny use)."""
    pretrained: str = ""
    layers: int = 0                  # BERT layers kept; 0 = embeddings only (as the original)
    hidden: int = 768
    heads: int = 12
    ff: int = 3072
    max_positions: int = 512
    dropout: float = 0.1


@dataclass
class FusionConfig:
    kind: Literal["hybrid", "concat"] = "hybrid"
    layers: int = 3
    heads: int = 12
    ff: int = 3072
    dropout: float = 0.1
    matching_head: bool = True
    on: Literal["sequence", "conv"] = "sequence"   # sign features fused: sequence-encoder output or temporal-conv output
    max_positions: int = 512         # learned video position table of the fusion encoder


@dataclass
class DecoderConfig:
    layers: int = 3
    heads: int = 8
    ff: int = 2048
    dropout: float = 0.1
    emb_dropout: float = 0.1
    # word dropout on the decoder's input tokens: a whole token embedding is zeroed with this
    # probability while training (the next word must then come from the source, not the prefix)
    token_dropout: float = 0.0
    memory: Literal["both", "video", "all"] = "both"   # dialogue SLT teacher: what the decoder attends to
    tie_embeddings: bool = False


@dataclass
class Seq2SeqEncoderConfig:
    """Encoder of a text teacher (Text2Gloss over BERT tokens, Gloss2Text over gloss ids)."""
    layers: int = 2
    heads: int = 12
    ff: int = 3072
    dropout: float = 0.1
    # Gloss2Text: a gloss spelled like a target word (lower-cased) also adds that word's decoder
    # embedding to its own, so what the two vocabularies share (places, numbers, weather words:
    # glosses are German words) is learned once and is easy to copy.
    share_word_embeddings: bool = False
    # word dropout on the source tokens (glosses, or the sentence's word pieces for Text2Gloss): a
    # whole token embedding is zeroed with this probability while training, the usual
    # low-resource NMT regulariser (Sennrich & Zhang 2019)
    token_dropout: float = 0.0


@dataclass
class ModelConfig:
    task: Literal["slr", "slt"] = "slr"
    hidden: int = 768
    num_classes: int = 0             # filled from the vocabulary at build time (0 = infer)
    visual: VisualConfig = field(default_factory=VisualConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    # The dialogue teacher's own sign-encoder sequence model; unset = the same as `sequence`. Lets a
    # BiLSTM student and a Transformer student distil from one teacher checkpoint.
    teacher_sequence: Optional[SequenceConfig] = None
    decoder: DecoderConfig = field(default_factory=DecoderConfig)   # SLT student decoder
    # which models exist in this experiment
    student: bool = True
    dialogue_teacher: bool = False
    text2gloss: bool = False
    gloss2text: bool = False
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    teacher_decoder: DecoderConfig = field(default_factory=DecoderConfig)
    text_teacher_encoder: Seq2SeqEncoderConfig = field(default_factory=Seq2SeqEncoderConfig)
    feature_projection: bool = True  # learned student->teacher projection in feature losses
    feature_normalize: bool = False  # L2-normalise both sides of the feature loss


# Canonical loss names (DESIGN.md section 4) and the original code's aliases.
LOSS_NAMES = (
    "ConvCTCSign", "SeqCTCSign", "Dist",
    "DistFusion2SLR", "FeatureFusion2SLR",
    "DistTranslation2SLR", "FeatureTranslation2SLR",
    "TranslationCrossEntropy", "TranslationToGlossCrossEntropy",
    "DialogueCTC", "DialogueSignCTC", "MatchingLoss",
    "DialogueTranslationCrossEntropy",   # trains the SLT dialogue teacher's word decoder
)
# The terms through which a student learns from a teacher; "Dist" is the student's own VAC
# self-distillation and not one of them.
TEACHER_TERMS = ("DistFusion2SLR", "FeatureFusion2SLR", "DistTranslation2SLR", "FeatureTranslation2SLR")
LOSS_ALIASES = {
    "DistFusion2SLRFeature": "FeatureFusion2SLR",
    "DistTranslation2SLRFeature": "FeatureTranslation2SLR",
    "TranslationGlossCrossEntropy": "TranslationToGlossCrossEntropy",
}

# A weight is a constant or a piecewise-constant schedule {first_epoch: value, ...}.
Weight = Union[float, dict[int, float]]


@dataclass
class LossConfig:
    weights: dict[str, Weight] = field(default_factory=lambda: {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "Dist": 25.0})
    temperature: float = 8.0
    drop_blank: bool = True          # KL without the blank / pad column, as the original
    label_smoothing: float = 0.0
    # R-Drop for the text teachers (TranslationToGlossCrossEntropy): each batch runs twice with other
    # dropout masks; loss = mean of the two cross-entropies + rdrop x their symmetric KL. 0 = off.
    rdrop: float = 0.0
    alignment: Literal["forced", "peaks"] = "forced"


@dataclass
class StageConfig:
    until_epoch: Optional[int] = None   # exclusive; None = to the end
    train: list[str] = field(default_factory=lambda: ["student"])
    frozen: list[str] = field(default_factory=list)


@dataclass
class InitConfig:
    """Load `prefix` of this model from `checkpoint` (optionally renaming a source prefix)."""
    checkpoint: str = ""
    prefix: str = ""                 # target module prefix in this model, e.g. "dialogue_teacher."
    source_prefix: str = ""          # prefix in the checkpoint; default = same as `prefix`
    strict: bool = True


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.998])
    lr_multipliers: dict[str, float] = field(default_factory=dict)  # module prefix -> factor ("difflr")
    scheduler: Literal["multistep", "cosine", "none"] = "multistep"
    milestones: list[int] = field(default_factory=lambda: [40, 60])
    gamma: float = 0.2
    warmup_epochs: int = 0
    grad_clip: float = 0.0
    accumulate: int = 1


@dataclass
class TrainConfig:
    epochs: int = 80
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    amp: bool = True                 # float16 autocast + grad scaler, only on CUDA
    cpu_bf16: bool = False           # bfloat16 autocast of the training forward on CPU: ~1.5x per step on CPUs
                                     # with AVX512-BF16/AMX (weights, optimizer and losses stay float32)
    sync_bn: bool = False
    eval_every: int = 1
    select_metric: str = ""          # "wer" (lower better) / "bleu4"; empty = by task
    log_every: int = 50
    optim: OptimConfig = field(default_factory=OptimConfig)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    init: list[InitConfig] = field(default_factory=list)
    max_steps_per_epoch: int = 0     # 0 = full epoch (tests use small numbers)
    test_at_end: bool = True         # score the test split once, with best.pt, after the last epoch
    tensorboard: bool = True         # write TensorBoard logs when tensorboard is installed
    progress: bool = True            # tqdm progress bars
    num_threads: int = 0             # torch intra-op threads per process; 0 = PyTorch's default
    average_last: int = 0            # >1: average the weights of the last N epochs; kept as best.pt if better on dev
    max_nonfinite_batches: int = 20  # stop after this many consecutive NaN/Inf losses (a diverged run); 0 = never


@dataclass
class EvalConfig:
    cleanup: Literal["phoenix2014", "phoenix2014t", "csl-daily", "none", "auto"] = "auto"
    ctc_decoder: Literal["greedy", "beam"] = "beam"
    beam_width: int = 10
    translation_beam: int = 1
    length_penalty: float = 1.0
    max_output_factor: float = 1.5   # max output length = factor x longest training target
    scorer: Literal["python", "sclite"] = "python"
    char_level: bool = False         # BLEU/ROUGE on characters (Chinese)


@dataclass
class Config:
    name: str = "experiment"
    work_dir: str = "runs/experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def _closest(name: str, options) -> str:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys: {', '.join(sorted(options))}"


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp, key: str):
    """Check/convert `value` against annotation `tp`; raise a one-line ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return _build(tp, value, key)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, args))}, got {value!r}"
                              + (_closest(str(value), [str(a) for a in args]) if isinstance(value, str) else ""))
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return {_convert(k, args[0], f"{key} (key {k!r})"): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type {tp}")


def _build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key is True and "on" in fields:
            key = "on"   # YAML 1.1 reads a bare `on:` key as the boolean true
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise ConfigError(f"{full}: unknown key{_closest(str(key), fields)}")
        kwargs[key] = _convert(value, hints[key], full)
    obj = cls(**kwargs)
    if cls is LossConfig:
        obj.weights = normalize_loss_weights(obj.weights, f"{prefix}.weights" if prefix else "weights")
    return obj


def normalize_loss_weights(weights: dict, key: str = "loss.weights") -> dict:
    """Map the original's aliases to canonical names; reject unknown names with a suggestion."""
    out: dict = {}
    for name, w in weights.items():
        canonical = LOSS_ALIASES.get(name, name)
        if canonical not in LOSS_NAMES:
            raise ConfigError(f"{key}.{name}: unknown loss{_closest(name, list(LOSS_NAMES) + list(LOSS_ALIASES))}")
        if canonical in out:
            raise ConfigError(f"{key}.{name}: given twice (as '{canonical}' and an alias)")
        if isinstance(w, dict):
            for epoch in w:
                if epoch < 0:
                    raise ConfigError(f"{key}.{name}: schedule epochs must be >= 0, got {epoch}")
        out[canonical] = w
    return out


def weight_at(weight: Weight, epoch: int) -> float:
    """Value of a constant or piecewise-constant ({first_epoch: value}) weight at `epoch`."""
    if not isinstance(weight, dict):
        return float(weight)
    value = 0.0
    for start in sorted(weight):
        if epoch >= start:
            value = float(weight[start])
    return value


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "weights":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | Path, _seen: tuple = ()) -> dict:
    """Read a YAML config, resolving `base:` chains (relative to the file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: circular 'base:' chain")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base:
        data = _deep_merge(read_yaml(path.parent / base, _seen + (path.resolve(),)), data)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (['a','b','c'], parsed YAML value)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key=value, e.g. train.epochs=10")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}: malformed key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    data = dict(data)
    for text in overrides or []:
        parts, value = parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def from_dict(data: dict) -> Config:
    return _build(Config, data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """defaults < YAML file (with `base:` chain) < `--set` overrides, validated."""
    data = read_yaml(path) if path else {}
    data = apply_overrides(data, overrides)
    cfg = from_dict(data)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    for i, stage in enumerate(cfg.train.stages):
        for group in ("train", "frozen"):
            for name in getattr(stage, group):
                if name not in MODULE_NAMES:
                    raise ConfigError(f"train.stages[{i}].{group}: unknown module {name!r}{_closest(name, MODULE_NAMES)}")
    ends = [s.until_epoch for s in cfg.train.stages if s.until_epoch is not None]
    if ends != sorted(ends):
        raise ConfigError("train.stages: until_epoch values must increase")
    for spec in cfg.model.visual.temporal:
        parse_temporal_spec(spec)
    if cfg.train.optim.accumulate < 1:
        raise ConfigError(f"train.optim.accumulate: must be >= 1, got {cfg.train.optim.accumulate}")
    if cfg.loss.temperature <= 0:
        raise ConfigError(f"loss.temperature: must be > 0, got {cfg.loss.temperature}")
    if not 0 <= cfg.loss.label_smoothing < 1:
        raise ConfigError(f"loss.label_smoothing: expected a value in [0, 1), got {cfg.loss.label_smoothing}")
    for key, value in _dropout_fields(cfg.model, "model"):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key}: expected a probability in [0, 1), got {value}")
    if cfg.train.max_nonfinite_batches < 0:
        raise ConfigError(f"train.max_nonfinite_batches: must be >= 0 (0 = never stop), got {cfg.train.max_nonfinite_batches}")
    if cfg.loss.rdrop < 0:
        raise ConfigError(f"loss.rdrop: must be >= 0 (0 = off), got {cfg.loss.rdrop}")


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


MODULE_NAMES = ("student", "dialogue_teacher", "text2gloss", "gloss2text")


def parse_temporal_spec(spec: str) -> tuple[str, int]:
    """'K5' -> ('K', 5) (Conv1d kernel 5), 'P2' -> ('P', 2) (MaxPool 2)."""
    if len(spec) < 2 or spec[0] not in "KP" or not spec[1:].isdigit() or int(spec[1:]) < 1:
        raise ConfigError(f"model.visual.temporal: {spec!r} is not a layer spec like 'K5' or 'P2'")
    return spec[0], int(spec[1:])


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
