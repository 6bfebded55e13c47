"""The original's augmentation: one crop and flip per clip, temporal rescaling, per-sample generators."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import random_clip
from signkd.config import AugmentConfig
from signkd.data.augment import ClipTransform, sample_rng, temporal_rescale_indices
from signkd.errors import DataError


def _augment(**kw) -> AugmentConfig:
    base = dict(resize=0, crop=6, flip=0.0, temporal_rescale=0.0)
    base.update(kw)
    return AugmentConfig(**base)


def test_eval_transform_is_centre_crop_and_original_normalisation():
    clip = random_clip(3, h=10, w=12)
    out = ClipTransform(_augment(), train=False)(clip)
    assert out.shape == (3, 3, 6, 6) and out.dtype == torch.float32
    expected = torch.from_numpy(clip[:, 2:8, 3:9].astype(np.float32)).permute(0, 3, 1, 2) / 127.5 - 1.0
    torch.testing.assert_close(out, expected)


def test_train_crop_uses_one_offset_for_the_whole_clip():
    clip = np.repeat(random_clip(1, h=16, w=16), 5, axis=0)  # identical frames: the crops must be identical too
    out = ClipTransform(_augment(crop=8), train=True)(clip, np.random.default_rng(3))
    assert out.shape == (5, 3, 8, 8)
    for t in range(1, 5):
        torch.testing.assert_close(out[t], out[0])
    # and the offset differs between draws (it is random)
    offsets = {ClipTransform(_augment(crop=8), train=True)(clip, np.random.default_rng(s))[0].sum().item()
               for s in range(10)}
    assert len(offsets) > 1


def test_flip_probability_one_and_zero():
    clip = random_clip(2, h=6, w=6)
    flipped = ClipTransform(_augment(flip=1.0), train=True)(clip, np.random.default_rng(0))
    plain = ClipTransform(_augment(flip=0.0), train=True)(clip, np.random.default_rng(0))
    torch.testing.assert_close(flipped, plain.flip(-1))
    assert not torch.equal(flipped, plain)


def test_temporal_rescale_bounds_order_and_minimum():
    rng = np.random.default_rng(0)
    lengths = []
    for _ in range(200):
        idx = temporal_rescale_indices(50, 0.2, rng)
        assert np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() < 50
        lengths.append(len(idx))
    assert min(lengths) >= 40 and max(lengths) <= 60 and min(lengths) < 50 < max(lengths)
    for _ in range(50):
        assert len(temporal_rescale_indices(50, 0.2, rng, min_len=49)) >= 49
        assert len(temporal_rescale_indices(50, 0.2, rng, max_len=45)) <= 45
    # shrinking draws distinct frames (without replacement)
    idx = temporal_rescale_indices(50, 0.5, np.random.default_rng(1), max_len=30)
    assert len(set(idx.tolist())) == len(idx)


def test_augmentation_is_a_function_of_seed_epoch_and_index():
    clip = random_clip(20, h=12, w=12)
    transform = ClipTransform(_augment(crop=8, flip=0.5, temporal_rescale=0.2), train=True)

    def run(seed, epoch, index):
        rng = sample_rng(seed, epoch, index)
        idx = transform.frame_indices(len(clip), rng)
        return transform(clip[idx], rng)

    torch.testing.assert_close(run(0, 1, 5), run(0, 1, 5))
    assert any(not (run(0, e, 5).shape == run(0, 1, 5).shape and torch.equal(run(0, e, 5), run(0, 1, 5)))
               for e in range(2, 6))


def test_crop_larger_than_frames_is_a_data_error():
    with pytest.raises(DataError, match="data.augment.crop"):
        ClipTransform(_augment(crop=224), train=False)(random_clip(2, h=32, w=32))
