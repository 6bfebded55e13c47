"""The temporal conv's geometry, without torch: how many output steps a clip of n frames gives,
which frames each step sees, and the VAC edge padding (`model.visual.temporal_pad`).

Why one torch-free owner: the model (`signkd.models.visual`), the CTC-feasibility filter of the
data layer, the config check, windowed inference, the ONNX export's metadata and the demo
report's plots all need the same arithmetic, and the data layer and the config must not import
the model for it. `TemporalSpec.from_config(cfg.model.visual)` gives every one of them the same
answer; `signkd.models.visual.VisualFrontEnd` builds its layers and its padding from it.

A layout is a list of layer letters with a window size (``[K5, P2, K5]``). Each letter is one row
of `LAYER_KINDS`: a window of `size` frames moved by a stride of 1 (a convolution) or of `size`
(a pooling), so every length, reach and centre below follows from (size, stride) alone. The
torch layer each letter builds is in `signkd.models.visual.TEMPORAL_BLOCKS`.

Lengths may be ints or integer tensors (element-wise): only `-`, `+`, `*`, `//` and `>` are used.
"""
from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from signkd.errors import ConfigError


class LayerKind(NamedTuple):
    what: str           # the torch layer a letter builds (signkd.models.visual.TEMPORAL_BLOCKS)
    pooling: bool       # a window of k frames moves by k (a pooling), else by 1 (a convolution)


LAYER_KINDS = {
    "K": LayerKind("Conv1d(kernel k, no padding) + BatchNorm + ReLU", pooling=False),
    "P": LayerKind("MaxPool1d(k)", pooling=True),
}
PAD_MODES = ("vac", "none")

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


class TemporalLayer(NamedTuple):
    """One layer letter and its window size: ``TemporalLayer("K", 5)`` is ``K5``."""
    kind: str
    size: int

    @property
    def stride(self) -> int:
        return self.size if LAYER_KINDS[self.kind].pooling else 1

    @property
    def name(self) -> str:
        return f"{self.kind}{self.size}"

    def output_length(self, n):
        """Steps out of n steps in (may be <= 0): windows of `size` moved by `stride`, no padding."""
        return (n - self.size) // self.stride + 1


def parse_layer(spec: str) -> TemporalLayer:
    """'K5' -> TemporalLayer('K', 5); anything else is a ConfigError naming model.visual.temporal."""
    pattern = f"[{''.join(LAYER_KINDS)}][0-9]{{1,4}}"
    if not isinstance(spec, str) or not re.fullmatch(pattern, spec) or int(spec[1:]) < 1:
        raise ConfigError(f"model.visual.temporal: {_SHORT.repr(spec)} is not a layer spec like 'K5' or 'P2'")
    return TemporalLayer(spec[0], int(spec[1:]))


@dataclass(frozen=True)
class TemporalSpec:
    """model.visual.temporal (layers), temporal_pad and temporal_pad_multiple, checked on
    construction. Output step t of the layers sees padded frames [t*S, t*S + R) (stride S,
    receptive field R)."""
    layers: tuple[TemporalLayer, ...]
    pad: str = "none"
    pad_multiple: int = 0            # as configured: 0 = the stride

    @classmethod
    def parse(cls, specs: Sequence[str], pad: str = "none", pad_multiple: int = 0) -> "TemporalSpec":
        return cls(tuple(parse_layer(s) for s in specs), pad, pad_multiple)

    @classmethod
    def from_config(cls, visual) -> "TemporalSpec":
        """From a `signkd.config.VisualConfig` (or anything with its three temporal fields)."""
        return cls.parse(visual.temporal, visual.temporal_pad, visual.temporal_pad_multiple)

    def __post_init__(self):
        if self.pad not in PAD_MODES:
            raise ConfigError(f"model.visual.temporal_pad: expected 'vac' or 'none', got {_SHORT.repr(self.pad)}")
        if self.pad != "none" and (self.pad_multiple < 0 or self.pad_block % self.stride):
            raise ConfigError(f"model.visual.temporal_pad_multiple: {self.pad_multiple} is not a multiple of the "
                              f"temporal conv's stride {self.stride} (model.visual.temporal); use 0 (= the stride) "
                              "or a multiple")

    # ------------------------------------------------------------------ the layers

    @property
    def names(self) -> list[str]:
        """The config's spelling: ['K5', 'P2', 'K5']."""
        return [layer.name for layer in self.layers]

    @property
    def stride(self) -> int:
        """S: frames between the starts of consecutive output steps."""
        stride = 1
        for layer in self.layers:
            stride *= layer.stride
        return stride

    @property
    def receptive_field(self) -> int:
        """R: frames one output step sees."""
        stride, field_ = 1, 1
        for layer in self.layers:
            field_ += (layer.size - 1) * stride
            stride *= layer.stride
        return field_

    def conv_output_length(self, n):
        """Output steps of the layers over n frames as they come (padding already applied)."""
        for layer in self.layers:
            n = layer.output_length(n)
        return n

    @property
    def min_conv_input_length(self) -> int:
        """Fewest frames the layers turn into one output step."""
        n = 1
        for layer in reversed(self.layers):
            n = (n - 1) * layer.stride + layer.size
        return n

    # ------------------------------------------------------------------ the edge padding

    @property
    def pad_block(self) -> int:
        """M: a padded clip's length, less the overhang, is a multiple of M (temporal_pad_multiple or S)."""
        return self.pad_multiple or self.stride

    @property
    def pad_overhang(self) -> int:
        """R - S: what the receptive field reaches beyond the stride (0 without padding)."""
        return 0 if self.pad == "none" else self.receptive_field - self.stride

    @property
    def pad_left(self) -> int:
        """Copies of a clip's first frame before it: half the overhang, so step t is centred on
        frames [t*S, (t+1)*S) of the clip."""
        return self.pad_overhang // 2

    def padded_length(self, n):
        """Frames of a clip of n frames after the padding: ceil(n / M) * M + R - S (VAC's
        collate), the clip itself without padding; a 0-frame clip stays 0 (no frame to copy)."""
        if self.pad == "none":
            return n
        block = self.pad_block
        return (n + block - 1) // block * block + self.pad_overhang * (n > 0)

    # ------------------------------------------------------------------ a clip's steps

    def output_length(self, n):
        """Output steps T' of a clip of n frames, padding included (may be <= 0 without it)."""
        return self.conv_output_length(self.padded_length(n))

    @property
    def min_input_length(self) -> int:
        """Fewest clip frames that give one output step (1 with padding)."""
        return next(n for n in range(1, self.min_conv_input_length + 1) if self.output_length(n) >= 1)

    def step_start(self, t: int) -> float:
        """Clip frame where output step t's share of the clip starts: step t covers frames
        [step_start(t), step_start(t + 1)), the middle S of the R frames it sees."""
        return t * self.stride + ((self.receptive_field - self.stride) / 2 - self.pad_left)

    def step_centre(self, t: int) -> float:
        """Clip frame at the centre of output step t's receptive field (a frame index, so
        (R - 1) / 2 past its first frame)."""
        return t * self.stride + (self.receptive_field - 1) / 2 - self.pad_left
