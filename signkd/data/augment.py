"""The original's augmentation (VAC): temporal rescaling, one random crop and one horizontal flip
for the whole clip at train time, a centre crop at test time, then normalisation.

Why per-sample random generators: augmentation draws from ``numpy.random.default_rng([seed,
epoch, index])``, so a clip's augmentation does not depend on DataLoader workers, ranks or how
far a run got before it was interrupted; that is what makes `--resume` and DDP reproducible.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from signkd.errors import DataError


def temporal_rescale_indices(n: int, ratio: float, rng: np.random.Generator, *, min_len: int = 1,
                             max_len: int = 0) -> np.ndarray:
    """The original's TemporalRescale: new length = floor(n * U(1-r, 1+r)), clamped to
    [min_len, max_len]; frames drawn without replacement when shrinking and with replacement when
    growing, then sorted. (The original also rounds up to a multiple of 4 for VAC's padding
    scheme; our collation pads with lengths instead, so we do not.)"""
    if ratio <= 0 or n <= 0:
        return np.arange(n)
    new = int(n * rng.uniform(1.0 - ratio, 1.0 + ratio))
    if max_len > 0:
        new = min(new, max_len)
    new = max(new, min_len, 1)
    if new == n:
        return np.arange(n)
    idx = rng.choice(n, size=new, replace=new > n)
    return np.sort(idx)


class ClipTransform:
    """uint8 frames (T, H, W, 3) -> normalised float clip (T, 3, h, w).

    Train: temporal rescale, one random crop offset for the whole clip, horizontal flip of the
    whole clip with probability `flip`. Eval: centre crop only. Normalisation (x/255 - mean)/std;
    the defaults mean = std = 0.5 give the original's x/127.5 - 1."""

    def __init__(self, augment, train: bool):
        self.crop = int(augment.crop)
        self.flip = float(augment.flip)
        self.rescale = float(augment.temporal_rescale)
        self.min_frames = int(augment.min_frames)
        self.max_frames = int(augment.max_frames)
        self.train = train
        if len(augment.mean) != 3 or len(augment.std) != 3 or any(s <= 0 for s in augment.std):
            raise DataError(f"data.augment: mean/std need 3 values (std > 0), got {augment.mean} / {augment.std}")
        self.mean = torch.tensor(augment.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(augment.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

    def frame_indices(self, n: int, rng: Optional[np.random.Generator], min_len: int = 1) -> np.ndarray:
        """Which frames to read (decided before reading, so skipped frames are never decoded)."""
        if not self.train or rng is None:
            return np.arange(n)
        return temporal_rescale_indices(n, self.rescale, rng, min_len=max(min_len, self.min_frames),
                                        max_len=self.max_frames)

    def __call__(self, frames: np.ndarray, rng: Optional[np.random.Generator] = None) -> torch.Tensor:
        # frames: (T, H, W, 3) uint8 -> (T, 3, h, w) float32
        t, h, w, _ = frames.shape
        if self.crop > 0:
            if self.crop > h or self.crop > w:
                raise DataError(f"data.augment.crop: {self.crop} is larger than the {h}x{w} frames; "
                                "lower it or set data.augment.resize")
            if self.train and rng is not None:
                top = int(rng.integers(0, h - self.crop + 1))
                left = int(rng.integers(0, w - self.crop + 1))
            else:
                top, left = (h - self.crop) // 2, (w - self.crop) // 2
            frames = frames[:, top: top + self.crop, left: left + self.crop]
        flip = self.train and rng is not None and self.flip > 0 and rng.random() < self.flip
        clip = torch.from_numpy(np.ascontiguousarray(frames))                     # (T, h, w, 3) uint8
        if flip:
            clip = clip.flip(2)
        # permute while still uint8 (4x fewer bytes to move), then normalise in place
        clip = clip.permute(0, 3, 1, 2).contiguous().float()                      # (T, 3, h, w)
        return clip.sub_(self.mean).mul_(self.inv_std)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's augmentation in one epoch (see the module docstring)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, epoch, index])
