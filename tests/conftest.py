"""Shared fixtures: the tiny synthetic corpus (generated once per session), tiny frame folders,
and a helper that runs `signkd` commands in-process or as a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_CONFIG = REPO / "configs" / "synthetic" / "tiny.yaml"


def shipped_configs() -> list[Path]:
    """Every training config under configs/. The pipeline*.yaml files there list stages for
    `signkd run`; tests/pipeline/test_pipeline.py loads each of them as a pipeline."""
    return sorted(p for p in (REPO / "configs").rglob("*.yaml") if not p.name.startswith("pipeline"))


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine is shared: keep each test on one intra-op thread (and results reproducible)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The `tiny` synthetic corpus (PHOENIX-2014-T layout + dialogue files), seed 0."""
    from signkd.data.synthetic import generate_corpus

    out = tmp_path_factory.mktemp("tiny-corpus")
    return Path(generate_corpus(out, preset="tiny", seed=0))


@pytest.fixture(scope="session")
def tiny_trained(tiny_corpus, tmp_path_factory) -> Path:
    """A tiny SLR student trained until its dev WER is below 100 % (~290 steps, ~20 s of CPU):
    the end-to-end test checks its outputs, the DDP test starts from its best.pt."""
    from signkd.cli import main as cli_main

    work = tmp_path_factory.mktemp("tiny-trained")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = cli_main(["train", str(TINY_CONFIG), "--set", f"data.root={tiny_corpus}", "--work-dir", str(work),
                       *TRAINED_OVERRIDES])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    return work


# 24 epochs: with VAC's temporal padding (tiny.yaml's default) a clip has ~60 % more output steps than
# without, and CTC leaves its all-blank phase later (dev WER below 100 % from epoch 18 instead of 10)
TRAINED_OVERRIDES = ["--set", "train.epochs=24", "--set", "data.batch_size=2", "--set", "train.eval_every=1"]


def write_frames(folder: Path, frames: np.ndarray, name: str = "images{:04d}.png") -> Path:
    """Write (T, H, W, 3) uint8 frames as numbered PNGs (1-based, like PHOENIX)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, 1):
        Image.fromarray(frame).save(folder / name.format(i))
    return folder


def random_clip(t: int, h: int = 12, w: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def tiny_overrides(corpus: Path, work_dir: Path, *extra: str) -> list[str]:
    return [f"data.root={corpus}", f"work_dir={work_dir}", *extra]


def run_cli(args: list[str], *, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m signkd ARGS` in a subprocess (for commands that must start a fresh process)."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "signkd", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
