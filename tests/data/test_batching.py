"""Dataset, collation, length-bucketed sampling (incl. DDP sharding) and the CTC-feasibility filter."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from conftest import random_clip, write_frames
from signkd.config import AugmentConfig
from signkd.data.batching import (BucketBatchSampler, Collate, SignDataset, ctc_min_steps, eval_batches,
                                  filter_ctc_feasible, min_frames_for)
from signkd.data.augment import ClipTransform
from signkd.data.corpus_reader import Sample
from signkd.data.packed_cache import FrameSource
from signkd.data.vocab import GlossVocab, WordVocab
from signkd.temporal import TemporalSpec


def _samples(tmp_path, lengths, glosses=None):
    out = []
    for k, n in enumerate(lengths):
        folder = write_frames(tmp_path / f"v{k}", random_clip(n, h=8, w=8, seed=k))
        gl = glosses[k] if glosses else ["A", "B"][: 1 + k % 2]
        out.append(Sample(f"s{k}", "train", str(folder), gl, f"das wetter {k}", f"wie ist es {k}", "sig1"))
    return out


def _dataset(samples, train=True, **kw):
    vocab = GlossVocab(["A", "B", "C"])
    words = WordVocab.from_sentences([s.translation for s in samples])
    aug = AugmentConfig(resize=0, crop=6, flip=0.5, temporal_rescale=0.2)
    return SignDataset(samples, gloss_vocab=vocab, word_vocab=words, frame_source=FrameSource(None),
                       transform=ClipTransform(aug, train=train), seed=0, **kw)


def test_collate_pads_with_lengths_and_adds_sequence_ends(tmp_path):
    samples = _samples(tmp_path, [7, 9, 5], glosses=[["A"], ["B", "C", "A"], ["C", "C"]])
    ds = _dataset(samples, train=False)
    vocab = ds.gloss_vocab
    batch = Collate(vocab.bos, vocab.eos)([ds[i] for i in range(3)])
    assert batch.ids == ["s1", "s0", "s2"]                     # longest clip first
    assert batch.video.shape == (3, 9, 3, 6, 6)
    assert batch.video_lengths.tolist() == [9, 7, 5]
    assert torch.all(batch.video[1, 7:] == 0) and torch.all(batch.video[2, 5:] == 0)
    assert batch.glosses.tolist() == [[2, 3, 1], [1, 0, 0], [3, 3, 0]]
    assert batch.gloss_lengths.tolist() == [3, 1, 2]
    assert batch.gloss_in[0].tolist() == [vocab.bos, 2, 3, 1] and batch.gloss_out[0].tolist() == [2, 3, 1, vocab.eos]
    assert batch.gloss_in[1].tolist() == [vocab.bos, 1, 0, 0] and batch.gloss_out[1].tolist() == [1, vocab.eos, 0, 0]
    # the Text2Gloss decoder runs one step more than the glosses (Text2GlossTeacher.decoder_steps)
    for row_in, row_out, n in zip(batch.gloss_in, batch.gloss_out, batch.gloss_lengths.tolist()):
        assert row_in[: n + 1].all() and not row_in[n + 1:].any()
        assert row_out[n].item() == vocab.eos and not row_out[n + 1:].any()
    # the word ids Collate defaults to are WordVocab's, which the system decodes with
    assert batch.dec_in[:, 0].tolist() == [WordVocab.bos] * 3
    for row, n in zip(batch.dec_out, batch.dec_lengths.tolist()):
        assert row[n - 1].item() == WordVocab.eos             # </s> at the last real position
    assert batch.extra["index"].tolist() == [1, 0, 2]


def test_collate_takes_the_word_ends_from_the_word_vocabulary(tmp_path, monkeypatch):
    """WordVocab is the one source of the word <s>/</s>: were its ids to change, batches follow."""
    ds = _dataset(_samples(tmp_path, [5, 6]), train=False)
    monkeypatch.setattr(WordVocab, "bos", 9)
    monkeypatch.setattr(WordVocab, "eos", 8)
    batch = Collate(ds.gloss_vocab.bos, ds.gloss_vocab.eos)([ds[0], ds[1]])
    assert batch.dec_in[:, 0].tolist() == [9, 9]
    assert [row[n - 1].item() for row, n in zip(batch.dec_out, batch.dec_lengths.tolist())] == [8, 8]


def test_bert_ids_of_context_and_translation(tmp_path):
    from signkd.data.vocab import build_text_tokenizer

    samples = _samples(tmp_path, [6, 6])
    texts = [t for s in samples for t in (s.context, s.translation)]
    tok = build_text_tokenizer("", texts, 100, tmp_path / "tok")
    ds = _dataset(samples, tokenizer=tok)
    batch = Collate(ds.gloss_vocab.bos, ds.gloss_vocab.eos)([ds[0], ds[1]])
    cls, sep = tok.cls_token_id, tok.sep_token_id
    for ids, n in ((batch.ctx_ids, batch.ctx_lengths), (batch.trans_ids, batch.trans_lengths)):
        for row, length in zip(ids.tolist(), n.tolist()):
            assert row[0] == cls and row[length - 1] == sep and all(x == 0 for x in row[length:])
    assert tok.decode(batch.ctx_ids[0, 1: batch.ctx_lengths[0] - 1]).replace(" ", "") == samples[0].context.replace(" ", "")


def _flatten(batches):
    return [i for b in batches for i in b]


def test_bucket_sampler_covers_each_index_once_and_groups_lengths():
    lengths = np.random.default_rng(0).integers(10, 200, size=103)
    sampler = BucketBatchSampler(lengths, 4, seed=1, pool=5)
    sampler.set_epoch(0)
    batches = list(sampler)
    assert len(batches) == len(sampler) and all(len(b) == 4 for b in batches)
    flat = _flatten(batches)
    assert len(flat) == len(set(flat)) and len(flat) >= 100 - 4 * 1
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[np.random.default_rng(i).choice(103, 4)]) for i in range(200)])
    assert spread < 0.5 * random_spread                         # buckets group similar lengths
    again = BucketBatchSampler(lengths, 4, seed=1, pool=5)
    again.set_epoch(0)
    assert list(again) == batches                              # a pure function of (seed, epoch)
    again.set_epoch(1)
    assert list(again) != batches


def test_bucket_sampler_shards_global_batches_over_ranks():
    lengths = np.random.default_rng(1).integers(10, 100, size=50)
    single = BucketBatchSampler(lengths, 4, seed=3)
    ranks = [BucketBatchSampler(lengths, 2, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for s in (single, *ranks):
        s.set_epoch(2)
    per_rank = [list(r) for r in ranks]
    assert len(per_rank[0]) == len(per_rank[1]) == len(single)
    for global_batch, b0, b1 in zip(single, *per_rank):
        assert b0 + b1 == global_batch


def test_eval_batches_score_every_sample_once_over_ranks():
    lengths = list(range(11))
    one = eval_batches(lengths, 3)
    assert sorted(_flatten(one)) == lengths and one[0] == [10, 9, 8]
    two = [eval_batches(lengths, 3, rank=r, num_replicas=2) for r in (0, 1)]
    assert sorted(_flatten(two[0]) + _flatten(two[1])) == lengths


def test_ctc_feasibility_arithmetic():
    assert ctc_min_steps([1, 2, 3]) == 3
    assert ctc_min_steps([1, 1, 2, 2]) == 6
    out = TemporalSpec.parse(["K5", "P2", "K5"]).output_length
    assert out(30) == (30 - 4) // 2 - 4
    assert out(min_frames_for(5, out)) >= 5 and out(min_frames_for(5, out) - 1) < 5


def test_infeasible_samples_are_filtered_with_a_report_and_rescale_respects_the_minimum(tmp_path):
    # K5-P2-K5: 20 frames -> 4 steps. ["A","A","B"] needs 4 steps, ["A","B","C","A","B"] needs 5.
    samples = _samples(tmp_path, [20, 20, 20], glosses=[["A", "A", "B"], ["A", "B", "C", "A", "B"], ["ZZZ"]])
    ds = _dataset(samples)
    report = []
    dropped = filter_ctc_feasible(ds, TemporalSpec.parse(["K5", "P2", "K5"]).output_length, report=report)
    assert dropped == ["s1", "s2"] and len(ds) == 1 and ds.samples[0].id == "s0"
    assert "5 needed" in report[0] and "no gloss of the vocabulary" in report[1]
    assert ds.items[0].min_frames == 20
    for epoch in range(10):                                    # rescale may only grow this clip
        ds.set_epoch(epoch)
        assert ds[0]["video"].shape[0] >= 20


def test_ctc_feasibility_counts_the_vac_temporal_padding(tmp_path):
    """With model.visual.temporal_pad: vac a clip of l frames has ceil(l / 2) steps under K5-P2-K5
    (10 frames -> 5 steps), so a 10-frame clip of 5 glosses trains; without padding it has none."""
    for pad, kept in (("vac", 1), ("none", 0)):
        ds = _dataset(_samples(tmp_path / pad, [10], glosses=[["A", "B", "C", "A", "B"]]))
        filter_ctc_feasible(ds, TemporalSpec.parse(["K5", "P2", "K5"], pad).output_length)
        assert len(ds) == kept, pad


def test_loader_workers_do_not_change_the_batches(tmp_path):
    ds = _dataset(_samples(tmp_path, [8, 9, 10, 11, 12, 13]))
    ds.set_epoch(4)

    def batches(workers):
        sampler = BucketBatchSampler(ds.lengths(), 2, seed=0)
        sampler.set_epoch(4)
        loader = DataLoader(ds, batch_sampler=sampler, collate_fn=Collate(ds.gloss_vocab.bos, ds.gloss_vocab.eos),
                            num_workers=workers)
        return [(b.ids, b.video) for b in loader]

    for (ids0, v0), (ids1, v1) in zip(batches(0), batches(2)):
        assert ids0 == ids1
        torch.testing.assert_close(v0, v1)


def test_bucket_sampler_composes_with_distributed_sampler():
    from torch.utils.data import DistributedSampler

    lengths = np.random.default_rng(2).integers(10, 100, size=40)
    shards = []
    for rank in (0, 1):
        dist_sampler = DistributedSampler(range(40), num_replicas=2, rank=rank, shuffle=True, seed=5)
        sampler = BucketBatchSampler(lengths, 4, sampler=dist_sampler, pool=2)
        sampler.set_epoch(1)
        mine = set(dist_sampler)
        batches = list(sampler)
        assert batches and all(len(b) == 4 and set(b) <= mine for b in batches)
        shards.append(set(_flatten(batches)))
    assert not shards[0] & shards[1]
