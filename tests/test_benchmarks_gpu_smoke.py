"""benchmarks/gpu_smoke.py: without CUDA it says so in one line and exits 0; its core (AMP steps,
checkpoint, dev pass on the device and on the CPU, the WER comparison) runs on the CPU with a
tiny model, so a GPU machine runs code that has already run."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_smoke.py"
TINY = ["--device", "cpu", "--tiny", "--steps", "4", "--train-batches", "2", "--frames", "12", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def gpu_smoke():
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_one_line_and_exit_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "gpu_smoke: no CUDA device; nothing measured\n"


def test_tiny_run_on_cpu_trains_saves_and_compares(gpu_smoke, tmp_path, capsys):
    assert gpu_smoke.main(TINY + ["--out", str(tmp_path)]) == 0
    report = json.loads(next(tmp_path.glob("gpu_smoke-*.json")).read_text())
    rows = {r["name"]: r for r in report["configs"]}
    assert set(rows) == set(gpu_smoke.SMOKE_CONFIGS)
    for r in rows.values():
        assert r["loss_finite"] and r["ok"] and r["steps"] == 4
        assert r["train_frames_per_s"] > 0 and r["dev_frames_per_s"] > 0
        assert r["wer_device"] == r["wer_cpu"]                  # the same checkpoint, decoded twice
        assert r["hyps_equal"] == "4/4"                         # 2 batches x batch 2, every hypothesis compared
    assert "| VAC baseline (BiLSTM) |" in capsys.readouterr().out


def test_a_wer_that_differs_from_the_cpu_fails(gpu_smoke, tmp_path, monkeypatch, capsys):
    real, calls = gpu_smoke.dev_pass, []

    def device_off_by_a_point(measured, state, device, batches):
        """smoke() decodes on the device first, then on the CPU: shift the first of each pair."""
        calls.append(device)
        result = real(measured, state, device, batches)
        return {**result, "wer": result["wer"] + 0.01} if len(calls) % 2 else result

    monkeypatch.setattr(gpu_smoke, "dev_pass", device_off_by_a_point)
    assert gpu_smoke.main(TINY[:3] + ["--steps", "1", "--train-batches", "1", "--frames", "12",
                                      "--out", str(tmp_path)]) == 1
    assert len(calls) == 4
    assert "WER differs from the CPU's" in capsys.readouterr().err
