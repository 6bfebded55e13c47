"""CTC prefix beam search: our NumPy implementation against flashlight-text (B=8, T=100,
V=1300, beam 10) on peaky, model-like log-probs: wall time, ratio, identical hypotheses.

    python benchmarks/bench_ctc_beam.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.decoding import DEFAULT_TOKEN_TOP_K, ctc_beam_search, ctc_greedy, flashlight_available  # noqa: E402

B, T, V, BEAM = 8, 100, 1300, 10


def model_like_log_probs(seed: int = 0) -> torch.Tensor:
    """(B, T, V): blank dominates most frames, a few labels compete on the others."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(B, T, V)) * 1.5
    blank_frames = rng.random((B, T)) < 0.6
    logits[..., 0] += np.where(blank_frames, 8.0, 0.0)
    label = rng.integers(1, V, size=(B, T))
    np.put_along_axis(logits, label[..., None], np.take_along_axis(logits, label[..., None], 2) + 6.0, 2)
    return torch.log_softmax(torch.tensor(logits, dtype=torch.float32), dim=-1)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> int:
    torch.set_num_threads(1)
    lp = model_like_log_probs()
    lengths = torch.full((B,), T)
    _, greedy_s = timed(lambda: ctc_greedy(lp, lengths))
    print(f"B={B} T={T} V={V} beam={BEAM}; greedy decoding takes {greedy_s * 1000:.1f} ms")
    if not flashlight_available():
        print("note: flashlight-text not installed (pip install flashlight-text); timing ours only")
    print(f"{'labels expanded per frame':28s} {'numpy s':>9s} {'flashlight s':>13s} {'ratio':>7s} {'identical':>10s}")
    ok = True
    for top_k in (None, DEFAULT_TOKEN_TOP_K, BEAM):
        ours, ours_s = timed(lambda: ctc_beam_search(lp, lengths, BEAM, impl="python", token_top_k=top_k))
        label = f"all {V}" if top_k is None else f"top {top_k}"
        label += " (default)" if top_k == DEFAULT_TOKEN_TOP_K else ""
        if flashlight_available():
            theirs, fl_s = timed(lambda: ctc_beam_search(lp, lengths, BEAM, impl="flashlight", token_top_k=top_k))
            same = ours == theirs
            ok &= same
            print(f"{label:28s} {ours_s:9.3f} {fl_s:13.3f} {ours_s / fl_s:7.2f} {'yes' if same else 'NO':>10s}")
        else:
            print(f"{label:28s} {ours_s:9.3f} {'-':>13s} {'-':>7s} {'-':>10s}")
    print("ratio = numpy time / flashlight time")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
