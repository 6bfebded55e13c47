"""Visual front end: torchvision-compatible ResNet18, small CNN, temporal conv lengths, padding."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from signkd.config import ConfigError, VisualConfig
from signkd.data.batch import lengths_to_mask
from signkd.errors import CheckpointError, DataError
from signkd.models.visual import (TEMPORAL_BLOCKS, MaskedBatchNorm1d, ResNet18, SmallCNN, TemporalConv,
                                  TemporalEdgePad, VisualFrontEnd, load_resnet18_weights)
from signkd.temporal import LAYER_KINDS, TemporalSpec

# torchvision.models.resnet18().state_dict().keys(), in order (torchvision 0.x, any recent version).
TORCHVISION_RESNET18_KEYS = """
conv1.weight bn1.weight bn1.bias bn1.running_mean bn1.running_var bn1.num_batches_tracked
layer1.0.conv1.weight layer1.0.bn1.weight layer1.0.bn1.bias layer1.0.bn1.running_mean
layer1.0.bn1.running_var layer1.0.bn1.num_batches_tracked layer1.0.conv2.weight layer1.0.bn2.weight
layer1.0.bn2.bias layer1.0.bn2.running_mean layer1.0.bn2.running_var layer1.0.bn2.num_batches_tracked
layer1.1.conv1.weight layer1.1.bn1.weight layer1.1.bn1.bias layer1.1.bn1.running_mean
layer1.1.bn1.running_var layer1.1.bn1.num_batches_tracked layer1.1.conv2.weight layer1.1.bn2.weight
layer1.1.bn2.bias layer1.1.bn2.running_mean layer1.1.bn2.running_var layer1.1.bn2.num_batches_tracked
layer2.0.conv1.weight layer2.0.bn1.weight layer2.0.bn1.bias layer2.0.bn1.running_mean
layer2.0.bn1.running_var layer2.0.bn1.num_batches_tracked layer2.0.conv2.weight layer2.0.bn2.weight
layer2.0.bn2.bias layer2.0.bn2.running_mean layer2.0.bn2.running_var layer2.0.bn2.num_batches_tracked
layer2.0.downsample.0.weight layer2.0.downsample.1.weight layer2.0.downsample.1.bias
layer2.0.downsample.1.running_mean layer2.0.downsample.1.running_var
layer2.0.downsample.1.num_batches_tracked
layer2.1.conv1.weight layer2.1.bn1.weight layer2.1.bn1.bias layer2.1.bn1.running_mean
layer2.1.bn1.running_var layer2.1.bn1.num_batches_tracked layer2.1.conv2.weight layer2.1.bn2.weight
layer2.1.bn2.bias layer2.1.bn2.running_mean layer2.1.bn2.running_var layer2.1.bn2.num_batches_tracked
layer3.0.conv1.weight layer3.0.bn1.weight layer3.0.bn1.bias layer3.0.bn1.running_mean
layer3.0.bn1.running_var layer3.0.bn1.num_batches_tracked layer3.0.conv2.weight layer3.0.bn2.weight
layer3.0.bn2.bias layer3.0.bn2.running_mean layer3.0.bn2.running_var layer3.0.bn2.num_batches_tracked
layer3.0.downsample.0.weight layer3.0.downsample.1.weight layer3.0.downsample.1.bias
layer3.0.downsample.1.running_mean layer3.0.downsample.1.running_var
layer3.0.downsample.1.num_batches_tracked
layer3.1.conv1.weight layer3.1.bn1.weight layer3.1.bn1.bias layer3.1.bn1.running_mean
layer3.1.bn1.running_var layer3.1.bn1.num_batches_tracked layer3.1.conv2.weight layer3.1.bn2.weight
layer3.1.bn2.bias layer3.1.bn2.running_mean layer3.1.bn2.running_var layer3.1.bn2.num_batches_tracked
layer4.0.conv1.weight layer4.0.bn1.weight layer4.0.bn1.bias layer4.0.bn1.running_mean
layer4.0.bn1.running_var layer4.0.bn1.num_batches_tracked layer4.0.conv2.weight layer4.0.bn2.weight
layer4.0.bn2.bias layer4.0.bn2.running_mean layer4.0.bn2.running_var layer4.0.bn2.num_batches_tracked
layer4.0.downsample.0.weight layer4.0.downsample.1.weight layer4.0.downsample.1.bias
layer4.0.downsample.1.running_mean layer4.0.downsample.1.running_var
layer4.0.downsample.1.num_batches_tracked
layer4.1.conv1.weight layer4.1.bn1.weight layer4.1.bn1.bias layer4.1.bn1.running_mean
layer4.1.bn1.running_var layer4.1.bn1.num_batches_tracked layer4.1.conv2.weight layer4.1.bn2.weight
layer4.1.bn2.bias layer4.1.bn2.running_mean layer4.1.bn2.running_var layer4.1.bn2.num_batches_tracked
fc.weight fc.bias
""".split()
TORCHVISION_RESNET18_PARAMETERS = 11_689_512   # sum of numel over torchvision resnet18().parameters()


def test_resnet18_state_dict_keys_equal_torchvision():
    model = ResNet18(num_classes=1000)
    assert list(model.state_dict().keys()) == TORCHVISION_RESNET18_KEYS
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_RESNET18_PARAMETERS
    headless = ResNet18()
    assert list(headless.state_dict().keys()) == TORCHVISION_RESNET18_KEYS[:-2]
    assert headless.out_dim == 512


def test_resnet18_output_is_512d_without_fc():
    torch.manual_seed(0)
    out = ResNet18().eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 512)


def test_torchvision_state_dict_loads_strictly_from_a_file(tmp_path):
    torch.manual_seed(0)
    source = ResNet18(num_classes=1000)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}  # old-style file
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    target = ResNet18()                                   # fc = identity: fc.* keys are dropped
    load_resnet18_weights(target, str(path))
    for key, value in target.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key


def test_wrong_weight_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(CheckpointError, match="not a torchvision resnet18"):
        load_resnet18_weights(ResNet18(), str(path))
    with pytest.raises(ConfigError, match="model.visual.pretrained"):
        load_resnet18_weights(ResNet18(), str(tmp_path / "missing.pth"))


def test_small_cnn_channels_from_config():
    cnn = SmallCNN([4, 8, 12])
    assert cnn(torch.randn(5, 3, 20, 24)).shape == (5, 12)
    with pytest.raises(ConfigError):
        SmallCNN([])


@pytest.mark.parametrize("specs", [["K5", "P2", "K5"], ["K5", "P2", "K5", "P2"], ["K3"], ["P2", "K3", "P3"]]
                         + [[f"{letter}3", f"{letter}2"] for letter in LAYER_KINDS])
def test_temporal_conv_output_lengths_match_the_layers(specs):
    """The spec's arithmetic is what the torch layers of every letter do, at every length."""
    torch.manual_seed(0)
    spec = TemporalSpec.parse(specs)
    conv = TemporalConv(spec, 6, 8).eval()
    for t in range(spec.min_conv_input_length, 40):
        x = torch.randn(1, t, 6)
        y, lengths = conv(x, torch.tensor([t]))
        assert y.shape[1] == int(lengths[0]) == int(conv.output_lengths(torch.tensor([t]))[0]), (specs, t)
        assert spec.conv_output_length(t) == y.shape[1] == conv.single(x).shape[1], (specs, t)
    assert int(conv.output_lengths(torch.tensor([spec.min_conv_input_length - 1]))[0]) < 1
    assert int(conv.output_lengths(torch.tensor([spec.min_conv_input_length]))[0]) == 1


