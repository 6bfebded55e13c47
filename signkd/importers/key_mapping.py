"""Their key layout -> signkd's student, one rule per module, read off their model code (never
guessed); the classifier rows permuted into signkd's gloss order; the architecture checked against
the config first, so a mismatch names the config field before any key.

Key mapping. P = the part's prefix: "" for VAC, "sign_encoder_2." for the original's student,
"sign_encoder." for its dialogue teacher's sign encoder (signkd/importers/sources.py). j(i) = where
layer spec i sits in their TemporalConv nn.Sequential: +3 per `Kk` (Conv1d, BatchNorm1d, ReLU), +1 per `Pk`.

  their key                                       signkd key                               source
  P conv2d.<name>                                 student.front.cnn.<name>                 [1] [2]
    (torchvision resnet18 names; its fc is an Identity: no keys)
  P conv1d.temporal_conv.{j(i)}.{weight,bias}     student.front.temporal.layers.{i}.conv.*  [3]
  P conv1d.temporal_conv.{j(i)+1}.* (BN + stats)  student.front.temporal.layers.{i}.bn.*    [3]
  P conv1d.fc.*                                   student.conv_classifier.*  rows permuted  [3]
  P temporal_model.rnn.{weight,bias}_{ih,hh}_l{k}[_reverse]
                                                  student.sequence.rnn.* (same names)       [4]
  classifier.* (VAC)                              student.classifier.*  rows permuted       [1]
  P classifier_sign.* (original)                  student.classifier.*  rows permuted       [2]

  [1] VAC slr_network.py SLRModel   [2] the original's modules/vac.py VACModel
  [3] modules/tconv.py TemporalConv (Conv1d padding 0, MaxPool1d floor)
  [4] modules/BiLSTM.py BiLSTMLayer (nn.LSTM over packed (T, B, D); batch_first changes no parameter)

Classifiers (VAC's slr_network.py has had both; detected from the keys): `nn.Linear` (weight
(C, H) + bias) maps row for row. `NormLinear` (weight (H, C), no bias, forward
`x @ normalize(W, dim=0)`) becomes a Linear with weight `normalize(W, dim=0).T` and bias 0, the same
function. With `share_classifier` the file holds `conv1d.fc.weight` and `classifier.weight` as one
tensor; each maps on its own. A `module` key component (DataParallel) is dropped, as their loader
does. Trailing pools have no parameters, so the file cannot tell `[K5, P2, K5]` from
`[K5, P2, K5, P2]`: that comes from the config (VAC configs/baseline.yaml conv_type 2 = K5 P2 K5 P2;
the original's configs conv_type 5 = K5 P2 K5, in its modules/tconv.py).
"""
from __future__ import annotations

import re
from typing import Sequence

import torch
import torch.nn.functional as F

from signkd.errors import CheckpointError

# --------------------------------------------------------------------------------------------
# The key mapping (one rule per module; see the table in the module docstring)
# --------------------------------------------------------------------------------------------

def sequential_positions(specs: Sequence[tuple[str, int]]) -> list[int]:
    """j(i): where layer spec i sits in their TemporalConv nn.Sequential."""
    out, j = [], 0
    for kind, _ in specs:
        out.append(j)
        j += 3 if kind == "K" else 1
    return out


def their_key(signkd_key: str, specs, classifier: str, prefix: str = "") -> str:
    """signkd student key (without `student.`) -> their key."""
    head, _, rest = signkd_key.partition(".")
    if signkd_key.startswith("front.cnn."):
        return f"{prefix}conv2d.{signkd_key[len('front.cnn.'):]}"
    match = re.fullmatch(r"front\.temporal\.layers\.(\d+)\.(conv|bn)\.(.+)", signkd_key)
    if match:
        j = sequential_positions(specs)[int(match.group(1))] + (match.group(2) == "bn")
        return f"{prefix}conv1d.temporal_conv.{j}.{match.group(3)}"
    if head == "conv_classifier":
        return f"{prefix}conv1d.fc.{rest}"
    if signkd_key.startswith("sequence.rnn."):
        return f"{prefix}temporal_model.rnn.{signkd_key[len('sequence.rnn.'):]}"
    if head == "classifier":
        return f"{prefix}{classifier}.{rest}"
    raise CheckpointError(f"the import mapping has no rule for signkd key student.{signkd_key} "
                          "(only ResNet18 + temporal conv + BiLSTM students are importable)")


CLASSIFIERS = ("conv_classifier", "classifier")


def _classifier_layout(state: dict, key_w: str, key_b: str, num_classes: int, hidden: int, path) -> str:
    """'linear' (weight (C, H) + bias) or 'normlinear' (VAC's NormLinear: weight (H, C), no bias)."""
    w = state.get(key_w)
    if w is None:
        raise CheckpointError(f"{path}: no {key_w!r}")
    if key_b in state:
        if tuple(w.shape) != (num_classes, hidden) or tuple(state[key_b].shape) != (num_classes,):
            raise CheckpointError(f"{path}: {key_w} {tuple(w.shape)} / {key_b} {tuple(state[key_b].shape)} do not fit "
                                  f"{num_classes} classes x {hidden} features (glosses + blank x model hidden size)")
        return "linear"
    if tuple(w.shape) != (hidden, num_classes):
        raise CheckpointError(f"{path}: {key_w} {tuple(w.shape)} (no bias, NormLinear) does not fit "
                              f"{hidden} features x {num_classes} classes (model hidden size x glosses + blank)")
    return "normlinear"


