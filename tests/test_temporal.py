"""The temporal conv's geometry (signkd.temporal): lengths, stride, receptive field, step
centres and the VAC edge padding, checked against a brute-force walk over the layers' windows."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from signkd.config import ConfigError, VisualConfig
from signkd.temporal import LAYER_KINDS, TemporalSpec

LAYOUTS = [["K5", "P2", "K5"], ["K5", "P2", "K5", "P2"], ["K3"], ["K4"], ["P2", "K3", "P3"], []]


def seen_frames(spec: TemporalSpec, t: int) -> range:
    """Input frames output step t depends on: each layer's step j reads its input's window
    [j * stride, j * stride + size), walked back from the output."""
    lo, hi = t, t + 1
    for layer in reversed(spec.layers):
        lo, hi = lo * layer.stride, (hi - 1) * layer.stride + layer.size
    return range(lo, hi)


def brute_output_length(spec: TemporalSpec, n: int) -> int:
    """Steps whose windows all fit in n frames."""
    t = 0
    while seen_frames(spec, t).stop <= n:
        t += 1
    return t


@pytest.mark.parametrize("specs", LAYOUTS)
def test_lengths_stride_and_receptive_field_follow_the_layer_windows(specs):
    spec = TemporalSpec.parse(specs)
    assert spec.names == specs
    for t in range(6):
        seen = seen_frames(spec, t)
        assert (seen.start, len(seen)) == (t * spec.stride, spec.receptive_field), (specs, t)
        assert spec.step_centre(t) == (seen.start + seen.stop - 1) / 2          # unpadded: no shift
    for n in range(0, 60):
        steps = spec.conv_output_length(n)
        assert max(steps, 0) == brute_output_length(spec, n), (specs, n)
        assert spec.output_length(n) == steps                                  # no padding
    assert spec.conv_output_length(spec.min_conv_input_length) == 1
    assert spec.conv_output_length(spec.min_conv_input_length - 1) < 1
    assert spec.min_input_length == spec.min_conv_input_length


def test_the_default_layout_in_numbers():
    spec = TemporalSpec.parse(["K5", "P2", "K5"])
    assert (spec.stride, spec.receptive_field, spec.min_conv_input_length) == (2, 14, 14)
    assert [spec.output_length(n) for n in (14, 15, 16, 30)] == [1, 1, 2, (30 - 4) // 2 - 4]


@pytest.mark.parametrize("specs", [s for s in LAYOUTS if s])
@pytest.mark.parametrize("multiple", [0, 2])
def test_vac_padding_gives_ceil_l_over_m_steps_centred_on_the_clip(specs, multiple):
    """Left pad (R - S) // 2, total ceil(l / M) * M + R - S: any clip of l >= 1 frames gives
    ceil(l / S) * (M / S) steps, the first one's share of the clip starting at frame 0."""
    stride = TemporalSpec.parse(specs).stride
    spec = TemporalSpec.parse(specs, "vac", multiple * stride)
    block = spec.pad_block
    assert block == (multiple or 1) * stride
    assert (spec.pad_overhang, spec.pad_left) == (spec.receptive_field - stride, (spec.receptive_field - stride) // 2)
    assert spec.min_input_length == 1 and spec.padded_length(0) == 0 and spec.output_length(0) < 1
    for n in range(1, 50):
        assert spec.padded_length(n) == -(-n // block) * block + spec.pad_overhang
        assert spec.output_length(n) == -(-n // block) * block // stride, (specs, n)
    if spec.pad_overhang % 2 == 0:
        assert spec.step_start(0) == 0.0 and spec.step_start(3) == 3 * stride
    for t in range(5):
        seen = seen_frames(spec, t)
        assert spec.step_centre(t) == (seen.start + seen.stop - 1) / 2 - spec.pad_left


def test_the_originals_padding_numbers():
    assert [TemporalSpec.parse(["K5", "P2", "K5"], "vac").output_length(n) for n in (1, 2, 3, 10, 30)] == [1, 1, 2, 5, 15]
    assert TemporalSpec.parse(["K5", "P2", "K5"], "vac", 4).output_length(10) == 6        # their 2 ceil(l/4)
    vac = TemporalSpec.parse(["K5", "P2", "K5", "P2"], "vac")                            # VAC's own: ceil(l/4)
    assert (vac.pad_left, vac.padded_length(30), vac.output_length(30)) == (6, 44, 8)


def test_tensor_lengths_give_the_int_answers_element_wise():
    spec = TemporalSpec.parse(["K5", "P2", "K5"], "vac", 4)
    lengths = torch.arange(0, 40)
    assert spec.padded_length(lengths).tolist() == [spec.padded_length(n) for n in range(40)]
    assert spec.output_length(lengths).tolist() == [spec.output_length(n) for n in range(40)]


def test_from_config_reads_the_three_fields():
    cfg = VisualConfig(temporal=["K3", "P2"], temporal_pad="vac", temporal_pad_multiple=4)
    assert TemporalSpec.from_config(cfg) == TemporalSpec.parse(["K3", "P2"], "vac", 4)


@pytest.mark.parametrize("args, message", [
    ((["K5", "Q2"],), "model.visual.temporal: 'Q2' is not a layer spec like 'K5' or 'P2'"),
    ((["K0"],), "model.visual.temporal: 'K0' is not a layer spec"),
    (([5],), "model.visual.temporal: 5 is not a layer spec"),
    ((["K5"], "same"), "model.visual.temporal_pad: expected 'vac' or 'none', got 'same'"),
    ((["K5", "P2", "K5"], "vac", 3), "model.visual.temporal_pad_multiple: 3 is not a multiple of the temporal "
                                      "conv's stride 2"),
])
def test_a_bad_layout_is_a_one_line_config_error(args, message):
    with pytest.raises(ConfigError, match=message):
        TemporalSpec.parse(*args)


def test_every_letter_parses_and_the_module_needs_no_torch():
    for letter in LAYER_KINDS:
        assert TemporalSpec.parse([f"{letter}3"]).layers[0].size == 3
    code = "import sys, signkd.temporal; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
