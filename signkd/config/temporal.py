"""The temporal layer specs of model.visual.temporal ('K5', 'P2', ...): parsing, the stack's
stride and receptive field, and the edge padding of model.visual.temporal_pad."""
from __future__ import annotations

import re

from signkd.config.messages import ConfigError, _show


def parse_temporal_spec(spec: str) -> tuple[str, int]:
    """'K5' -> ('K', 5) (Conv1d kernel 5), 'P2' -> ('P', 2) (MaxPool 2)."""
    if not isinstance(spec, str) or not re.fullmatch(r"[KP][0-9]{1,4}", spec) or int(spec[1:]) < 1:
        raise ConfigError(f"model.visual.temporal: {_show(spec)} is not a layer spec like 'K5' or 'P2'")
    return spec[0], int(spec[1:])


def temporal_geometry(specs) -> tuple[int, int]:
    """(stride S, receptive field R) in frames of a temporal spec list (['K5', 'P2', ...] or parsed
    pairs): output step t of the conv stack sees input frames [t*S, t*S + R)."""
    stride, field_ = 1, 1
    for spec in specs:
        kind, size = parse_temporal_spec(spec) if isinstance(spec, str) else spec
        field_ += (size - 1) * stride
        if kind == "P":
            stride *= size
    return stride, field_


def temporal_padding(specs, mode: str, multiple: int = 0) -> tuple[int, int, int]:
    """(left, overhang, multiple) of model.visual.temporal_pad for a temporal spec list: a clip of
    l frames becomes `left` copies of its first frame, the clip, then copies of its last frame up
    to ceil(l / multiple) * multiple + overhang frames. overhang = R - S (what the receptive field
    R reaches beyond the stride S), left = overhang // 2: half of it on each side, so step t is
    centred on frames [t*S, (t+1)*S) of the clip; multiple = `multiple` or S. "none": (0, 0, 1)."""
    if mode == "none":
        return 0, 0, 1
    if mode != "vac":
        raise ConfigError(f"model.visual.temporal_pad: expected 'vac' or 'none', got {_show(mode)}")
    stride, field_ = temporal_geometry(specs)
    multiple = multiple or stride
    if multiple < 0 or multiple % stride:
        raise ConfigError(f"model.visual.temporal_pad_multiple: {multiple} is not a multiple of the temporal "
                          f"conv's stride {stride} (model.visual.temporal); use 0 (= the stride) or a multiple")
    overhang = field_ - stride
    return overhang // 2, overhang, multiple


def padded_length(frames: int, specs, mode: str, multiple: int = 0) -> int:
    """Frames a clip of `frames` frames has after model.visual.temporal_pad (0 stays 0: there is
    no frame to copy)."""
    left, overhang, multiple = temporal_padding(specs, mode, multiple)
    if mode == "none" or frames <= 0:
        return frames
    return -(-frames // multiple) * multiple + overhang