def test_every_layer_letter_builds_a_torch_layer():
    assert set(TEMPORAL_BLOCKS) == set(LAYER_KINDS)


def frame_padded(video: torch.Tensor, lengths, left: int, multiple: int, overhang: int):
    """The original's collate on frames: `left` copies of each clip's first frame, the clip, copies
    of its last frame up to ceil(l / multiple) * multiple + overhang frames."""
    totals = [-(-int(n) // multiple) * multiple + overhang for n in lengths]
    out = video.new_zeros(len(totals), max(totals), *video.shape[2:])
    for b, (n, total) in enumerate(zip(lengths.tolist(), totals)):
        clip = video[b, :n]
        out[b, :total] = torch.cat([clip[:1].expand(left, *clip.shape[1:]), clip,
                                    clip[-1:].expand(total - left - n, *clip.shape[1:])])
    return out, torch.tensor(totals)


@pytest.mark.parametrize("specs, left, overhang, stride", [
    (["K5", "P2", "K5", "P2"], 6, 12, 4),     # VAC: 6 left, ceil(l/4)*4 + 12 in all
    (["K5", "P2", "K5"], 6, 12, 2),
    (["K3"], 1, 2, 1), (["K4"], 1, 3, 1), (["P2", "K3", "P3"], 2, 4, 6)])
def test_vac_edge_padding_follows_from_the_temporal_spec(specs, left, overhang, stride):
    """left = (R - S) // 2, total ceil(l / S) * S + R - S: every clip of l >= 1 frames gives
    ceil(l / S) steps; in eval mode, padding the CNN's features equals padding the frames."""
    pad = TemporalEdgePad(TemporalSpec.parse(specs, "vac"))
    assert (pad.spec.pad_left, pad.spec.pad_overhang, pad.spec.pad_block) == (left, overhang, stride)
    torch.manual_seed(0)
    cfg = VisualConfig(backbone="small", small_channels=[4], hidden=6, temporal=specs)
    front = VisualFrontEnd(cfg).eval()
    plain = VisualFrontEnd(VisualConfig(backbone="small", small_channels=[4], hidden=6, temporal=specs,
                                        temporal_pad="none")).eval()
    plain.load_state_dict(front.state_dict())
    lengths = torch.tensor([23, 1, 2, 9, 16, 17])
    video = torch.randn(6, 23, 3, 8, 8)
    with torch.no_grad():
        feats, steps = front(video, lengths)
        ref, ref_steps = plain(*frame_padded(video, lengths, left, stride, overhang))
    assert steps.tolist() == ref_steps.tolist() == [-(-n // stride) for n in lengths.tolist()]
    assert torch.allclose(feats, ref, atol=1e-6)
    assert front.output_lengths(lengths).tolist() == steps.tolist() and front.spec.min_input_length == 1
    single = pad.single(torch.randn(1, 9, 3))
    assert single.shape[1] == int(pad.lengths(torch.tensor([9]))[0])


def test_vac_padding_with_the_originals_multiple_of_4_under_k5_p2_k5():
    """The original's KD code kept VAC's ceil(l/4)*4 + 12 collate under K5-P2-K5: T' = 2 ceil(l/4)."""
    cfg = VisualConfig(backbone="small", small_channels=[4], hidden=6, temporal_pad_multiple=4)
    front = VisualFrontEnd(cfg)
    lengths = torch.arange(1, 60)
    assert front.pad.lengths(lengths).tolist() == [-(-n // 4) * 4 + 12 for n in lengths.tolist()]
    assert front.output_lengths(lengths).tolist() == [2 * -(-n // 4) for n in lengths.tolist()]
    with pytest.raises(ConfigError, match="temporal_pad_multiple: 3 is not a multiple of the temporal conv's stride 2"):
        TemporalSpec.parse(["K5", "P2", "K5"], "vac", 3)


def test_training_with_vac_padding_sends_the_copies_gradients_to_the_edge_frames():
    torch.manual_seed(0)
    front = VisualFrontEnd(VisualConfig(backbone="small", small_channels=[4], hidden=6)).train()
    video = torch.randn(2, 9, 3, 8, 8, requires_grad=True)
    feats, steps = front(video, torch.tensor([9, 3]))
    assert steps.tolist() == [5, 2] and torch.isfinite(feats).all()
    feats[1, :2].sum().backward()
    assert float(video.grad[1, :3].abs().sum()) > 0 and float(video.grad[1, 3:].abs().sum()) == 0.0


def test_default_temporal_spec_length_formula():
    conv = TemporalConv(TemporalSpec.parse(["K5", "P2", "K5"]), 4, 4)
    t = torch.arange(14, 120)
    assert torch.equal(conv.output_lengths(t), (t - 4) // 2 - 4)


@pytest.mark.parametrize("train", [False, True])
def test_temporal_conv_ignores_padding(train):
    torch.manual_seed(0)
    conv = TemporalConv(TemporalSpec.parse(["K5", "P2", "K5"]), 6, 8)
    conv.train(train)
    lengths = torch.tensor([30, 19])
    x = torch.randn(2, 30, 6)
    x[1, 19:] = 0
    y1, l1 = conv(x, lengths)
    x2 = torch.cat([x, torch.randn(2, 9, 6) * 100], 1)    # more padding, with garbage in it
    x2[1, 19:] = torch.randn(20, 6) * 100
    y2, l2 = conv(x2, lengths)
    assert torch.equal(l1, l2)
    mask = lengths_to_mask(l1, y1.shape[1])
    assert torch.allclose(y1[mask], y2[:, : y1.shape[1]][mask], atol=1e-5)
    assert float(y2.detach()[~lengths_to_mask(l2, y2.shape[1])].abs().sum()) == 0.0


def test_masked_batch_norm_uses_real_positions_only():
    torch.manual_seed(0)
    bn = MaskedBatchNorm1d(3)
    x = torch.randn(2, 3, 7)
    mask = lengths_to_mask(torch.tensor([7, 4]), 7)
    out = bn(x, mask)
    real = torch.cat([x[0], x[1, :, :4]], 1)              # (C, 11)
    ref_bn = nn.BatchNorm1d(3)
    ref = ref_bn(real[None])[0]
    assert torch.allclose(out[0], ref[:, :7], atol=1e-5) and torch.allclose(out[1, :, :4], ref[:, 7:], atol=1e-5)
    assert torch.allclose(bn.running_mean, ref_bn.running_mean, atol=1e-6)
    assert torch.allclose(bn.running_var, ref_bn.running_var, atol=1e-6)


class CountingCNN(nn.Module):
    """Stand-in frame CNN that records how many frames it saw."""

    out_dim = 3

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.shape[0])
        return x.mean(dim=(2, 3))


def test_front_end_runs_the_cnn_once_on_real_frames_only():
    cfg = VisualConfig(backbone="small", small_channels=[3], hidden=8, temporal_pad="none")   # conv expects 3-d frames
    front = VisualFrontEnd(cfg)
    front.cnn = CountingCNN()
    video = torch.randn(3, 20, 3, 8, 8)
    lengths = torch.tensor([20, 15, 14])
    video[1, 15:] = float("nan")                          # padding may hold anything
    video[2, 14:] = float("nan")
    frames = front.frame_features(video, lengths)
    assert front.cnn.seen == [49]
    assert frames.shape == (3, 20, 3) and torch.isfinite(frames).all()
    assert float(frames[1, 15:].abs().sum()) == 0.0
    feats, out_lengths = front(video, lengths)
    assert torch.isfinite(feats).all()
    assert out_lengths.tolist() == [4, 1, 1] and feats.shape == (3, 4, 8)


def test_front_end_shapes_with_resnet_and_small_cnn():
    torch.manual_seed(0)
    for backbone, dim in (("small", 8), ("resnet18", 512)):
        front = VisualFrontEnd(VisualConfig(backbone=backbone, small_channels=[4, 8], hidden=6, temporal_pad="none")).eval()
        assert front.cnn.out_dim == dim
        feats, lengths = front(torch.randn(2, 16, 3, 32, 32), torch.tensor([16, 14]))
        assert feats.shape == (2, 2, 6) and lengths.tolist() == [2, 1]


def test_too_short_clip_is_a_data_error():
    front = VisualFrontEnd(VisualConfig(backbone="small", small_channels=[4], hidden=8, temporal_pad="none"))
    with pytest.raises(DataError, match="needs >= 14 frames"):
        front(torch.randn(2, 20, 3, 8, 8), torch.tensor([20, 13]))


def test_pretrained_only_for_resnet():
    with pytest.raises(ConfigError, match="model.visual.pretrained"):
        VisualFrontEnd(VisualConfig(backbone="small", pretrained="imagenet"))
