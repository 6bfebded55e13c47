"""The jpeg store of the packed cache and `signkd prepare` at real sizes: round trip within JPEG's
loss, checksums naming the entry, resume after a killed run, the disk-space refusal, and training
from a jpeg cache equal to training from PNGs of the same decoded frames."""
from __future__ import annotations

import json
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_CONFIG, write_frames
from signkd.data import cache_writer
from signkd.data.cache_writer import JOURNAL
from signkd.data.packed_cache import FrameSource, PackedCache, cache_key, pack_videos
from signkd.data.video import FrameError

# JPEG quality 90, 4:2:0 chroma, on smooth frames: the loss the jpeg store documents
JPEG_MEAN_ABS_ERROR, JPEG_MAX_ABS_ERROR = 2.0, 24


def smooth_clip(t: int, h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 frames like a camera's (gradients and a moving blob; not white noise,
    which no image codec is for)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for k in range(t):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        blob = 40 + 120 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 40.0)
        frames.append(np.stack([blob, 60 + 3 * x + 2 * k, 200 - 4 * y], -1))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _videos(tmp_path: Path, n: int = 3) -> tuple[list, dict]:
    items, clips = [], {}
    for k in range(n):
        clip = smooth_clip(5 + k, seed=k)
        key = cache_key("train", f"vid{k}")
        items.append((key, str(write_frames(tmp_path / "src" / f"vid{k}", clip)), "*.png"))
        clips[key] = clip
    return items, clips


def test_jpeg_store_round_trips_within_jpeg_loss_and_raw_exactly(tmp_path):
    items, clips = _videos(tmp_path)
    pack_videos(items, tmp_path / "raw", size=0, store="raw", progress=False)
    pack_videos(items, tmp_path / "jpeg", size=0, store="jpeg", progress=False)
    raw, jpeg = PackedCache(tmp_path / "raw"), PackedCache(tmp_path / "jpeg")
    assert (raw.store, jpeg.store, jpeg.quality) == ("raw", "jpeg", 90)
    assert json.loads((tmp_path / "jpeg" / "manifest.json").read_text())["store"] == "jpeg"
    for key, clip in clips.items():
        np.testing.assert_array_equal(raw.load(key), clip)
        decoded = jpeg.load(key)
        assert decoded.shape == clip.shape and decoded.dtype == np.uint8
        error = np.abs(decoded.astype(int) - clip)
        assert error.mean() <= JPEG_MEAN_ABS_ERROR and error.max() <= JPEG_MAX_ABS_ERROR
        assert jpeg.entry(key).file.endswith(".jpegs")
    assert jpeg.verify() == []


def test_frame_source_reads_either_store_the_same_way(tmp_path):
    items, _ = _videos(tmp_path)
    pack_videos(items, tmp_path / "raw", size=16, store="raw", progress=False)
    pack_videos(items, tmp_path / "jpeg", size=16, store="jpeg", progress=False)
    direct = FrameSource(None, size=16, frame_interval=2)
    for cache in ("raw", "jpeg"):
        source = FrameSource(PackedCache(tmp_path / cache), size=16, frame_interval=2)
        for key, folder, pattern in items:
            n = source.num_frames(key, folder, pattern)
            assert n == direct.num_frames(key, folder, pattern) == source.probe(key, folder, pattern)
            every = source.read(key, folder, pattern)
            picked = source.read(key, folder, pattern, np.array([n - 1, 0, 0]))
            np.testing.assert_array_equal(picked, every[[n - 1, 0, 0]])    # the same frame decoded once, twice used
            error = np.abs(every.astype(int) - direct.read(key, folder, pattern))
            assert every.shape == (n, 16, 16, 3) and error.max() <= (0 if cache == "raw" else JPEG_MAX_ABS_ERROR)


def test_jpeg_checksum_and_header_failures_name_the_entry(tmp_path):
    items, _ = _videos(tmp_path)
    pack_videos(items, tmp_path / "cache", size=0, store="jpeg", progress=False)
    cache = PackedCache(tmp_path / "cache")
    victim = tmp_path / "cache" / cache.entries["train/vid1"].file
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x10                                        # inside the last JPEG
    victim.write_bytes(bytes(data))
    assert cache.verify() == ["train/vid1"]
    source = FrameSource(PackedCache(tmp_path / "cache"))
    assert source.probe("train/vid1", "", "") == 6           # the header still checks out
    with pytest.raises(FrameError, match=f"^{victim}: packed video 'train/vid1' does not match its sha256") as err:
        source.read("train/vid1", "", "")
    assert err.value.file == str(victim)
    victim.write_bytes(bytes(data[:-10]))                   # truncated: the offset index no longer fits
    with pytest.raises(FrameError, match=r"cannot read packed video 'train/vid1' \(offset index .*truncated"):
        source.probe("train/vid1", "", "")


def test_a_killed_prepare_resumes_keeping_finished_entries(tmp_path):
    items, clips = _videos(tmp_path, n=4)
    missing = Path(items[2][1])
    shutil.move(missing, tmp_path / "away")                 # video 2 unreadable: the run dies there
    out = tmp_path / "cache"
    with pytest.raises(FrameError, match="video 'train/vid2'"):
        pack_videos(items, out, size=0, store="jpeg", progress=False)
    assert not (out / "manifest.json").exists() and (out / JOURNAL).is_file()
    finished = {k: out / f"train/vid{k}.jpegs" for k in (0, 1)}
    times = {k: p.stat().st_mtime_ns for k, p in finished.items()}
    finished[1].write_bytes(finished[1].read_bytes()[:-1] + b"\x00")   # damaged since: must be packed again
    shutil.move(tmp_path / "away", missing)
    pack_videos(items, out, size=0, store="jpeg", progress=False)
    assert finished[0].stat().st_mtime_ns == times[0]       # kept, not rewritten
    assert finished[1].stat().st_mtime_ns != times[1]
    cache = PackedCache(out)
    assert sorted(cache.entries) == sorted(clips) and cache.verify() == [] and not (out / JOURNAL).exists()


