"""The packed cache (`signkd prepare`) and the frame source that reads it or the original files."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from conftest import random_clip, write_frames
from signkd.data.packed_cache import FrameSource, PackedCache, cache_key, pack_videos
from signkd.errors import DataError


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
    (tmp_path / "cache" / cache.entries["train/vid0"].file).write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(DataError, match=r"cannot read packed video 'train/vid0' \(.+\); re-run `signkd prepare`"):
        cache.probe("train/vid0")            # a file that is no longer an array at all


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

def test_prepare_command_packs_a_corpus_and_training_reads_the_same_clips(tiny_corpus, tmp_path, capsys):
    from conftest import TINY_CONFIG
    from signkd.cli import main as cli_main
    from signkd.config import load_config
    from signkd.training.data import build_data

    cache = tmp_path / "cache"
    assert cli_main(["prepare", str(TINY_CONFIG), "--set", f"data.root={tiny_corpus}", "--out", str(cache),
                     "--store", "raw"]) == 0
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
    from signkd.data.preprocessing import preprocessing_of

    items, _ = _make_videos(tmp_path)
    pack_videos(items, tmp_path / "cache", size=24, progress=False)
    cfg = load_config(None, [f"data.cache={tmp_path / 'cache'}", "data.augment.resize=0"])
    assert preprocessing_of(cfg)["resize"] == 24
    cfg = load_config(None, ["data.augment.resize=0"])
    assert preprocessing_of(cfg)["resize"] == 0
