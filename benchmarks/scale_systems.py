"""The original's configs as bench_scale.py and gpu_smoke.py measure them: each built from its
shipped config with random weights (ImageNet / BERT weights change no cost; BERT's geometry is
kept) in the stage it trains longest (the last: for the 2-teacher students both teachers frozen
and every distillation term on), and batches of random clips with PHOENIX-2014-T's sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {   # name -> the original's config it measures
    "VAC baseline (BiLSTM)": "configs/dialogue_phoenix/vac_baseline.yaml",
    "dialogue teacher (SLR)": "configs/dialogue_phoenix/teacher_slr_bilstm.yaml",
    "2-teacher SLR student, BiLSTM": "configs/dialogue_phoenix/student_slr_2teacher_bilstm.yaml",
    "2-teacher SLR student, Transformer": "configs/dialogue_phoenix/student_slr_2teacher_transformer.yaml",
    "2-teacher SLT student, BiLSTM": "configs/dialogue_phoenix/student_slt_2teacher_bilstm.yaml",
}
GLOSSES = 1085          # PHOENIX-2014-T's gloss vocabulary (+ blank = 1,086 classes)
WORDS = 2887            # its German vocabulary
BERT_VOCAB = 30000      # bert-base-german-cased
# PHOENIX-2014-T (Camgoz et al., Neural Sign Language Translation, CVPR 2018, table 1)
TRAIN_VIDEOS, TRAIN_FRAMES = 7_096, 827_354          # 116.6 frames a clip: the batches' 117
DEV_VIDEOS, DEV_FRAMES = 519, 55_775                 # 107.5 frames a clip
ALL_VIDEOS, ALL_FRAMES = 8_257, 827_354 + 55_775 + 64_627
# a model small enough for tests and the --tiny smoke run (same code path, seconds on a CPU)
TINY_OVERRIDES = ["model.hidden=32", "model.visual.backbone=small", "model.visual.small_channels=[8,16,32]",
                  "model.visual.hidden=32", "model.text.hidden=32", "model.text.ff=64", "model.text.heads=2",
                  "model.fusion.layers=1", "model.fusion.heads=2", "model.fusion.ff=64",
                  "model.decoder={layers: 1, heads: 2, ff: 64, dropout: 0.0, emb_dropout: 0.0}",
                  "model.teacher_decoder={layers: 1, heads: 2, ff: 64, dropout: 0.0, emb_dropout: 0.0}",
                  "model.text_teacher_encoder={layers: 1, heads: 2, ff: 64, dropout: 0.0}",
                  "data.augment.crop=32", "data.augment.resize=36"]


class SizedTokenizer:
    """build_system reads only the tokenizer's size."""

    def __init__(self, size: int = BERT_VOCAB):
        self.size = size

    def __len__(self) -> int:
        return self.size


@dataclass
class Vocab:
    glosses: int = GLOSSES
    words: int = WORDS
    text: int = BERT_VOCAB


TINY_VOCAB = Vocab(glosses=20, words=30, text=100)


@dataclass
class Measured:
    """A config's system in its last stage, ready to step."""
    name: str
    cfg: object
    system: object
    trained: set
    frozen: set
    weights: dict               # the loss weights of that stage
    gloss_vocab: object


def build(name: str, *, vocab: Vocab = Vocab(), overrides: tuple = ()) -> Measured:
    import torch

    from signkd.config import load_config
    from signkd.data.vocab import GlossVocab, WordVocab
    from signkd.models.build import build_system
    from signkd.training.stages import active_weights, apply_stage

    cfg = load_config(REPO / CONFIGS[name], ["model.visual.pretrained=", "model.text.pretrained=", "train.init=[]",
                                             *overrides])
    stage = cfg.train.stages[-1]
    epoch = max([s.until_epoch for s in cfg.train.stages[:-1] if s.until_epoch] or [0])
    gloss_vocab = GlossVocab([f"G{i:04d}" for i in range(vocab.glosses)])
    word_vocab = WordVocab([f"w{i}" for i in range(vocab.words)])
    torch.manual_seed(0)
    system = build_system(cfg, gloss_vocab, word_vocab, SizedTokenizer(vocab.text))
    trained, frozen = apply_stage(system, stage)
    return Measured(name, cfg, system, trained, frozen, active_weights(cfg, stage, epoch), gloss_vocab)


def make_batch(cfg, frames: int, generator, vocab: Vocab = Vocab(), glosses_per_clip: int = 12, size: int = 0):
    """A batch of cfg.data.batch_size random clips of `frames` frames at the config's crop (or
    `size`), with random glosses, words, context and translation of PHOENIX-like lengths."""
    import torch

    from signkd.data.batch import Batch, pad_sequences

    b, size = cfg.data.batch_size, size or cfg.data.augment.crop
    lengths = [frames] * b
    gloss_seqs = [[int(g) for g in torch.randint(1, vocab.glosses + 1, (glosses_per_clip,), generator=generator)]
                  for _ in range(b)]
    word_seqs = [[int(w) for w in torch.randint(4, vocab.words, (14,), generator=generator)] for _ in range(b)]
    text = [[2] + [int(t) for t in torch.randint(5, vocab.text, (20,), generator=generator)] + [3] for _ in range(b)]
    c = vocab.glosses + 1
    gl, gl_len = pad_sequences(gloss_seqs)
    gin, _ = pad_sequences([[c] + s for s in gloss_seqs])
    gout, _ = pad_sequences([s + [c + 1] for s in gloss_seqs])
    din, d_len = pad_sequences([[1] + s for s in word_seqs])
    dout, _ = pad_sequences([s + [2] for s in word_seqs])
    tx, tx_len = pad_sequences(text)
    video = torch.randn(b, frames, 3, size, size, generator=generator)
    return Batch(ids=[f"clip{i}" for i in range(b)], video=video, video_lengths=torch.tensor(lengths), glosses=gl,
                 gloss_lengths=gl_len, gloss_in=gin, gloss_out=gout, dec_in=din, dec_out=dout, dec_lengths=d_len,
                 ctx_ids=tx, ctx_lengths=tx_len, trans_ids=tx, trans_lengths=tx_len)


def student_encoder(system):
    """The module whose (B, T', C) `seq_logits` the evaluation decodes (None: no student)."""
    if system.student is None:
        return None
    return system.student.encoder if system.is_slt else system.student