def test_workers_write_the_same_cache_as_one_process(tmp_path):
    items, _ = _videos(tmp_path, n=4)
    pack_videos(items, tmp_path / "one", size=0, store="jpeg", progress=False)
    pack_videos(items, tmp_path / "two", size=0, store="jpeg", workers=2, progress=False)
    one, two = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("one", "two"))
    assert one == two


def _prepare(corpus: Path, out: Path, *extra: str) -> int:
    from signkd.cli import main as cli_main

    return cli_main(["prepare", str(TINY_CONFIG), "--set", f"data.root={corpus}", "--out", str(out), *extra])


def test_prepare_prints_its_estimate_first_and_refuses_a_small_disk(tiny_corpus, tmp_path, capsys, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cache_writer.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    out = tmp_path / "cache"
    assert _prepare(tiny_corpus, out, "--store", "raw") == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("prepare: 40 videos, ") and " frames of 32x32 -> about " in captured.out
    assert captured.err.startswith(f"signkd prepare: error: {out}: 1.0 kB free on its disk, the cache needs about ")
    assert "--store jpeg" in captured.err and captured.err.count("\n") == 1
    assert not (out / "manifest.json").exists()
    monkeypatch.undo()
    assert _prepare(tiny_corpus, out, "--store", "jpeg", "--workers", "2") == 0
    estimate_line, _, written = capsys.readouterr().out.partition("\n")
    assert "jpeg q90" in estimate_line and "store jpeg" in written


def test_training_from_a_jpeg_cache_equals_training_from_pngs_of_its_frames(tiny_corpus, tmp_path):
    """Same samples, same augmentation draws: the jpeg store changes only the pixels JPEG changes."""
    from signkd.cli import main as cli_main
    from signkd.config import load_config
    from signkd.data.corpora import read_corpus
    from signkd.training.data import build_data

    cache = tmp_path / "cache"
    assert _prepare(tiny_corpus, cache, "--store", "jpeg") == 0
    packed = PackedCache(cache)
    decoded = Path(shutil.copytree(tiny_corpus, tmp_path / "decoded"))   # the same corpus, frames = decoded JPEGs
    frames = "features/fullFrame-32x32px"
    for split in ("train", "dev"):
        for s in read_corpus("synthetic", decoded, split, frames=frames):
            files = sorted(Path(s.frames).glob(s.frame_glob))
            for file, frame in zip(files, packed.load(cache_key(s.split, s.id)), strict=True):
                write_frames(file.parent, frame[None], name=file.name)
    from_pngs = build_data(load_config(TINY_CONFIG, [f"data.root={decoded}"]), tmp_path / "a", log=lambda m: None)
    from_jpeg = build_data(load_config(TINY_CONFIG, [f"data.root={tiny_corpus}", f"data.cache={cache}"]),
                           tmp_path / "b", log=lambda m: None)
    for role in ("train", "dev"):
        a, b = from_pngs.datasets[role], from_jpeg.datasets[role]
        assert a.lengths() == b.lengths()
        a.set_epoch(2)
        b.set_epoch(2)
        for i in range(len(a)):
            torch.testing.assert_close(a[i]["video"], b[i]["video"], rtol=0, atol=0)
    rc = cli_main(["train", str(TINY_CONFIG), "--set", f"data.root={tiny_corpus}", "--set", f"data.cache={cache}",
                   "--set", "train.epochs=1", "--work-dir", str(tmp_path / "run")])
    assert rc == 0 and (tmp_path / "run" / "best.pt").is_file()


def test_without_simplejpeg_pillow_reads_the_same_pixels(tmp_path, monkeypatch):
    """simplejpeg is the fast path; where it is missing Pillow (the same libjpeg-turbo defaults)
    decodes a cache to identical frames and can write one."""
    from signkd.data import frame_store

    items, clips = _videos(tmp_path, n=2)
    pack_videos(items, tmp_path / "fast", size=0, store="jpeg", progress=False)
    fast = {key: PackedCache(tmp_path / "fast").load(key) for key in clips}
    monkeypatch.setattr(frame_store, "_simplejpeg", lambda: None)
    assert frame_store.jpeg_codec() == "PIL"
    for key, frames in fast.items():
        np.testing.assert_array_equal(PackedCache(tmp_path / "fast").load(key), frames)
    pack_videos(items, tmp_path / "pil", size=0, store="jpeg", progress=False)
    for key, clip in clips.items():
        assert np.abs(PackedCache(tmp_path / "pil").load(key).astype(int) - clip).max() <= JPEG_MAX_ABS_ERROR


def test_a_manifest_of_an_unknown_store_is_one_line(tmp_path):
    from signkd.errors import DataError

    items, _ = _videos(tmp_path, n=1)
    manifest = pack_videos(items, tmp_path / "cache", size=0, store="jpeg", progress=False)
    data = json.loads(manifest.read_text())
    data["store"] = "png"
    manifest.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"manifest.json: store: expected one of raw, jpeg, got 'png'; re-run"):
        PackedCache(tmp_path / "cache")
    del data["store"], data["quality"]                      # a cache written before stores existed: raw
    manifest.write_text(json.dumps(data))
    with pytest.raises(FrameError, match=r"cannot read packed video 'train/vid0' \("):
        PackedCache(tmp_path / "cache").probe("train/vid0")
