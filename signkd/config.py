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
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from signkd.errors import SignkdError


class ConfigError(SignkdError, ValueError):
    """A config problem, always one line naming the key (non-printable characters from the file
    are escaped by SignkdError)."""


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 4
_SHORT.maxlevel = 3


def _show(value) -> str:
    """A bounded repr for error messages: a value built from YAML aliases can expand to billions
    of items, and a plain repr of it would never finish."""
    try:
        return _SHORT.repr(value)
    except (ValueError, OverflowError):   # e.g. an int past Python's 4300-digit str() limit
        return f"<{type(value).__name__}>"


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

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
    format: str = "phoenix2014t"     # a format of signkd/data/corpus_formats.py, checked when the corpus is read
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
    # Edge padding of every clip before the temporal conv, as the original (VAC's collate): "vac" =
    # (R - S) // 2 copies of the first frame on the left and copies of the last frame up to
    # ceil(l / M) * M + R - S frames (R, S: receptive field and stride of `temporal`, M =
    # temporal_pad_multiple or S; 6 and ceil(l/4)*4 + 12 for K5-P2-K5-P2), so a clip of l >= 1
    # frames gives ceil(l / S) steps (M = S) and its first and last glosses as many steps as the
    # middle ones. "none": no padding (a clip then needs at least R frames). Applied in the model,
    # to the frame-CNN features (signkd/models/visual.py TemporalEdgePad says why).
    temporal_pad: Literal["vac", "none"] = "vac"
    # M above, a multiple of the stride S; 0 = S. The original's distillation code kept VAC's
    # collate (M = 4) under a K5-P2-K5 conv (S = 2): 4 reproduces its ceil(l/4)*4 + 12 exactly.
    temporal_pad_multiple: int = 0
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
    "DialogueCTC", "DialogueSignCTC", "DialogueSignDist", "MatchingLoss",
    "DialogueTranslationCrossEntropy",   # trains the SLT dialogue teacher's word decoder
)
# The temperature-KL terms (signkd.losses.kd_kl_loss), and among them VAC's self-distillation terms,
# which take loss.dist_temperature instead of loss.temperature.
KL_TERMS = ("Dist", "DialogueSignDist", "DistFusion2SLR", "DistTranslation2SLR")
SELF_DISTILLATION_TERMS = ("Dist", "DialogueSignDist")
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
    # Temperatures of the KL terms (all T^2 * KL(teacher || student) at temperature T, as the
    # original's SeqKD): `temperature` for the teacher -> student terms (DistFusion2SLR,
    # DistTranslation2SLR), `dist_temperature` for VAC's self-distillation (Dist), which the original
    # ran at 8 whatever the teachers used; `temperatures` overrides either per term, and `t2_factor`
    # ({term: false}) drops a term's T^2 multiplier.
    temperature: float = 8.0
    dist_temperature: float = 8.0
    temperatures: dict[str, float] = field(default_factory=dict)
    t2_factor: dict[str, bool] = field(default_factory=dict)
    drop_blank: bool = True          # KL without the blank / pad column, as the original
    label_smoothing: float = 0.0
    # The SLT student's word cross-entropy (TranslationCrossEntropy): "token_mean", the mean per real
    # token, or "batch_sum", the original's (signjoey's XentLoss): summed over every real token of the
    # batch, ~30x the mean next to the batch-mean CTCs and 25 x Dist -- the weighting the original's
    # results come from. (The text teachers' cross-entropy trains modules of their own, where Adam
    # makes the scale moot, so it stays a mean.)
    translation_reduction: Literal["token_mean", "batch_sum"] = "token_mean"
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
    # bfloat16 autocast of the training forward on CPU (weights, optimizer and losses stay float32):
    # ~1.5x per step on CPUs with AVX512-BF16 / AMX, ~14x *slower* where PyTorch emulates it. "auto" =
    # on only where the CPU has the units (what shipped configs use: a recipe must not depend on one CPU)
    cpu_bf16: Union[bool, Literal["auto"]] = False
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
    # the side the clean-up rules apply to: the hypotheses only (the original, via VAC's evaluation,
    # and RWTH's scripts) or both hypotheses and references (signjoey, on PHOENIX-2014-T)
    cleanup_side: Literal["hyp", "both"] = "hyp"
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
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {_show(value)}")
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
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got {_show(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, args))}, got {_show(value)}"
                              + (_closest(str(value), [str(a) for a in args]) if isinstance(value, str) else ""))
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {_show(value)}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {_show(value)}")
        return {_convert(k, args[0], f"{key} (key {_show(k)})"): _convert(v, args[1], f"{key}.{_show_key(k)}")
                for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and len(value) < 100 and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
    if tp is float:
        # no bool (true would silently become 1.0) and no bytes; strings are allowed because
        # YAML 1.1 reads `1e-4` (no dot) as a string
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except (ValueError, OverflowError):
                pass
        raise ConfigError(f"{key}: expected a number, got {_show(value)}")
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {_show(value)}")
        try:
            return str(value)
        except ValueError:   # an int past Python's 4300-digit str() limit
            raise ConfigError(f"{key}: expected a string, got {_show(value)}") from None
    raise ConfigError(f"{key}: unsupported type {tp}")


def _show_key(key) -> str:
    """A mapping key as it appears in a dotted name (keys may be ints, None, dates, long text)."""
    text = key if isinstance(key, str) else _show(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key is True and "on" in fields:
            key = "on"   # YAML 1.1 reads a bare `on:` key as the boolean true
        full = f"{prefix}.{_show_key(key)}" if prefix else _show_key(key)
        if not isinstance(key, str) or key not in fields:
            raise ConfigError(f"{full}: unknown key{_closest(_show_key(key), fields)}")
        kwargs[key] = _convert(value, hints[key], full)
    obj = cls(**kwargs)
    if cls is LossConfig:
        obj.weights = normalize_loss_weights(obj.weights, f"{prefix}.weights" if prefix else "weights")
        loss = f"{prefix}." if prefix else ""
        obj.temperatures = _kl_term_keys(obj.temperatures, f"{loss}temperatures")
        obj.t2_factor = _kl_term_keys(obj.t2_factor, f"{loss}t2_factor")
    return obj


def _kl_term_keys(mapping: dict, key: str) -> dict:
    """A per-term mapping of loss.temperatures / loss.t2_factor with the original's aliases mapped
    to canonical names; a name that is not a KL term is refused with the valid ones."""
    out = {}
    for name, value in mapping.items():
        canonical = LOSS_ALIASES.get(name, name)
        if canonical not in KL_TERMS:
            raise ConfigError(f"{key}.{_show_key(name)}: not a temperature-KL loss term; expected one of "
                              f"{', '.join(KL_TERMS)}")
        out[canonical] = value
    return out


def normalize_loss_weights(weights: dict, key: str = "loss.weights") -> dict:
    """Map the original's aliases to canonical names; reject unknown names with a suggestion, and
    weights that are negative or not finite (a negative weight would train the model to make that
    loss worse; a NaN one turns every parameter into NaN at the first step)."""
    out: dict = {}
    for name, w in weights.items():
        where = f"{key}.{_show_key(name)}"
        canonical = LOSS_ALIASES.get(name, name)
        if canonical not in LOSS_NAMES:
            raise ConfigError(f"{where}: unknown loss{_closest(name, list(LOSS_NAMES) + list(LOSS_ALIASES))}")
        if canonical in out:
            raise ConfigError(f"{where}: given twice (as '{canonical}' and an alias)")
        for epoch, value in (w.items() if isinstance(w, dict) else [(None, w)]):
            if epoch is not None and epoch < 0:
                raise ConfigError(f"{where}: schedule epochs must be >= 0, got {epoch}")
            if not (math.isfinite(value) and value >= 0):
                at = "" if epoch is None else f" (from epoch {epoch})"
                raise ConfigError(f"{where}: expected a finite weight >= 0{at}, got {value}")
        out[canonical] = w
    return out


def kl_temperature(loss: "LossConfig", term: str) -> tuple[float, bool]:
    """(temperature T, whether to multiply by T^2) of KL term `term` (a name of KL_TERMS)."""
    default = loss.dist_temperature if term in SELF_DISTILLATION_TERMS else loss.temperature
    return loss.temperatures.get(term, default), loss.t2_factor.get(term, True)


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


# Limits on what a config file may hold. Real configs are a few KiB with a few hundred values
# nested at most six deep; the limits only stop pathological input: a huge file, deep nesting
# (the YAML composer recurses), or YAML aliases that expand to billions of values ("billion
# laughs": safe_load shares the aliased nodes, but merging, converting or printing them walks
# every expanded path).
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 32
MAX_BASE_CHAIN = 16

# What yaml.safe_load raises besides YAMLError on bad input: ValueError for an impossible date
# (2020-13-01) or an int past Python's 4300-digit limit, RecursionError for deep nesting.
_YAML_FAILURES = (yaml.YAMLError, ValueError, OverflowError, RecursionError)


def check_size(data, where: str) -> None:
    """Refuse a loaded YAML value with more than MAX_CONFIG_VALUES values once aliases are
    expanded, or nested deeper than MAX_CONFIG_DEPTH. Stops counting at the limit, so the check
    itself is cheap on a bomb."""
    count, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"{where}: more than {MAX_CONFIG_VALUES} values (with YAML aliases expanded); "
                              f"expected a config")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_CONFIG_DEPTH} levels deep; expected a config")
        if isinstance(node, dict):
            items = node.values()
        elif isinstance(node, (list, tuple, set, frozenset)):
            items = node
        else:
            continue
        if len(items) > MAX_CONFIG_VALUES:
            raise ConfigError(f"{where}: more than {MAX_CONFIG_VALUES} values; expected a config")
        stack.extend((child, depth + 1) for child in items)


