"""benchmarks/bench_scale.py's arithmetic a reader of docs/scale.md relies on: the slice holds the
clips asked for whatever the annotation file's header, the GPU projection follows its stated
assumptions, and a store goal that fails reads NOT met in the table."""
import importlib.util
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_scale")


@pytest.mark.parametrize("header", [True, False])
def test_slice_has_the_clips_asked_for(tmp_path, header):
    scale_data = _load("scale_data")
    rows = [f"clip{i}|clip{i}/*.png|-1|-1|Signer01|A B|a b" for i in range(10)]
    source = tmp_path / "like"
    source.mkdir()
    (source / scale_data.LIKE_FILE).write_text(
        "\n".join((["name|video|start|end|speaker|orth|translation"] if header else []) + rows) + "\n")
    out = scale_data.slice_annotations(str(source), 4, tmp_path / "slice")
    lines = (out / scale_data.LIKE_FILE).read_text().splitlines()
    assert [ln.split("|")[0] for ln in lines if not ln.startswith("name|")] == ["clip0", "clip1", "clip2", "clip3"]


def _row(name, step, decode=0.01):
    return {"name": name, "step_s": step, "decode_s_per_clip": decode}


def test_gpu_projection_follows_its_assumptions(bench):
    a = bench.GPU_ASSUMPTIONS
    p = bench.project([_row("VAC baseline (BiLSTM)", 20.0), _row("dialogue teacher (SLR)", 40.0, None)],
                      jpeg_per_worker=1500.0, frames=117)
    resnet18 = a["resnet50_amp_images_per_s"] * a["resnet50_gflops"] / a["resnet18_gflops"]
    vac, teacher = p["per_config"]["VAC baseline (BiLSTM)"], p["per_config"]["dialogue teacher (SLR)"]
    assert vac["frames_per_s"] == pytest.approx(resnet18)
    assert teacher["frames_per_s"] == pytest.approx(resnet18 / 2)                # twice the CPU step: half the rate
    assert vac["epoch_s"] == pytest.approx(827_354 / resnet18)
    assert vac["loader_workers"] == math.ceil(resnet18 / 1500.0)
    assert teacher["dev_pass_s"] is None and vac["dev_pass_s"] > 0


def test_a_missed_store_goal_reads_not_met(bench):
    stores = {"raw": {"bytes_per_frame": 1000.0, "frames_per_s": 300.0},
              "jpeg": {"bytes_per_frame": 100.0, "frames_per_s": 300.0}}
    rates = {"png": {"cpu": 500.0, "wall": 500.0}, "raw": {"cpu": 4000.0, "wall": 4000.0},
             "jpeg": {"cpu": 1400.0, "wall": 1400.0}}
    data = {"generate": {"frames": 100, "seconds": 1.0, "png_bytes": 70_000, "workers": 2, "clips": 1},
            "prepare": {"stores": stores, "rates": rates},
            "dataloader": {"workers": 2, "frames_per_s": 500.0, "frames": 100, "batch_size": 2},
            "memory": {"epochs": 4, "clips": 6, "crop": 112, "max_frames": 48, "rss_mb": [600.0, 700.0],
                       "growth_mb": 100.0, "tolerance_mb": 64.0, "flag": True}}
    table = "\n".join(bench.data_lines(data, 90))
    assert "≤ 15 % of raw: met" in table
    assert "≥ 1,500/worker: NOT met; ≥ 3x PNG: NOT met" in table       # 1,400 frames/s, 2.8x the PNG tree
    assert "FLAG: grows" in table
