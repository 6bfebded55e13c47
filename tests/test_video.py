"""Frame reading, the packed cache and the augmentation."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_clip, write_frames
from signkd.config import AugmentConfig
from signkd.data.video import (ClipTransform, FrameSource, PackedCache, cache_key, frame_files, natural_key,
                               pack_videos, read_source_frames, read_video_file, resize_frame, sample_rng,
                               temporal_rescale_indices)
from signkd.errors import DataError


def test_png_folder_reads_in_natural_order(tmp_path):
    clip = random_clip(12)
    folder = tmp_path / "v"
    for i, frame in enumerate(clip, 1):  # unpadded numbers: lexicographic order would put 10 before 2
        write_frames(folder, frame[None], name=f"frame{i}.png")
    assert [p.name for p in frame_files(folder)][:3] == ["frame1.png", "frame2.png", "frame3.png"]
    np.testing.assert_array_equal(read_source_frames(folder), clip)
    np.testing.assert_array_equal(read_source_frames(folder, indices=[3, 0, 3]), clip[[3, 0, 3]])


def test_natural_key_keeps_each_folder_together():
    paths = [Path(p) for p in ("c10/f1.png", "c2/f10.png", "c2/f2.png", "c10/f2.png", "c2/f1.png")]
    assert [str(p) for p in sorted(paths, key=natural_key)] == ["c2/f1.png", "c2/f2.png", "c2/f10.png",
                                                                "c10/f1.png", "c10/f2.png"]


def test_missing_or_empty_folder_is_a_one_line_data_error(tmp_path):
    with pytest.raises(DataError, match="frame folder not found"):
        read_source_frames(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no frames matching"):
        read_source_frames(tmp_path / "empty")


def test_mp4_is_decoded_with_pyav(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    frames = np.zeros((6, 32, 32, 3), dtype=np.uint8)
    for i in range(6):
        frames[i, :, : 5 * (i + 1)] = 200  # a bar that grows frame by frame
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    clip = read_video_file(path)
    assert clip.shape == (6, 32, 32, 3) and clip.dtype == np.uint8
    bright = (clip.mean(axis=(1, 3)) > 100).sum(axis=1)  # columns lit per frame, lossy codec
    assert np.all(np.diff(bright) > 0)
    np.testing.assert_array_equal(read_source_frames(path, "*.mp4"), clip)
    np.testing.assert_array_equal(read_source_frames(tmp_path, "*.mp4", indices=[5, 1]), clip[[5, 1]])


def test_resize_square_and_keep_aspect():
    frame = np.zeros((260, 210, 3), dtype=np.uint8)
    assert resize_frame(frame, 256, keep_aspect=False).shape == (256, 256, 3)
    assert resize_frame(frame, 256, keep_aspect=True).shape == (317, 256, 3)
    assert resize_frame(frame, 0, keep_aspect=False) is frame


def _make_videos(tmp_path, n=3):
    items, clips = [], {}
    for k in range(n):
        clip = random_clip(5 + k, seed=k)
        folder = write_frames(tmp_path / "src" / f"vid{k}", clip)
        key = cache_key("train", f"vid{k}")
        items.append((key, str(folder), "*.png"))
        clips[key] = clip
    return items, clips


def test_packed_cache_round_trip_manifest_and_checksums(tmp_path):
    items, clips = _make_videos(tmp_path)
    manifest = pack_videos(items, tmp_path / "cache", size=0, progress=False)
    data = json.loads(manifest.read_text())
    cache = PackedCache(tmp_path / "cache")
    for key, clip in clips.items():
        entry = data["videos"][key]
        assert entry["shape"] == list(clip.shape)
        assert entry["sha256"] == hashlib.sha256((tmp_path / "cache" / entry["file"]).read_bytes()).hexdigest()
        loaded = cache.load(key)
        assert isinstance(loaded, np.memmap)
        np.testing.assert_array_equal(loaded, clip)
    assert cache.verify() == []
    # corrupt one file: verify names it, and a re-run of prepare repairs only that one
    victim = tmp_path / "cache" / data["videos"]["train/vid1"]["file"]
    untouched = tmp_path / "cache" / data["videos"]["train/vid0"]["file"]
    mtime = untouched.stat().st_mtime_ns
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    assert cache.verify() == ["train/vid1"]
    pack_videos(items, tmp_path / "cache", size=0, progress=False)
    assert PackedCache(tmp_path / "cache").verify() == []
    assert untouched.stat().st_mtime_ns == mtime


def test_packed_cache_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="run `signkd prepare`"):
        PackedCache(tmp_path)
    items, _ = _make_videos(tmp_path, n=1)
    pack_videos(items, tmp_path / "cache", size=0, progress=False)
    cache = PackedCache(tmp_path / "cache")
    with pytest.raises(DataError, match="not in the packed cache"):
        cache.load("train/other")
    np.save(tmp_path / "cache" / cache.entries["train/vid0"].file, np.zeros((2, 2, 2, 3), np.uint8))
    with pytest.raises(DataError, match="manifest says"):
        cache.probe("train/vid0")            # the header check made before training
    with pytest.raises(DataError, match="does not match its sha256"):
        cache.load("train/vid0")             # the checksum checked at first use


def test_cache_and_png_tree_give_the_same_frames(tmp_path):
    items, clips = _make_videos(tmp_path)
    pack_videos(items, tmp_path / "cache", size=8, progress=False)
    cached = FrameSource(PackedCache(tmp_path / "cache"), size=8, frame_interval=2)
    direct = FrameSource(None, size=8, frame_interval=2)
    for key, folder, pattern in items:
        assert cached.num_frames(key, folder, pattern) == direct.num_frames(key, folder, pattern)
        n = cached.num_frames(key, folder, pattern)
        np.testing.assert_array_equal(cached.read(key, folder, pattern), direct.read(key, folder, pattern))
        idx = np.array([n - 1, 0, 0])
        np.testing.assert_array_equal(cached.read(key, folder, pattern, idx), direct.read(key, folder, pattern, idx))
        assert cached.read(key, folder, pattern).shape[1:] == (8, 8, 3)


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


def test_prepare_command_packs_a_corpus_and_training_reads_the_same_clips(tiny_corpus, tmp_path, capsys):
    from conftest import TINY_CONFIG
    from signkd.cli import main as cli_main
    from signkd.config import load_config
    from signkd.training.data import build_data

    cache = tmp_path / "cache"
    assert cli_main(["prepare", str(TINY_CONFIG), "--set", f"data.root={tiny_corpus}", "--out", str(cache)]) == 0
    assert "packed 40 videos" in capsys.readouterr().out
    assert cli_main(["prepare", "--verify", "--out", str(cache)]) == 0
    base = [f"data.root={tiny_corpus}"]
    plain = build_data(load_config(TINY_CONFIG, base), tmp_path / "a", log=lambda m: None)
    packed = build_data(load_config(TINY_CONFIG, base + [f"data.cache={cache}"]), tmp_path / "b", log=lambda m: None)
    for role in ("train", "dev"):
        a, b = plain.datasets[role], packed.datasets[role]
        assert a.lengths() == b.lengths()
        a.set_epoch(3)
        b.set_epoch(3)
        for i in range(0, len(a), 5):
            torch.testing.assert_close(a[i]["video"], b[i]["video"], rtol=0, atol=0)
    # a cache packed at another size is refused with the fix in the message
    with pytest.raises(Exception, match="re-run `signkd prepare`"):
        build_data(load_config(TINY_CONFIG, base + [f"data.cache={cache}", "data.augment.resize=28"]), tmp_path / "c")


def test_checkpoint_preprocessing_records_the_size_a_cache_was_packed_at(tmp_path):
    """Trained on a cache packed at 24 px with data.augment.resize 0: new videos must be resized to 24."""
    from signkd.config import load_config
    from signkd.training.data import preprocessing_of

    items, _ = _make_videos(tmp_path)
    pack_videos(items, tmp_path / "cache", size=24, progress=False)
    cfg = load_config(None, [f"data.cache={tmp_path / 'cache'}", "data.augment.resize=0"])
    assert preprocessing_of(cfg)["resize"] == 24
    cfg = load_config(None, ["data.augment.resize=0"])
    assert preprocessing_of(cfg)["resize"] == 0
