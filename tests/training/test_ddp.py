"""Two processes under torchrun (gloo, CPU) against one process with the same global batch.

What is identical by construction: the global batches and their order (the sampler cuts global
batches and hands each rank its slice), each clip's augmentation (drawn from seed/epoch/index),
the BatchNorm statistics (train.sync_bn all-reduces them over the ranks, also on CPU) and the
gradient (DDP averages the per-rank batch means of equal-sized halves = the global batch mean).

Documented tolerance, and why: floating-point sums run in a different order in two processes,
so the weights agree to about 1e-3 relative after a few Adam steps, not bit for bit. Adam turns
the pure rounding noise on parameters whose true gradient is zero (the biases of convolutions
followed by BatchNorm) into full-size steps of the learning rate. Losses agree to 1e-3 relative,
and the dev WER may differ by at most one reference word (an arg-max flip); in practice it is equal.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import REPO, TINY_CONFIG
from signkd.cli import main as cli_main


def _torchrun() -> list[str]:
    exe = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tiny_corpus, tiny_trained, tmp_path):
    start = tiny_trained / "best.pt"
    common = ["--load-weights", str(start), "--set", f"data.root={tiny_corpus}", "--set", "train.epochs=2",
              "--set", "train.max_steps_per_epoch=3", "--set", "train.sync_bn=true", "--set", "train.test_at_end=false",
              "--set", "train.optim.lr=1.0e-3"]
    two = tmp_path / "two"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    proc = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "signkd", "train",
                           str(TINY_CONFIG), *common, "--set", "data.batch_size=2", "--work-dir", str(two)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = tmp_path / "one"
    assert cli_main(["train", str(TINY_CONFIG), *common, "--set", "data.batch_size=4", "--work-dir", str(one)]) == 0

    m2 = json.loads((two / "metrics.json").read_text())
    m1 = json.loads((one / "metrics.json").read_text())
    assert len(m2["history"]) == len(m1["history"]) == 2
    for r2, r1 in zip(m2["history"], m1["history"]):
        assert r2["train"]["batches"] == r1["train"]["batches"] == 3
        assert r2["train"]["loss"] == pytest.approx(r1["train"]["loss"], rel=1e-3)
        d2, d1 = r2["dev"], r1["dev"]
        assert d2["ref_words"] == d1["ref_words"] and d2["utterances"] == d1["utterances"]  # every dev sample once
        assert abs(d2["wer"] - d1["wer"]) <= 100.0 / d1["ref_words"] + 1e-9
    a = torch.load(two / "last.pt", weights_only=True)["model"]
    b = torch.load(one / "last.pt", weights_only=True)["model"]
    num = sum(float(((a[k] - b[k]) ** 2).sum()) for k in b if b[k].is_floating_point())
    den = sum(float((b[k] ** 2).sum()) for k in b if b[k].is_floating_point())
    assert math.sqrt(num / den) < 1e-2
    # only rank 0 writes: one log line per epoch, one set of outputs
    log = (two / "train.log").read_text().splitlines()
    assert sum(line.startswith("epoch ") for line in log) == 2
    assert (two / "hypotheses" / "dev.ctm").is_file() and not list(two.glob(".*tmp*"))


def _sync_bn_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    from signkd.models.visual import MaskedBatchNorm1d
    from signkd.training.sync_bn import convert_sync_batchnorm

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    x2d, x1d, mask = torch.randn(8, 3, 4, 4), torch.randn(4, 3, 6), torch.rand(4, 6) > 0.3
    bn2d, bn1d = nn.BatchNorm2d(3), MaskedBatchNorm1d(3)
    convert_sync_batchnorm(bn2d), convert_sync_batchnorm(bn1d)
    a = x2d[rank * 4:(rank + 1) * 4].clone().requires_grad_()
    b = x1d[rank * 2:(rank + 1) * 2].clone().requires_grad_()
    weights = torch.arange(1.0, 4.0).view(1, 3, 1)  # a loss that is not symmetric in the channels
    loss = (bn2d(a) ** 2 * weights[..., None]).sum() + ((bn1d(b, mask[rank * 2:(rank + 1) * 2]) * weights) ** 3).sum()
    loss.backward()
    torch.save({"a": a.grad, "b": b.grad, "rm2": bn2d.running_var, "rm1": bn1d.running_mean}, f"{out_file}.{rank}")
    dist.destroy_process_group()


def test_sync_batchnorm_on_gloo_equals_one_process_with_the_whole_batch(tmp_path):
    import torch.multiprocessing as mp

    from signkd.models.visual import MaskedBatchNorm1d

    # fork: the children need nothing re-imported (spawn would re-import pytest and this module)
    mp.start_processes(_sync_bn_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "out")), nprocs=2,
                       join=True, start_method="fork")
    torch.manual_seed(0)
    x2d, x1d, mask = torch.randn(8, 3, 4, 4), torch.randn(4, 3, 6), torch.rand(4, 6) > 0.3
    bn2d, bn1d = nn.BatchNorm2d(3), MaskedBatchNorm1d(3)
    a, b = x2d.clone().requires_grad_(), x1d.clone().requires_grad_()
    weights = torch.arange(1.0, 4.0).view(1, 3, 1)
    loss = (bn2d(a) ** 2 * weights[..., None]).sum() + ((bn1d(b, mask) * weights) ** 3).sum()
    loss.backward()
    parts = [torch.load(f"{tmp_path / 'out'}.{r}", weights_only=True) for r in (0, 1)]
    torch.testing.assert_close(torch.cat([p["a"] for p in parts]), a.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.cat([p["b"] for p in parts]), b.grad, rtol=1e-4, atol=1e-5)
    for p in parts:
        torch.testing.assert_close(p["rm2"], bn2d.running_var)
        torch.testing.assert_close(p["rm1"], bn1d.running_mean)


def _tally_worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    from signkd.training.distributed import DistInfo
    from signkd.training.epoch_stats import EpochTally

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    tally = EpochTally()
    if rank == 0:
        for loss, a, b in ((3.0, 1.0, 2.0), (5.0, 3.0, 2.0)):
            tally.add(torch.tensor(loss), {"A": torch.tensor(a), "B": torch.tensor(b), "total": torch.tensor(loss)},
                      frames=10)
    else:   # rank 1 ran one batch whose terms were only B, and skipped a non-finite one
        tally.add(torch.tensor(4.0), {"B": torch.tensor(4.0), "total": torch.tensor(4.0)}, frames=6)
        tally.nan_skipped += 1
    torch.save(tally.reduce(DistInfo(rank=rank, world_size=world), seconds=2.0), f"{out_file}.{rank}")
    dist.destroy_process_group()


def test_epoch_statistics_are_reduced_over_ranks_by_name(tmp_path):
    """Ranks whose batches reported different terms still agree on every term's mean."""
    import torch.multiprocessing as mp

    mp.start_processes(_tally_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "out")), nprocs=2,
                       join=True, start_method="fork")
    stats = [torch.load(f"{tmp_path / 'out'}.{r}", weights_only=True) for r in (0, 1)]
    assert stats[0] == stats[1]
    assert stats[0] == {"A": 4.0 / 3, "B": 8.0 / 3, "loss": 12.0 / 3, "batches": 3 // 2, "frames_per_s": 26 / 2.0,
                        "nan_skipped": 1, "seconds": 2.0}
