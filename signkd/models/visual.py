"""Visual front end: a per-frame 2D CNN, then a temporal convolution over the frame features.

Why our own ResNet18: torchvision is not a dependency, yet users want the ImageNet weights. The
module below uses torchvision's exact parameter/buffer names, so the official state dict loads
strictly. The CNN only ever sees each clip's real frames (the original's "masked_bn" trick), and
the temporal BatchNorm normalises with statistics of real positions only, so padding a batch
changes nothing a real frame sees.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from signkd.config import ConfigError, VisualConfig
from signkd.data.batch import lengths_to_mask
from signkd.errors import CheckpointError, DataError
from signkd.temporal import TemporalSpec

RESNET18_IMAGENET_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"


# --------------------------------------------------------------------------------------------
# 2D CNNs: (N, 3, H, W) -> (N, D)
# --------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (same attribute names: conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet18 with torchvision's names. ``num_classes=0`` replaces ``fc`` by the identity, so
    the output is the 512-d pooled feature (what the sign encoder uses)."""

    def __init__(self, num_classes: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes) if num_classes > 0 else nn.Identity()
        self.out_dim = num_classes if num_classes > 0 else 512
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 3, H, W) -> (N, out_dim)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def load_resnet18_weights(model: ResNet18, source: str) -> None:
    """Load torchvision ResNet18 weights: ``"imagenet"`` (downloaded once by torch.hub and cached)
    or a local ``.pth`` file. Loads strictly; the ``fc.*`` keys are dropped when ``fc`` is the
    identity. Missing ``num_batches_tracked`` buffers (old checkpoints) default to 0."""
    if source == "imagenet":
        try:
            state = torch.hub.load_state_dict_from_url(RESNET18_IMAGENET_URL, map_location="cpu", progress=True)
        except Exception as exc:  # network errors come in many types
            raise CheckpointError(f"model.visual.pretrained: could not download {RESNET18_IMAGENET_URL} "
                                  f"({type(exc).__name__}); download it yourself and give its path") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"model.visual.pretrained: {source!r} is neither 'imagenet' nor an existing file")
        from signkd.checkpoint import load_checkpoint

        state = load_checkpoint(path)   # weights_only, and one line for an empty or torn file
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"model.visual.pretrained: {source} is not a state dict of tensors")
    if isinstance(model.fc, nn.Identity):
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        state[key] = torch.as_tensor(state[key], dtype=torch.long)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise CheckpointError(f"model.visual.pretrained: {source} is not a torchvision resnet18 state dict "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


class SmallCNN(nn.Module):
    """A few stride-2 conv blocks + global average pooling: a frame encoder cheap enough for CPU
    runs on the synthetic corpus. ``channels=[32, 64, 128]`` gives a 128-d output."""

    def __init__(self, channels: list[int]):
        super().__init__()
        if not channels or any(c <= 0 for c in channels):
            raise ConfigError(f"model.visual.small_channels: expected positive channel counts, got {channels}")
        layers, in_ch = [], 3
        for ch in channels:
            layers += [nn.Conv2d(in_ch, ch, 3, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
            in_ch = ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 3, H, W) -> (N, out_dim)
        return torch.flatten(self.pool(self.features(x)), 1)


def build_frame_cnn(cfg: VisualConfig) -> nn.Module:
    if cfg.backbone == "resnet18":
        cnn = ResNet18(num_classes=0)
        if cfg.pretrained:
            load_resnet18_weights(cnn, cfg.pretrained)
        return cnn
    if cfg.backbone == "small":
        if cfg.pretrained:
            raise ConfigError("model.visual.pretrained: only the resnet18 backbone has pretrained weights")
        return SmallCNN(cfg.small_channels)
    raise ConfigError(f"model.visual.backbone: expected 'resnet18' or 'small', got {cfg.backbone!r}")


# --------------------------------------------------------------------------------------------
# Temporal convolution: (B, T, D) -> (B, T', H)
# --------------------------------------------------------------------------------------------

def update_running_stats(bn: nn.modules.batchnorm._BatchNorm, mean: torch.Tensor, var: torch.Tensor,
                         count: torch.Tensor) -> None:
    """BatchNorm's running-statistics update from batch `mean` / biased `var` over `count` positions
    (shared by the masked and the synchronised BatchNorm, which compute their statistics themselves)."""
    if not bn.track_running_stats:
        return
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        unbiased = var * count / (count - 1).clamp_min(1.0)
        bn.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
        bn.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())


def normalize_with(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, mean: torch.Tensor,
                   var: torch.Tensor) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps), then BatchNorm's affine transform; x is (B, C, ...) float."""
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    out = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps)
    if bn.affine:
        out = out * bn.weight.view(shape).float() + bn.bias.view(shape).float()
    return out


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose training statistics come from real positions only, so the
    amount of padding in a batch does not move the normalisation. Eval mode is plain BatchNorm."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None or not self.training:
            return super().forward(x)
        dtype, x = x.dtype, x.float()                          # statistics in float32 (AMP)
        m = mask[:, None, :].float()                           # (B, 1, T)
        count = m.sum().clamp_min(1.0)
        mean = (x * m).sum(dim=(0, 2)) / count                 # (C,)
        var = (((x - mean[None, :, None]) ** 2) * m).sum(dim=(0, 2)) / count
        update_running_stats(self, mean, var, count)
        return normalize_with(self, x, mean, var).to(dtype)


