"""Training step time on this CPU, float32 vs `train.cpu_bf16` (bfloat16 autocast of the forward),
for the Gloss2Text teacher of `configs/phoenix2014t/gloss2text.yaml` and the 512-wide geometry of
Yin & Read (2020).

What is timed is one optimiser step exactly as the trainer runs it (forward, label-smoothed
cross-entropy in float32, backward, gradient clipping, Adam) on batches shaped like PHOENIX-2014-T
(32 sentences, ~12 glosses -> ~14 words, 1.1k glosses, 2.9k words). Weights and tokens are random:
speed does not depend on them. The two precisions take turns in every round and each number is
the best of --repeats rounds, because the machine is shared and noisy; the ratio is what to read.
bfloat16 is fast only where the CPU has BF16 units (AVX512-BF16 or AMX); elsewhere it is emulated.

    python benchmarks/bench_train_precision.py [--threads 1] [--steps 10] [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.hardware import cpu_has_bf16  # noqa: E402

GLOSSES, WORDS = 1_100, 2_900
GEOMETRIES = {   # name -> (hidden, heads, ff)
    "gloss2text.yaml (256 wide)": (256, 4, 1024),
    "Yin & Read (512 wide)": (512, 8, 2048),
}


def build(hidden: int, heads: int, ff: int):
    from signkd.config import load_config
    from signkd.models.teachers import Gloss2TextTeacher

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs/phoenix2014t/gloss2text.yaml",
                      [f"model.hidden={hidden}", f"model.text_teacher_encoder.heads={heads}",
                       f"model.text_teacher_encoder.ff={ff}", f"model.teacher_decoder.heads={heads}",
                       f"model.teacher_decoder.ff={ff}"])
    torch.manual_seed(0)
    model = Gloss2TextTeacher(cfg.model, GLOSSES, WORDS).train()
    return model, torch.optim.Adam(model.parameters(), lr=1e-4), cfg.loss.label_smoothing


def batches(n: int, batch: int = 32, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        src_len = torch.randint(6, 19, (batch,), generator=g)
        tgt_len = (src_len.float() * 1.2).long() + 1
        src = torch.randint(4, GLOSSES, (batch, int(src_len.max())), generator=g)
        tgt = torch.randint(4, WORDS, (batch, int(tgt_len.max()) + 1), generator=g)
        out.append((src, src_len, tgt[:, :-1], tgt[:, 1:], tgt_len))
    return out


def train_steps(model, optimizer, smoothing: float, data: list, bf16: bool) -> float:
    """Seconds per optimiser step over data, the trainer's step (signkd.training.trainer)."""
    from signkd.data.batch import lengths_to_mask
    from signkd.losses import token_cross_entropy

    start = time.perf_counter()
    for src, src_len, dec_in, dec_out, dec_len in data:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            logits = model(src, src_len, dec_in, dec_len)["word_logits"]
        loss = token_cross_entropy(logits, dec_out, lengths_to_mask(dec_len, dec_out.shape[1]), smoothing)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / len(data)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (the text benchmark trains on one each)")
    p.add_argument("--steps", type=int, default=10, help="optimiser steps per timing")
    p.add_argument("--repeats", type=int, default=3, help="rounds; each number is the best round")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = batches(args.steps)
    print(f"CPU BF16 units: {'yes' if cpu_has_bf16() else 'no (bfloat16 is emulated: expect a slowdown)'}; "
          f"threads {args.threads}; batch 32 sentences; best of {args.repeats} x {args.steps} steps")
    print("| model | float32 s/step | bfloat16 s/step | speed-up |\n|---|---|---|---|")
    for name, geometry in GEOMETRIES.items():
        model, optimizer, smoothing = build(*geometry)
        train_steps(model, optimizer, smoothing, data[:2], False)    # warm-up (allocations, oneDNN kernels)
        train_steps(model, optimizer, smoothing, data[:2], True)
        best = {False: float("inf"), True: float("inf")}
        for _ in range(args.repeats):
            for bf16 in (False, True):                               # take turns: shared-machine noise hits both
                best[bf16] = min(best[bf16], train_steps(model, optimizer, smoothing, data, bf16))
        print(f"| {name} | {best[False]:.3f} | {best[True]:.3f} | {best[False] / best[True]:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