def map_state(state: dict, expected: dict, *, specs, classifier: str, prefix: str, index: torch.Tensor,
              path) -> tuple[dict, dict]:
    """Their state dict -> signkd `student.` state dict fitting `expected` (the built student's
    state dict, keys without `student.`). Returns (state, classifier layouts). Missing, leftover
    and misshapen keys are one CheckpointError line each."""
    out, used, layouts = {}, set(), {}
    num_classes = len(index)
    for key, target in expected.items():
        name = key.split(".", 1)[0]
        src = their_key(key, specs, classifier, prefix)
        if name in CLASSIFIERS:
            base = src.rsplit(".", 1)[0]
            if name not in layouts:
                layouts[name] = _classifier_layout(state, f"{base}.weight", f"{base}.bias", num_classes,
                                                   expected[f"{name}.weight"].shape[1], path)
            if layouts[name] == "normlinear":
                w = state[f"{base}.weight"]
                used.add(f"{base}.weight")
                value = (F.normalize(w.float(), dim=0).t()[index] if key.endswith("weight")
                         else torch.zeros(num_classes, dtype=w.dtype))
                out[f"student.{key}"] = value.to(target.dtype).contiguous()
                continue
            value = state[src][index]
        elif src in state:
            value = state[src]
        elif key.endswith("num_batches_tracked"):
            value = torch.zeros((), dtype=torch.long)    # files from before PyTorch 0.4.1 lack it
        else:
            raise CheckpointError(f"{path}: no {src!r} (signkd's student.{key} comes from it); "
                                  f"not a {_top(state)} checkpoint of this architecture")
        used.add(src)
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(f"{path}: {src} has shape {tuple(value.shape)} but the config's student needs "
                                  f"{tuple(target.shape)} ({_field_of(key)})")
        out[f"student.{key}"] = value.to(target.dtype).clone()
    left = sorted(k for k in state if k.startswith(prefix) and k not in used)
    if left:
        raise CheckpointError(f"{path}: {len(left)} key(s) under {prefix or 'the model'!r} have no place in "
                              f"signkd's student, e.g. {left[0]!r}")
    return out, layouts


def _field_of(key: str) -> str:
    if key.startswith("front.cnn."):
        return "model.visual.backbone: resnet18"
    if key.startswith("front.temporal."):
        return "model.visual.temporal / model.visual.hidden"
    if key.startswith("sequence."):
        return "model.hidden / model.visual.hidden / model.sequence.layers"
    return "model.hidden and the gloss dictionary"


def _top(state: dict) -> str:
    return "/".join(sorted({k.split(".")[0] for k in state})[:6])


# --------------------------------------------------------------------------------------------
# Architecture checks against the config, each naming the field
# --------------------------------------------------------------------------------------------

def check_architecture(state: dict, cfg, *, prefix: str, config_name: str, path) -> None:
    """Say which config field disagrees with the file before any key-level message."""
    m = cfg.model
    if m.visual.backbone != "resnet18":
        raise CheckpointError(f"{config_name}: model.visual.backbone is {m.visual.backbone!r}; "
                              f"{path} holds a torchvision resnet18 ({prefix}conv2d.*)")
    if m.sequence.kind != "bilstm":
        raise CheckpointError(f"{config_name}: model.sequence.kind is {m.sequence.kind!r}; "
                              f"{path} holds a BiLSTM ({prefix}temporal_model.rnn.*)")
    from signkd.temporal import TemporalSpec

    specs = TemporalSpec.parse(m.visual.temporal).layers
    found = {}
    for key, value in state.items():
        match = re.fullmatch(re.escape(prefix) + r"conv1d\.temporal_conv\.(\d+)\.weight", key)
        if match and value.dim() == 3:
            found[int(match.group(1))] = (value.shape[-1], value.shape[0])
    expected = {j: size for j, (kind, size) in zip(sequential_positions(specs), specs) if kind == "K"}
    got = {j: k for j, (k, _) in found.items()}
    if got != expected:
        spell = " ".join(f"@{j}:K{k}" for j, k in sorted(got.items())) or "none"
        raise CheckpointError(f"{path}: its temporal convolutions ({prefix}conv1d.temporal_conv {spell}) do not fit "
                              f"model.visual.temporal {m.visual.temporal} of {config_name}")
    widths = {w for _, w in found.values()}
    if widths != {m.visual.hidden}:
        raise CheckpointError(f"{path}: its temporal conv is {sorted(widths)} wide but model.visual.hidden is "
                              f"{m.visual.hidden} in {config_name}")
    rnn = re.compile(re.escape(prefix) + r"temporal_model\.rnn\.weight_ih_l(\d+)")
    layers = {int(match.group(1)) for match in map(rnn.fullmatch, state) if match}
    if len(layers) != m.sequence.layers:
        raise CheckpointError(f"{path}: its BiLSTM has {len(layers)} layer(s) but model.sequence.layers is "
                              f"{m.sequence.layers} in {config_name}")
    hh = state.get(f"{prefix}temporal_model.rnn.weight_hh_l0")
    if hh is not None and 2 * hh.shape[1] != m.hidden:
        raise CheckpointError(f"{path}: its BiLSTM is {2 * hh.shape[1]} wide (2 x {hh.shape[1]}) but model.hidden is "
                              f"{m.hidden} in {config_name}")