class ConvBlock(nn.Module):
    """``Kk``: Conv1d(kernel k, no padding) + BatchNorm over real steps + ReLU."""

    def __init__(self, size: int, in_dim: int, hidden: int):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, hidden, size)
        self.bn = MaskedBatchNorm1d(hidden)
        self.out_dim = hidden

    def forward(self, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # y: (B, C, T) -> (B, H, T - k + 1); lengths: (B,) real output steps, None = all real
        y = self.conv(y)
        mask = None if lengths is None else lengths_to_mask(lengths.clamp_min(0), y.shape[-1])
        return F.relu(self.bn(y, mask))


class PoolBlock(nn.MaxPool1d):
    """``Pk``: MaxPool1d(k) (no parameters)."""

    def __init__(self, size: int, in_dim: int, hidden: int):
        super().__init__(size)
        self.out_dim = in_dim

    def forward(self, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # y: (B, C, T) -> (B, C, T // k)
        return super().forward(y)


# The torch layer of each letter of signkd.temporal.LAYER_KINDS (which owns its arithmetic):
# (window size, input channels, model.visual.hidden) -> a module with forward(y, lengths=None).
TEMPORAL_BLOCKS = {"K": ConvBlock, "P": PoolBlock}


class TemporalConv(nn.Module):
    """The VAC temporal block, one layer per letter of `spec` (a `signkd.temporal.TemporalSpec`,
    which owns the lengths): ``[K5, P2, K5]`` turns T frames into (T - 4) // 2 - 4 steps.

    Position t of the output only depends on real input frames when t < output_lengths(T), so
    padded positions never leak into real ones. `single` is the same layers for one clip whose
    positions are all real (no masks: what inference and the ONNX export run)."""

    def __init__(self, spec: TemporalSpec, in_dim: int, hidden: int):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList()
        dim = in_dim
        for layer in spec.layers:
            self.layers.append(TEMPORAL_BLOCKS[layer.kind](layer.size, dim, hidden))
            dim = self.layers[-1].out_dim
        self.out_dim = dim

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Exact number of valid output steps for inputs of `lengths` frames (may be <= 0)."""
        return self.spec.conv_output_length(lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, D), lengths: (B,) -> features (B, T', H) zero beyond each length, lengths (B,)
        y = x.transpose(1, 2)                                  # (B, D, T)
        for layer, block in zip(self.spec.layers, self.layers):
            lengths = layer.output_length(lengths)
            y = block(y, lengths)
        y = y.transpose(1, 2)                                  # (B, T', H)
        y = y * lengths_to_mask(lengths.clamp_min(0), y.shape[1])[..., None].to(y.dtype)
        return y, lengths

    def single(self, x: torch.Tensor) -> torch.Tensor:
        # x: (1, T, D), every position real -> (1, T', H)
        y = x.transpose(1, 2)
        for block in self.layers:
            y = block(y)
        return y.transpose(1, 2)


# --------------------------------------------------------------------------------------------
# Temporal edge padding (model.visual.temporal_pad)
# --------------------------------------------------------------------------------------------

class TemporalEdgePad(nn.Module):
    """The original's (VAC's collate) temporal padding, on frame-CNN features: `spec.pad_left`
    copies of a clip's first frame, the clip, copies of its last frame up to
    `spec.padded_length(l)` = ceil(l / M) * M + R - S frames (`signkd.temporal.TemporalSpec`
    says why): 6 and ceil(l/4)*4 + 12 for K5-P2-K5-P2, VAC's own case. The padded length is the
    clip's length from here on (as the original's lengths count the padding), so with M = S a
    clip of l >= 1 frames gives ceil(l / S) steps, step t centred on frames [t*S, (t+1)*S) of the
    clip.

    Why on features, not frames: the frame CNN sees one frame at a time, so a copy of a frame's
    feature is what the CNN would give for a copy of the frame (bit for bit in eval mode) at none of
    its cost (12+ frames per clip). In training, BatchNorm2d's batch statistics then come from the
    real frames only, where the original counted the copies of each clip's edge frames too: ours do
    not over-weight the edge frames (mostly the signer at rest), a deliberate, small difference. No
    parameters: checkpoints are the same with or without it."""

    def __init__(self, spec: TemporalSpec):
        super().__init__()
        self.spec = spec

    @property
    def mode(self) -> str:
        return self.spec.pad

    @property
    def enabled(self) -> bool:
        return self.spec.pad != "none"

    def lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) clip frames -> (B,) frames after padding (a 0-frame clip stays 0)."""
        return self.spec.padded_length(lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) zero beyond each length -> (B, T'', D) padded clips, zero beyond their new
        lengths (B,). The copies' gradients flow into the edge frames' features."""
        if not self.enabled:
            return x, lengths
        padded = self.lengths(lengths)
        total = int(padded.max()) if padded.numel() else 0
        pos = torch.arange(total, device=x.device)[None, :] - self.spec.pad_left            # (1, T'')
        last = (lengths - 1).clamp_min(0)[:, None].to(x.device)
        src = torch.minimum(pos.clamp_min(0), last)                                          # (B, T'')
        out = x.gather(1, src[..., None].expand(-1, -1, x.shape[-1]))
        keep = lengths_to_mask(padded.to(x.device), total)[..., None].to(out.dtype)
        return out * keep, padded

    def single(self, x: torch.Tensor) -> torch.Tensor:
        """One clip (1, T, D), every frame real (recognize, ONNX export): the same padding, with
        the length arithmetic on the shape so an ONNX trace keeps the time axis symbolic."""
        if not self.enabled:
            return x
        frames = x.shape[1]
        total = self.spec.padded_length(frames)
        index = torch.minimum((torch.arange(total, device=x.device) - self.spec.pad_left).clamp(min=0),
                              torch.as_tensor(frames - 1, device=x.device))
        return x.index_select(1, index)


# --------------------------------------------------------------------------------------------
# Front end: video -> per-frame features -> temporal features
# --------------------------------------------------------------------------------------------

class VisualFrontEnd(nn.Module):
    """Frame CNN on the real frames of every clip, the temporal edge padding (on the CNN's
    features), then the temporal conv; `spec` (model.visual.temporal and temporal_pad, owned by
    the temporal conv) answers every length question.

    forward(video (B, T, 3, H, W), lengths (B,)) -> features (B, T', hidden), lengths (B,); the
    one-clip path without masks (inference, ONNX) is `single_frame_features`, `pad.single` and
    `temporal.single` (signkd.models.recognizer.SingleClipStudent)."""

    def __init__(self, cfg: VisualConfig):
        super().__init__()
        # channels-last weights and frames: oneDNN's convolutions (CPU) and cuDNN's under AMP run
        # faster in NHWC (the demo's frame CNN, forward + backward: about 1.3x here); the numbers are
        # the same computation in another memory order
        self.cnn = build_frame_cnn(cfg).to(memory_format=torch.channels_last)
        spec = TemporalSpec.from_config(cfg)
        self.pad = TemporalEdgePad(spec)
        self.temporal = TemporalConv(spec, self.cnn.out_dim, cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out_dim = self.temporal.out_dim

    @property
    def spec(self) -> TemporalSpec:
        return self.temporal.spec

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) clip frames -> (B,) output steps T' (padding included; may be <= 0 without it)."""
        return self.spec.output_length(lengths)

    def frame_features(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, D): one CNN call on the batch's real frames, zeros elsewhere."""
        if video.dim() != 5:
            raise DataError(f"video: expected a (B, T, 3, H, W) tensor, got shape {tuple(video.shape)}")
        mask = lengths_to_mask(lengths.to(video.device), video.shape[1])   # (B, T)
        feats = self.cnn(video[mask].contiguous(memory_format=torch.channels_last))   # (N_real, D)
        out = feats.new_zeros(video.shape[0], video.shape[1], feats.shape[-1])
        out[mask] = feats
        return out

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = lengths.to(video.device)
        out_lengths = self.output_lengths(lengths)
        if bool((out_lengths < 1).any()):
            short = int(lengths[out_lengths < 1].min())
            raise DataError(f"video: a clip of {short} frames is too short for model.visual.temporal "
                            f"(needs >= {self.spec.min_input_length} frames)")
        frames = self.dropout(self.frame_features(video, lengths))          # (B, T, D)
        frames, lengths = self.pad(frames, lengths)                         # (B, T'', D)
        return self.temporal(frames, lengths)

    def single_frame_features(self, video: torch.Tensor) -> torch.Tensor:
        """(1, T, 3, H, W), every frame real -> (1, T, D): `frame_features` + the dropout of `forward`."""
        frames = video.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        return self.dropout(self.cnn(frames)).unsqueeze(0)
