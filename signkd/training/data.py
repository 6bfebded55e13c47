"""From `cfg.data` to datasets and loaders: read the splits, build (or restore) the vocabularies
and the text tokenizer, wire the frame source and augmentation, filter CTC-infeasible samples.

Vocabularies come from the train split only (the original leaked dev/test words). A run that
resumes or evaluates a checkpoint takes them from the checkpoint instead, so ids never move.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from signkd.config import Config, ConfigError
from signkd.data.batching import (BucketBatchSampler, Collate, SignDataset, eval_batches, filter_ctc_feasible,
                                  normalise_translation)
from signkd.data.report import REPORT_NAME, SkipReport, record_line, skip_record
from signkd.data.augment import ClipTransform
from signkd.data.packed_cache import FrameSource, PackedCache, cache_key
from signkd.data.video import FrameError
from signkd.data.vocab import Vocabs
from signkd.errors import DataError, SignkdError
from signkd.models.parts import model_parts
from signkd.temporal import TemporalSpec
from signkd.training.distributed import DistInfo


def _pack_folder(folder: Path) -> dict:
    return {p.name: torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8).clone()
            for p in sorted(folder.iterdir()) if p.is_file()}


def read_split(cfg: Config, role: str, report: list) -> list:
    """Samples of the split configured as data.<role> (a split name or an annotation file);
    with data.skip_bad, the bad ones are left out and their skip records appended to `report`."""
    from signkd.data.corpora import read_corpus

    d = cfg.data
    where = getattr(d, role)
    if not where:
        return []
    return read_corpus(d.format, d.root, where, annotations=d.annotations, dialogue=d.dialogue, frames=d.frames,
                       skip_bad=d.skip_bad, check_frames=model_parts(cfg).reads_video, report=report)


def build_vocabs(cfg: Config, train_samples: list, work_dir: Path, *, tokenizer_files: Optional[dict] = None) -> Vocabs:
    """Vocabularies from the train split; `tokenizer_files` (from a teacher checkpoint) replace
    training a new WordPiece, so a loaded teacher's BERT ids keep their meaning."""
    from signkd.data.vocab import GlossVocab, WordVocab, build_text_tokenizer

    if not train_samples:
        raise DataError(f"data.train: no training samples in {cfg.data.root or cfg.data.annotations}")
    gloss = GlossVocab.from_samples(train_samples)
    word = None
    parts = model_parts(cfg)
    if parts.writes_words:
        word = WordVocab.from_sentences([normalise_translation(s.translation, cfg.data.lowercase_translation)
                                         for s in train_samples], min_freq=cfg.data.word_min_freq)
    tokenizer, files = None, {}
    if parts.reads_text and tokenizer_files:
        restored = Vocabs.from_state({"gloss": gloss.to_dict(), "tokenizer": tokenizer_files}, work_dir)
        tokenizer, files = restored.tokenizer, restored.tokenizer_files
    elif parts.reads_text:
        folder = Path(work_dir) / "tokenizer"
        texts = [t for s in train_samples for t in (s.context, s.translation) if t]
        tokenizer = build_text_tokenizer(cfg.data.tokenizer, texts, cfg.data.tokenizer_vocab_size, folder)
        files = _pack_folder(folder)
    return Vocabs(gloss, word, tokenizer, files)


def vocabs_from_train_split(cfg: Config, work_dir: Path, *, tokenizer_files: Optional[dict] = None) -> Vocabs:
    return build_vocabs(cfg, read_split(cfg, "train", []), work_dir, tokenizer_files=tokenizer_files)


def frame_size_of(ds, tries: int = 8) -> Optional[list]:
    """[H, W] of the first readable frame among a dataset's first samples (None without video, or
    when none of them reads: a bad sample is the data checks' business, not this probe's)."""
    if ds.frame_source is None:
        return None
    for it in ds.items[:tries]:
        try:
            frame = ds.frame_source.read(it.key, it.frames, it.frame_glob, np.array([0]))
        except DataError:
            continue
        return list(frame.shape[1:3])
    return None


