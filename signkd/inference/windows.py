"""The temporal conv + sequence encoder over overlapping windows of a long clip's frame features,
stitched into one clip's outputs, so memory stays bounded however long the video is.

Windowed equals whole-clip where it can, and says where it cannot. Windows start at multiples of
the temporal stride S, so every window's temporal-conv grid coincides with the whole clip's;
consecutive windows overlap by the conv's receptive field, so each kept step sees exactly the
frames it sees in the whole clip: conv outputs are exact. The sequence encoder is not local: a
window keeps only its central steps and throws away `context` frames' worth of steps at each
inner edge, which the BiLSTM uses to warm its state up (forward direction from the left, backward
from the right). An LSTM forgets its initial state within a few dozen steps, so with the default
context (128 frames ≈ 5 s each side) the stitched posteriors match the whole-clip ones to ~1e-5
after training; it is an approximation, exact only when one window holds the clip. A Transformer
encoder also sees window-relative positions, so keep its windows near the clip lengths it was
trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import torch

from signkd.errors import DataError, SignkdError

DEFAULT_WINDOW = 1024       # frames per temporal window (after the frame interval)
DEFAULT_CONTEXT = 128       # frames of sequence context kept on each inner window edge


@dataclass
class WindowPlan:
    """Windows of `window` frames whose starts are `step` frames apart (a multiple of the stride
    S), so neighbours share `window - step` frames; each keeps its output steps except
    `context_steps` at every inner edge."""
    window: int
    step: int
    context_steps: int
    stride: int


def plan_windows(window: int, context: int, stride: int, output_length: Callable[[int], int]) -> WindowPlan:
    """Context is given in frames and turned into whole output steps; it shrinks (to what fits)
    when the window is too small to keep at least one step besides it."""
    out = output_length(window)
    if out < 1:
        raise SignkdError(f"--window: {window} frames give no output step; this model needs more frames per window")
    steps = min(max(0, math.ceil(context / stride)), (out - 1) // 2)
    return WindowPlan(window, (out - 2 * steps) * stride, steps, stride)


def stitch_windows(features: Iterable[torch.Tensor], run: Callable[[torch.Tensor], dict],
                   output_length: Callable[[int], int], plan: WindowPlan,
                   where: str = "clip") -> dict[str, torch.Tensor]:
    """Stream per-frame features (chunks of (n, D)) through `run` over overlapping windows.

    run((1, n, D)) -> {name: (n', X)} for n' = output_length(n) steps. Returns {name: (T', X)}
    with T' = output_length(total frames), the same length as one whole-clip call. Window k
    starts at frame k * step, so its step j is whole-clip step k * step / S + j."""
    buf: Optional[torch.Tensor] = None        # (n, D) frames not yet fully used
    start = 0                                 # whole-clip index of buf[0]
    kept = 0                                  # next whole-clip step to fill
    pieces: dict[str, list[torch.Tensor]] = {}

    def take(chunk: torch.Tensor, last: bool) -> None:
        nonlocal kept
        out = run(chunk[None])
        first = start // plan.stride
        n_out = next(iter(out.values())).shape[0]
        hi = first + n_out if last else first + n_out - plan.context_steps
        for name, value in out.items():
            pieces.setdefault(name, []).append(value[kept - first: hi - first])
        kept = hi

    for chunk in features:
        buf = chunk if buf is None else torch.cat([buf, chunk])
        while buf.shape[0] > plan.window:     # more frames follow this window: not the last one
            take(buf[: plan.window], last=False)
            buf = buf[plan.step:]
            start += plan.step
    total = output_length(start + (0 if buf is None else buf.shape[0]))
    if buf is None or total < 1:
        raise DataError(f"{where}: {start + (0 if buf is None else buf.shape[0])} frames (after the frame interval) "
                        f"are too short for this model's temporal conv")
    take(buf, last=True)
    result = {name: torch.cat(parts) for name, parts in pieces.items()}
    assert kept == total, (kept, total)       # the stitching covered every step exactly once
    return result
