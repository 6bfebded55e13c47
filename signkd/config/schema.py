"""The config schema: one dataclass per section, with its defaults and what each field means.
`signkd.config.convert` builds them from plain data, checking every key and type against these
annotations; `signkd.config.validation` checks ranges and cross-field rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Union



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
    format: str = "phoenix2014t"     # a format of signkd/data/corpus_formats.py, checked by check_config_format
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
    # "removed": every sample's dialogue context is read as empty ([CLS] [SEP]), so a dialogue
    # teacher sees no text: the controls that show a distillation gain comes from the text.
    dialogue_context: Literal["given", "removed"] = "given"


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
    # The original's numerics, for imported teachers (signkd import original --part dialogue-teacher);
    # the defaults are signkd's own fusion:
    norm_eps: float = 1.0e-12        # LayerNorm epsilon of the fusion (the original: 1e-5)
    text_positions: bool = False     # the original also added the position table (+ its LayerNorm) to the text
    text_attends_padding: bool = False   # the original's transposed mask: text queries attend padded frames too


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
    # target embedding: "scaled" = token x sqrt(H); "bert" = the original's BertEmbeddings, LayerNorm(token +
    # learned position, eps 1e-5) (for imported teachers); both then add the sinusoidal positions
    embedding: Literal["scaled", "bert"] = "scaled"


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
    # A video-only translator (the SLT student's own architecture, trained as one) in Gloss2Text's
    # place as the SLT student's word-level teacher: the self-distillation control that tells what
    # Gloss2Text distillation owes to the glosses Gloss2Text reads (SLT only; not beside gloss2text).
    video_translator: bool = False
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    teacher_decoder: DecoderConfig = field(default_factory=DecoderConfig)
    text_teacher_encoder: Seq2SeqEncoderConfig = field(default_factory=Seq2SeqEncoderConfig)
    feature_projection: bool = True  # learned student->teacher projection in feature losses
    feature_normalize: bool = False  # L2-normalise both sides of the feature loss


# The model parts a config may have (ModelConfig flags; stages train and freeze them by these names).
MODULE_NAMES = ("student", "dialogue_teacher", "text2gloss", "gloss2text", "video_translator")


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