def frame_source(cfg: Config) -> FrameSource:
    a = cfg.data.augment
    cache = None
    if cfg.data.cache:
        cache = PackedCache(cfg.data.cache)
        if a.resize and (cache.size != a.resize or cache.keep_aspect != a.keep_aspect):
            raise ConfigError(f"data.cache: {cfg.data.cache} was packed at size {cache.size} "
                              f"(keep_aspect={cache.keep_aspect}) but data.augment asks for {a.resize} "
                              f"(keep_aspect={a.keep_aspect}); re-run `signkd prepare` or change data.augment")
    return FrameSource(cache, size=a.resize, keep_aspect=a.keep_aspect, frame_interval=cfg.data.frame_interval)


@dataclass
class DataBundle:
    vocabs: Vocabs
    datasets: dict          # role -> SignDataset
    samples: dict           # role -> list[Sample] (everything read, incl. filtered-out train samples)
    report: list            # human-readable lines: skipped, filtered, unknown tokens


def build_data(cfg: Config, work_dir: Path, *, roles=("train", "dev"), vocabs: Optional[Vocabs] = None,
               tokenizer_files: Optional[dict] = None, log=print) -> DataBundle:
    """Read `roles`, build or take the vocabularies, check every sample's frames cheaply (see
    `FrameSource.probe`) and make the datasets. Every sample left out (bad annotation or frames
    under data.skip_bad, CTC-infeasible) is a line of `report` and a record of data_report.json
    in `work_dir` (written by rank 0; mid-epoch finds are added by the loaders)."""
    from signkd.data.corpus_reader import split_name

    report: list = []
    records: dict = {role: [] for role in roles}
    samples = {}
    for role in roles:
        samples[role] = read_split(cfg, role, records[role])
    if vocabs is None:
        extra: list = []
        train = samples.get("train") if "train" in samples else read_split(cfg, "train", extra)
        report += [record_line(r) for r in extra]
        vocabs = build_vocabs(cfg, train, work_dir, tokenizer_files=tokenizer_files)
    video = model_parts(cfg).reads_video
    source = frame_source(cfg) if video else None
    skips = SkipReport(Path(work_dir) / REPORT_NAME)
    out_len = TemporalSpec.from_config(cfg.model.visual).output_length
    datasets = {}
    for role, split_samples in samples.items():
        train = role == "train"
        name = split_name(getattr(cfg.data, role, "") or role)
        counts = None
        if source is not None:
            split_samples, counts = _probe_frames(source, split_samples, name, cfg.data.skip_bad, records[role])
            samples[role] = split_samples   # what cannot be read is not scored either
        if cfg.data.dialogue_context == "removed":
            split_samples = [dataclasses.replace(s, context="") for s in split_samples]
        ds = SignDataset(split_samples, gloss_vocab=vocabs.gloss, word_vocab=vocabs.word, tokenizer=vocabs.tokenizer,
                         frame_source=source, transform=ClipTransform(cfg.data.augment, train=train) if video else None,
                         seed=cfg.train.seed, lowercase_translation=cfg.data.lowercase_translation,
                         max_text_tokens=cfg.model.text.max_positions, frame_counts=counts,
                         skip_bad=cfg.data.skip_bad, report=skips)
        bad = len(records[role])
        if bad:
            log(f"data: {bad} {role} sample(s) left out as bad (see {REPORT_NAME}), e.g. {records[role][0]['id']}: "
                f"{records[role][0]['reason']}")
        if train:
            dropped = filter_ctc_feasible(ds, out_len, split=name, records=records[role])
            if dropped:
                log(f"data: {len(dropped)} of {len(split_samples)} {role} samples left out as CTC-infeasible "
                    f"(see data_report.txt), e.g. {dropped[0]}")
            if not len(ds):
                raise DataError(f"data.{role}: no usable training sample left after the CTC-feasibility filter")
        report += [record_line(r) for r in records[role]]
        line = vocabs.gloss.unknown_summary(role)
        if line:
            report.append(line)
            log(f"data: {line}")
        datasets[role] = ds
        if _is_main_process():
            skips.replace_split(name, records[role])
    return DataBundle(vocabs, datasets, samples, report)