def read_yaml(path: str | Path, _seen: tuple = ()) -> dict:
    """Read a YAML config, resolving `base:` chains (relative to the file).

    The file is untrusted input (configs are shared): only yaml.safe_load reads it, it must be
    UTF-8 (a BOM is fine) and within the limits above, and `base:` must name another such file."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        if path.resolve() in _seen:
            raise ConfigError(f"{path}: circular 'base:' chain")
        if len(_seen) >= MAX_BASE_CHAIN:
            raise ConfigError(f"{path}: 'base:' chain longer than {MAX_BASE_CHAIN} files")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; expected a YAML config")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:   # exc.object is the input after a BOM
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (bad byte 0x{exc.object[exc.start]:02x}); "
                          f"expected a YAML config") from None
    try:
        data = yaml.safe_load(text)
    except yaml.reader.ReaderError as exc:   # a character YAML does not allow (NUL, most controls)
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(f"{path}:{line}: invalid YAML (character {char} is not allowed)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML (nested too deeply)") from None
    except (ValueError, OverflowError) as exc:
        raise ConfigError(f"{path}: invalid YAML value ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    check_size(data, str(path))
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base: expected the file name of another YAML config, got {_show(base)}")
    return _deep_merge(read_yaml(path.parent / base, _seen + (path.resolve(),)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (['a','b','c'], parsed YAML value). A value that is not valid YAML is
    taken as the literal string (`--set name=a: b`)."""
    if "=" not in text:
        raise ConfigError(f"--set {_show(text)}: expected key=value, e.g. train.epochs=10")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {_show(text)}: malformed key {_show(key)}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except _YAML_FAILURES:
        value = raw
    check_size(value, f"--set {_show_key(key)}")
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
    """Build a Config from plain data (a YAML file's, or the one stored in a checkpoint)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping, got {type(data).__name__}")
    check_size(data, "config")
    return _build(Config, data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """defaults < YAML file (with `base:` chain) < `--set` overrides, validated."""
    data = read_yaml(path) if path else {}
    data = apply_overrides(data, overrides)
    cfg = from_dict(data)
    validate(cfg)
    return cfg


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
                                      f"{_closest(name, MODULE_NAMES)}")
    _at_least("train.epochs", cfg.train.epochs, 1)
    check_stage_epochs(cfg)
    for spec in cfg.model.visual.temporal:
        parse_temporal_spec(spec)
    _at_least("model.visual.temporal_pad_multiple", cfg.model.visual.temporal_pad_multiple, 0)
    temporal_padding(cfg.model.visual.temporal, cfg.model.visual.temporal_pad, cfg.model.visual.temporal_pad_multiple)
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
                          f"reports{_closest(t.select_metric, SELECT_METRICS)} (or leave it empty: by task)")


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


MODULE_NAMES = ("student", "dialogue_teacher", "text2gloss", "gloss2text")


def parse_temporal_spec(spec: str) -> tuple[str, int]:
    """'K5' -> ('K', 5) (Conv1d kernel 5), 'P2' -> ('P', 2) (MaxPool 2)."""
    if not isinstance(spec, str) or not re.fullmatch(r"[KP][0-9]{1,4}", spec) or int(spec[1:]) < 1:
        raise ConfigError(f"model.visual.temporal: {_show(spec)} is not a layer spec like 'K5' or 'P2'")
    return spec[0], int(spec[1:])


def temporal_geometry(specs) -> tuple[int, int]:
    """(stride S, receptive field R) in frames of a temporal spec list (['K5', 'P2', ...] or parsed
    pairs): output step t of the conv stack sees input frames [t*S, t*S + R)."""
    stride, field_ = 1, 1
    for spec in specs:
        kind, size = parse_temporal_spec(spec) if isinstance(spec, str) else spec
        field_ += (size - 1) * stride
        if kind == "P":
            stride *= size
    return stride, field_


def temporal_padding(specs, mode: str, multiple: int = 0) -> tuple[int, int, int]:
    """(left, overhang, multiple) of model.visual.temporal_pad for a temporal spec list: a clip of
    l frames becomes `left` copies of its first frame, the clip, then copies of its last frame up
    to ceil(l / multiple) * multiple + overhang frames. overhang = R - S (what the receptive field
    R reaches beyond the stride S), left = overhang // 2: half of it on each side, so step t is
    centred on frames [t*S, (t+1)*S) of the clip; multiple = `multiple` or S. "none": (0, 0, 1)."""
    if mode == "none":
        return 0, 0, 1
    if mode != "vac":
        raise ConfigError(f"model.visual.temporal_pad: expected 'vac' or 'none', got {_show(mode)}")
    stride, field_ = temporal_geometry(specs)
    multiple = multiple or stride
    if multiple < 0 or multiple % stride:
        raise ConfigError(f"model.visual.temporal_pad_multiple: {multiple} is not a multiple of the temporal "
                          f"conv's stride {stride} (model.visual.temporal); use 0 (= the stride) or a multiple")
    overhang = field_ - stride
    return overhang // 2, overhang, multiple


def padded_length(frames: int, specs, mode: str, multiple: int = 0) -> int:
    """Frames a clip of `frames` frames has after model.visual.temporal_pad (0 stays 0: there is
    no frame to copy)."""
    left, overhang, multiple = temporal_padding(specs, mode, multiple)
    if mode == "none" or frames <= 0:
        return frames
    return -(-frames // multiple) * multiple + overhang


def upgrade_stored_config(data: dict) -> dict:
    """A config stored in a checkpoint, with the fields whose default changed meaning set to what
    runs saved before them did: a stored config holds every field of its time, so a missing one was
    not there yet. model.visual.temporal_pad absent: "none" (those runs did not pad);
    loss.dist_temperature absent: loss.temperature (their Dist used the one shared temperature)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    model = out.get("model")
    if isinstance(model, dict) and isinstance(model.get("visual"), dict) and "temporal_pad" not in model["visual"]:
        out["model"] = {**model, "visual": {**model["visual"], "temporal_pad": "none", "temporal_pad_multiple": 0}}
    loss = out.get("loss")
    if isinstance(loss, dict) and "dist_temperature" not in loss and "temperature" in loss:
        out["loss"] = {**loss, "dist_temperature": loss["temperature"]}
    return out


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
