"""Samples -> padded `Batch` objects: the Dataset, its collate function, a length-bucketed batch
sampler that shards global batches over DDP ranks, and the CTC-feasibility filter.

Why shard *global* batches: with N processes of batch b, the sampler first forms the same
batches of N*b indices a single process of batch N*b would see, then gives rank r its slice.
So a 2-process run and a 1-process run with the same global batch train on the same data
in the same order (see tests/training/test_ddp.py for what still differs).

Why a bad sample travels as an item instead of an exception: with `data.skip_bad`, a sample whose
frames turn out unreadable mid-epoch (a corrupt frame, a packed file that fails its checksum) must
not end the run; `__getitem__` returns a marker, `Collate` leaves it out of the batch and lists it
in `batch.extra["skipped"]`, and the loader (signkd/training/data.py) records it in the report.
That works the same in DataLoader workers, whose exceptions would otherwise end the epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from signkd.data.batch import Batch, pad_sequences
from signkd.data.report import skip_record
from signkd.data.augment import ClipTransform, sample_rng
from signkd.data.packed_cache import FrameSource, cache_key
from signkd.data.video import FrameError
from signkd.data.vocab import WordVocab
from signkd.errors import DataError


# --------------------------------------------------------------------------------------------
# CTC feasibility
# --------------------------------------------------------------------------------------------

def ctc_min_steps(labels: Sequence[int]) -> int:
    """CTC needs one output step per label plus one blank between equal neighbours."""
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
    return len(labels) + repeats


def min_frames_for(steps: int, output_length: Callable[[int], int], limit: int = 1 << 16) -> int:
    """Smallest frame count whose temporal-conv output has at least `steps` steps
    (`output_length`: `signkd.temporal.TemporalSpec.output_length` of the model)."""
    lo, hi = 1, 1
    while output_length(hi) < steps:
        hi *= 2
        if hi > limit:
            return limit
    while lo < hi:  # output_length is monotone in the frame count
        mid = (lo + hi) // 2
        if output_length(mid) >= steps:
            hi = mid
        else:
            lo = mid + 1
    return lo


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------

@dataclass
class Encoded:
    """One sample with every id sequence precomputed (so __getitem__ only reads frames)."""
    id: str
    key: str                  # packed-cache key `<split>/<id>`
    frames: str
    frame_glob: str
    num_frames: int           # after frame_interval; 0 when video is not used
    glosses: list[int]
    words: list[int] = field(default_factory=list)
    ctx: list[int] = field(default_factory=list)
    trans: list[int] = field(default_factory=list)
    min_frames: int = 1       # the temporal rescale never goes below this (keeps CTC feasible)


def normalise_translation(text: str, lowercase: bool) -> str:
    return " ".join(text.lower().split()) if lowercase else " ".join(text.split())


class SignDataset(Dataset):
    """Items are dicts of precomputed ids plus, when a frame source is given, the clip tensor
    (T, 3, h, w). Call `set_epoch(e)` before each epoch: augmentation is drawn from
    (seed, epoch, index) so it is reproducible whatever the workers and ranks.
    `skip_bad`: a sample whose frames cannot be read becomes a {"skipped": record} item (see the
    module docstring) instead of a FrameError naming it. `report`: where the loader records those."""

    def __init__(self, samples, *, gloss_vocab, word_vocab=None, tokenizer=None,
                 frame_source: Optional[FrameSource] = None, transform: Optional[ClipTransform] = None,
                 seed: int = 0, lowercase_translation: bool = True, max_text_tokens: int = 512,
                 frame_counts: Optional[Sequence[int]] = None, skip_bad: bool = False, report=None):
        self.samples = list(samples)
        self.skip_bad = skip_bad
        self.report = report
        self.frame_source = frame_source
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self.gloss_vocab = gloss_vocab
        counts = list(frame_counts) if frame_counts is not None else None
        translations = [normalise_translation(s.translation, lowercase_translation) for s in self.samples]
        ctx_ids = trans_ids = None
        if tokenizer is not None and self.samples:
            kw = dict(truncation=True, max_length=max_text_tokens, add_special_tokens=True)
            ctx_ids = tokenizer([s.context for s in self.samples], **kw)["input_ids"]
            trans_ids = tokenizer([s.translation for s in self.samples], **kw)["input_ids"]
        self.items: list[Encoded] = []
        for i, s in enumerate(self.samples):
            key = cache_key(s.split, s.id)
            n = 0
            if frame_source is not None:
                n = counts[i] if counts is not None else frame_source.num_frames(key, s.frames, s.frame_glob)
            self.items.append(Encoded(
                id=s.id, key=key, frames=s.frames, frame_glob=getattr(s, "frame_glob", "*.png"), num_frames=n,
                glosses=gloss_vocab.encode(s.glosses, where=s.id),
                words=word_vocab.encode(translations[i]) if word_vocab is not None else [],
                ctx=list(ctx_ids[i]) if ctx_ids is not None else [],
                trans=list(trans_ids[i]) if trans_ids is not None else []))

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def lengths(self) -> list[int]:
        """Sort key for bucketing: frames when video is used, else text length."""
        return [it.num_frames if self.frame_source is not None else max(len(it.glosses), len(it.words), len(it.trans))
                for it in self.items]

    def filter(self, keep: Sequence[bool]) -> "SignDataset":
        """Drop items in place (keeps `samples` and `items` aligned); returns self."""
        self.samples = [s for s, k in zip(self.samples, keep) if k]
        self.items = [it for it, k in zip(self.items, keep) if k]
        return self

    def __getitem__(self, index: int) -> dict:
        it = self.items[index]
        out = {"index": index, "id": it.id, "glosses": it.glosses, "words": it.words, "ctx": it.ctx,
               "trans": it.trans, "video": None}
        if self.frame_source is not None:
            train = self.transform is not None and self.transform.train
            rng = sample_rng(self.seed, self.epoch, index) if train else None
            indices = self.transform.frame_indices(it.num_frames, rng, it.min_frames) if self.transform else None
            try:
                frames = self.frame_source.read(it.key, it.frames, it.frame_glob, indices)
                if frames.shape[0] == 0:
                    raise FrameError(f"{it.frames}: no frames left", it.frames)
            except FrameError as exc:
                if not self.skip_bad:
                    raise FrameError(f"sample '{it.key}': {exc}", exc.file) from None
                split = self.samples[index].split
                return {"index": index, "id": it.id, "skipped": skip_record(split, it.id, exc.file, None, str(exc))}
            out["video"] = self.transform(frames, rng) if self.transform else torch.from_numpy(frames)
        return out


def filter_ctc_feasible(dataset: SignDataset, output_length: Callable[[int], int], *, split: str = "train",
                        report: Optional[list] = None, records: Optional[list] = None) -> list[str]:
    """Drop samples CTC cannot align (no known gloss, or fewer temporal-conv steps than their
    glosses need) and record each in `report` (a line) and `records` (a skip record); set every
    kept sample's minimum clip length so the temporal rescale cannot make it infeasible.
    Returns the dropped ids."""
    keep, dropped = [], []
    for it in dataset.items:
        need = ctc_min_steps(it.glosses)
        if not it.glosses:
            reason = "no gloss of the vocabulary"
        elif dataset.frame_source is not None and output_length(it.num_frames) < need:
            reason = f"{it.num_frames} frames give {output_length(it.num_frames)} CTC steps, {need} needed"
        else:
            reason = ""
            it.min_frames = min_frames_for(need, output_length) if dataset.frame_source is not None else 1
        keep.append(not reason)
        if reason:
            dropped.append(it.id)
            if report is not None:
                report.append(f"{split}/{it.id}: left out, {reason}")
            if records is not None:
                records.append(skip_record(split, it.id, it.frames, None, f"CTC-infeasible: {reason}"))
    dataset.filter(keep)
    return dropped


# --------------------------------------------------------------------------------------------
# Collation
# --------------------------------------------------------------------------------------------

def _with_ends(seqs: list[list[int]], bos: int, eos: int):
    dec_in, _ = pad_sequences([[bos] + s for s in seqs])
    dec_out, lengths = pad_sequences([s + [eos] for s in seqs])
    return dec_in, dec_out, lengths


@dataclass
class Collate:
    """Items -> a padded `Batch`; picklable, so DataLoader workers can run it. The gloss <s>/</s>
    are the run's GlossVocab's (they follow its size); the word ones are WordVocab's, read when a
    Collate is made so there is one source of them."""
    gloss_bos: int
    gloss_eos: int
    word_bos: int = field(default_factory=lambda: WordVocab.bos)
    word_eos: int = field(default_factory=lambda: WordVocab.eos)

    def __call__(self, items: list[dict]) -> Batch:
        skipped = [x["skipped"] for x in items if "skipped" in x]
        items = [x for x in items if "skipped" not in x]
        if not items:   # every sample of the batch was left out: an empty batch carries the records
            return Batch(ids=[], extra={"skipped": skipped})
        batch = self._collate(items)
        if skipped:
            batch.extra["skipped"] = skipped
        return batch

    def _collate(self, items: list[dict]) -> Batch:
        has_video = items[0]["video"] is not None
        if has_video:  # longest first, as the original (and packed LSTMs) like it
            items = sorted(items, key=lambda x: -x["video"].shape[0])
        batch = Batch(ids=[x["id"] for x in items])
        batch.extra["index"] = torch.tensor([x["index"] for x in items], dtype=torch.long)
        if has_video:
            lengths = torch.tensor([x["video"].shape[0] for x in items], dtype=torch.long)
            first = items[0]["video"]
            video = first.new_zeros((len(items), int(lengths.max()), *first.shape[1:]))  # (B, T, 3, H, W)
            for i, x in enumerate(items):
                video[i, : x["video"].shape[0]] = x["video"]
            batch.video, batch.video_lengths = video, lengths
        glosses = [x["glosses"] for x in items]
        batch.glosses, batch.gloss_lengths = pad_sequences(glosses)
        batch.gloss_in, batch.gloss_out, _ = _with_ends(glosses, self.gloss_bos, self.gloss_eos)
        if any(x["words"] for x in items):
            batch.dec_in, batch.dec_out, batch.dec_lengths = _with_ends([x["words"] for x in items],
                                                                        self.word_bos, self.word_eos)
        if any(x["ctx"] for x in items):
            batch.ctx_ids, batch.ctx_lengths = pad_sequences([x["ctx"] for x in items])
        if any(x["trans"] for x in items):
            batch.trans_ids, batch.trans_lengths = pad_sequences([x["trans"] for x in items])
        return batch


# --------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------

class BucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar length. Each epoch: a permutation from (seed, epoch), cut into
    pools of `pool` global batches, each pool sorted by length and cut into global batches of
    batch_size * num_replicas, batch order shuffled; rank r takes slice r of every global batch.
    With `bucket=False` the pools are not sorted (plain shuffled batches). With `sampler=` (e.g.
    torch's DistributedSampler) the indices come from it and are bucketed per rank instead."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, drop_last: bool = True,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0, bucket: bool = True, pool: int = 50,
                 sampler: Optional[Sampler] = None):
        if batch_size < 1:
            raise DataError(f"data.batch_size: expected >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle, self.drop_last, self.bucket = shuffle, drop_last, bucket
        self.seed, self.num_replicas, self.rank, self.pool = seed, num_replicas, rank, pool
        self.epoch = 0
        # An index sampler (e.g. torch's DistributedSampler) may supply this rank's indices instead;
        # they are then bucketed locally (ranks no longer see slices of common global batches).
        self.sampler = sampler
        if sampler is not None:
            self.num_replicas, self.rank = 1, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _global_batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch])
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
            n = len(order)
        else:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
        size = self.batch_size * self.num_replicas
        batches = []
        step = size * self.pool
        for start in range(0, n, step):
            chunk = order[start: start + step]
            if self.bucket:
                chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i: i + size] for i in range(0, len(chunk), size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == size]
        elif batches and len(batches[-1]) < self.num_replicas:
            batches = batches[:-1]  # every rank needs at least one sample of every batch
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches():
            per = math.ceil(len(batch) / self.num_replicas)
            yield batch[self.rank * per: (self.rank + 1) * per].tolist()

    def __len__(self) -> int:
        return len(self._global_batches())


def eval_batches(lengths: Sequence[int], batch_size: int, *, rank: int = 0, num_replicas: int = 1) -> list[list[int]]:
    """Deterministic evaluation batches: indices sorted by length (longest first), rank r takes
    every num_replicas-th, cut into batches. Each sample is scored exactly once over all ranks
    (unlike DistributedSampler, which repeats samples to even out the ranks)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")[rank::num_replicas]
    return [order[i: i + batch_size].tolist() for i in range(0, len(order), batch_size)]