def _is_main_process() -> bool:
    """Rank 0 of a torchrun job (or a single process): the one that writes files."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def _probe_frames(source: FrameSource, samples: list, split: str, skip_bad: bool, records: list):
    """(kept samples, their frame counts): each sample's frames pass the cheap checks of
    `FrameSource.probe` before training starts, or the sample is a one-line FrameError naming it
    (data.skip_bad: a skip record)."""
    kept, counts = [], []
    for s in samples:
        key = cache_key(s.split, s.id)
        try:
            counts.append(source.probe(key, s.frames, s.frame_glob))
        except FrameError as exc:
            if not skip_bad:
                raise FrameError(f"sample '{key}': {exc}", exc.file) from None
            records.append(skip_record(split, s.id, exc.file, None, str(exc)))
            continue
        kept.append(s)
    return kept, counts


def train_loader(ds: SignDataset, cfg: Config, dist: DistInfo, epoch: int) -> "Loader":
    """Shuffled, length-bucketed, drop_last (as the original), sharded over ranks."""
    ds.set_epoch(epoch)
    sampler = BucketBatchSampler(ds.lengths(), cfg.data.batch_size, shuffle=True, drop_last=True,
                                 seed=cfg.train.seed, num_replicas=dist.world_size, rank=dist.rank,
                                 bucket=cfg.data.bucket_by_length)
    sampler.set_epoch(epoch)
    if len(sampler) == 0:
        raise DataError(f"data.batch_size: {cfg.data.batch_size} x {dist.world_size} process(es) is more than the "
                        f"{len(ds)} training samples")
    return _loader(ds, sampler, cfg, dist)


def eval_loader(ds: SignDataset, cfg: Config, dist: DistInfo) -> "Loader":
    batches = eval_batches(ds.lengths(), cfg.data.eval_batch_size, rank=dist.rank, num_replicas=dist.world_size)
    return _loader(ds, batches, cfg, dist)


def _loader(ds: SignDataset, batch_sampler, cfg: Config, dist: DistInfo) -> "Loader":
    vocabs_bos = ds.gloss_vocab.bos, ds.gloss_vocab.eos
    workers = cfg.data.num_workers
    return Loader(DataLoader(ds, batch_sampler=batch_sampler, collate_fn=Collate(*vocabs_bos), num_workers=workers,
                             pin_memory=dist.device.type == "cuda", persistent_workers=False,
                             prefetch_factor=2 if workers > 0 else None), ds)


class Loader:
    """A DataLoader as the trainer and evaluator iterate it: a failure is one line, and samples
    left out mid-epoch (data.skip_bad, see signkd/data/batching.py) are recorded in the data
    report and never reach the model.

    Why unwrap: PyTorch re-raises an exception from a DataLoader worker as the same type with the
    worker's whole traceback as its message (~25 lines). A SignkdError comes out of this loader
    with its own one-line message instead; other exceptions (bugs) keep PyTorch's text.
    Limitation: a batch whose every sample is left out is dropped, which under DDP leaves the
    ranks with different batch counts."""

    def __init__(self, loader: DataLoader, dataset: SignDataset):
        self.loader = loader
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        iterator = iter(self.loader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except SignkdError as exc:
                raise unwrap_worker_error(exc) from None
            skipped = batch.extra.pop("skipped", None)
            if skipped:
                self._record(skipped)
            if len(batch):
                yield batch

    def _record(self, skipped: list) -> None:
        for r in skipped:
            logging.getLogger(__name__).warning("data: %s", record_line(r))
        if self.dataset.report is not None:
            self.dataset.report.add(skipped)


def unwrap_worker_error(exc: SignkdError) -> SignkdError:
    """The error a DataLoader worker raised, with its own message, from PyTorch's re-raised copy
    ("Caught X in DataLoader worker process 0.\nOriginal Traceback ...\nmodule.X: message")."""
    text = str(exc)
    # SignkdError escapes line breaks, so the copy's lines are joined by a literal backslash-n
    newline = next((sep for sep in ("\n", "\\n") if f"{sep}Original Traceback" in text), None)
    if not text.startswith("Caught ") or newline is None:
        return exc
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    at = text.rfind(f"{newline}{name}: ")
    if at >= 0:   # the last line of the worker's traceback is its own (one-line) message
        message = text[at + len(newline) + len(name) + 2:]
        message = message[:-len(newline)] if message.endswith(newline) else message
    else:
        message = text.split(newline)[0]
    try:
        return cls(message)
    except Exception:   # a subclass with another constructor: keep the message, lose the subtype
        return SignkdError(message)


def write_report(lines: list, path: Path) -> None:
    """data_report.txt: the human-readable lines of `build_data`'s report (the JSON records of
    left-out samples are in data_report.json beside it)."""
    if lines:
        path.write_text("\n".join(str(x) for x in lines) + "\n", encoding="utf-8")

