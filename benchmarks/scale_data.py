"""The data half of bench_scale.py, on a slice of the full-size rehearsal corpus rendered in the
same run: generation, `prepare` into each store, the training pipeline's frames/s per worker (PNG
tree / raw / jpeg, measured by store_measure.py as bench_store.py does), a real DataLoader over
the jpeg cache with the configs' loader workers, and resident memory over several epochs of
training the VAC baseline on a few clips of it.
"""
from __future__ import annotations

import ctypes
import gc
import time
from pathlib import Path

from scale_systems import REPO
from store_measure import cache_bytes, loader_rates, pack_stores

LIKE_FILE = "PHOENIX-2014-T.train.corpus.csv"
TRAIN_CONFIG = REPO / "configs/phoenix2014t/slr_baseline.yaml"   # the VAC baseline read as PHOENIX-2014-T


def default_like() -> str:
    """The shared PHOENIX-2014-T annotations beside the checkout, when there are any."""
    folder = REPO.parent / "shared" / "data" / "phoenix2014t"
    return str(folder) if (folder / LIKE_FILE).is_file() else ""


def slice_annotations(like: str, clips: int, out: Path) -> Path:
    """A folder holding the first `clips` sentences of the train annotation of `like`."""
    out.mkdir(parents=True, exist_ok=True)
    lines = (Path(like) / LIKE_FILE).read_text(encoding="utf-8").splitlines()
    header = 1 if lines and lines[0].startswith("name|") else 0     # the released files have one, some copies not
    (out / LIKE_FILE).write_text("\n".join(lines[: clips + header]) + "\n", encoding="utf-8")
    return out


def generate(base: Path, clips: int, like: str, workers: int) -> dict:
    """Render `clips` train clips of the phoenix-scale preset (the sentences of `like` when given)."""
    from signkd.data.corpora import read_corpus
    from signkd.data.synthetic import generate_corpus, load_description

    sizes = {} if like else {"n_train": clips, "n_dev": 0, "n_test": 0}
    source = str(slice_annotations(like, clips, base / "like")) if like else None
    start = time.perf_counter()
    corpus = generate_corpus(base / "corpus", preset="phoenix-scale", seed=0, overwrite=True, progress=False,
                             like=source, workers=workers, **sizes)
    seconds = time.perf_counter() - start
    info = load_description(corpus)
    samples = read_corpus("synthetic", corpus, "train", frames=info["frames"])
    pngs = [p for s in samples for p in Path(s.frames).glob(s.frame_glob)]
    return {"corpus": corpus, "frames_folder": info["frames"], "samples": samples, "clips": len(samples),
            "frames": len(pngs), "seconds": seconds, "workers": workers, "png_bytes": sum(p.stat().st_size for p in pngs),
            "sentences": f"first {len(samples)} train sentences of {like}" if like else "the preset's grammar"}


def prepare_and_load(base: Path, gen: dict, *, size: int, quality: int, rate_clips: int, rounds: int) -> dict:
    """Pack the slice into both stores (1 worker) and measure every source's pipeline rate."""
    seconds = pack_stores(gen["samples"], base, size=size, quality=quality, workers=1)
    stores = {}
    for store in ("raw", "jpeg"):
        total, frames = cache_bytes(base / store)
        stores[store] = {"seconds": seconds[store], "frames": frames, "bytes": total, "bytes_per_frame": total / frames,
                         "frames_per_s": frames / seconds[store]}
    rates = loader_rates(gen["samples"][:rate_clips], base, size=size, rounds=rounds)
    return {"stores": stores, "rates": rates, "rate_clips": min(rate_clips, gen["clips"]), "rounds": rounds}


def _config(gen: dict, cache: Path, extra: list):
    from signkd.config import load_config

    return load_config(TRAIN_CONFIG, [f"data.root={gen['corpus']}", f"data.frames={gen['frames_folder']}",
                                      f"data.cache={cache}", "data.dev=", "data.test=", "model.visual.pretrained=",
                                      "train.init=[]", *extra])


def dataloader_rate(base: Path, gen: dict) -> dict:
    """Frames/s of one epoch of the real training DataLoader over the jpeg cache, with the
    configs' data.num_workers, batches collated as training receives them (wall clock)."""
    from signkd.training.data import build_data, train_loader
    from signkd.training.distributed import setup

    cfg = _config(gen, base / "jpeg", [])
    data = build_data(cfg, base / "loader-run", roles=("train",), log=lambda m: None)
    loader = train_loader(data.datasets["train"], cfg, setup("cpu"), epoch=0)
    frames, start = 0, time.perf_counter()
    for batch in loader:
        frames += int(batch.video_lengths.sum())
    seconds = time.perf_counter() - start
    return {"workers": cfg.data.num_workers, "batch_size": cfg.data.batch_size, "frames": frames,
            "seconds": seconds, "frames_per_s": frames / seconds}


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MB, after a garbage collection and
    giving freed heap pages back to the system (malloc_trim): what is still held, not what the
    allocator keeps cached from the last checkpoint write."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):       # not glibc: RSS as it is
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_over_epochs(base: Path, gen: dict, *, clips: int, epochs: int, crop: int, max_frames: int,
                       tolerance_mb: float) -> dict:
    """Train the VAC baseline (signkd's Trainer: DataLoader workers, steps, checkpoint files every
    epoch) for `epochs` epochs on the first `clips` clips of the slice, at `crop` px and at most
    `max_frames` frames a clip, and read this process's resident memory after every epoch.
    `flag`: it grew by more than `tolerance_mb` after the first epoch (the first allocates the
    optimizer state and the allocator's pools)."""
    from signkd.training.trainer import Trainer

    subset = base / "memory-subset"
    subset.mkdir(parents=True, exist_ok=True)
    lines = (gen["corpus"] / "annotations" / "manual" / LIKE_FILE).read_text(encoding="utf-8").splitlines()
    (subset / LIKE_FILE).write_text("\n".join(lines[: clips + 1]) + "\n", encoding="utf-8")
    cfg = _config(gen, base / "jpeg", [f"data.train={subset / LIKE_FILE}", f"train.epochs={epochs}",
                                       f"data.augment.crop={crop}", f"data.augment.max_frames={max_frames}",
                                       "data.augment.min_frames=8", "train.device=cpu", "train.progress=false",
                                       "train.tensorboard=false", "train.test_at_end=false"])
    after: list[float] = []
    start = time.perf_counter()
    trainer = Trainer(cfg, work_dir=base / "memory-run", log_file=False)
    epoch_fn = trainer.train_epoch

    def train_epoch(epoch: int) -> dict:
        if epoch:                       # the previous epoch, its checkpoint files included, is done
            after.append(rss_mb())
        return epoch_fn(epoch)

    trainer.train_epoch = train_epoch
    try:
        trainer.fit()
    finally:
        trainer.close()
    after.append(rss_mb())
    growth = max(after[1:] or [after[0]]) - after[0]
    return {"clips": clips, "epochs": epochs, "crop": crop, "max_frames": max_frames, "rss_mb": after,
            "growth_mb": growth, "tolerance_mb": tolerance_mb, "flag": growth > tolerance_mb,
            "seconds": time.perf_counter() - start}
