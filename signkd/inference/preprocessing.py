"""What training did to every eval frame, read from the checkpoint and applied with the very
functions training used (`signkd.data.video.resize_frame`, `ClipTransform` in eval mode), so a
user's video is seen exactly as the dev set was. Nothing is specified twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from signkd.errors import DataError


@dataclass
class Preprocessing:
    """What training did to every eval frame (checkpoint ``preprocessing``): resize (0 = keep),
    keep_aspect, centre crop (0 = none), mean/std in [0, 1] units, keep every n-th frame."""
    resize: int = 0
    keep_aspect: bool = False
    crop: int = 0
    mean: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    frame_interval: int = 1
    frame_size: Optional[list] = None   # [H, W] training read, when it did not resize (resize 0)

    @classmethod
    def from_checkpoint(cls, stored: dict, cfg) -> "Preprocessing":
        from signkd.data.preprocessing import preprocessing_of

        stored = stored or preprocessing_of(cfg)   # older files: same function on its config
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in stored.items() if k in names})

    def transform(self):
        """The eval ClipTransform: uint8 (T, H, W, 3) -> normalised (T, 3, h, w)."""
        from signkd.config import AugmentConfig
        from signkd.data.augment import ClipTransform

        augment = AugmentConfig(resize=self.resize, keep_aspect=self.keep_aspect, crop=self.crop,
                                mean=list(self.mean), std=list(self.std))
        return ClipTransform(augment, train=False)

    def frame_chunks(self, frames: Iterable[np.ndarray], chunk: int, where: str = "clip") -> Iterator[torch.Tensor]:
        """Raw frames -> normalised (n <= chunk, 3, h, w) tensors, keeping every n-th frame."""

        transform, buf = self.transform(), []
        for i, frame in enumerate(frames):
            if i % self.frame_interval:
                continue
            buf.append(self.fit(frame))
            if len(buf) == chunk:
                yield transform(_stack(buf, where))
                buf = []
        if buf:
            yield transform(_stack(buf, where))

    def fit(self, frame: np.ndarray) -> np.ndarray:
        """One raw frame at the size training saw: its resize, or -- when training kept its frames'
        own size -- the recorded training frame size (a 640 x 480 video centre-cropped to a
        32-pixel crop would show the model a sliver)."""
        from signkd.data.video import resize_frame

        if self.resize or not self.frame_size:
            return resize_frame(frame, self.resize, self.keep_aspect)
        h, w = self.frame_size
        if frame.shape[:2] == (h, w):
            return frame
        from PIL import Image

        return np.asarray(Image.fromarray(frame).resize((w, h), Image.LANCZOS))


def _stack(frames: list[np.ndarray], where: str) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DataError(f"{where}: frames of different sizes {sorted(shapes)} after this checkpoint's resize; "
                        "one clip needs one frame size")
    return np.stack(frames)
