"""Published checkpoints -> signkd checkpoints (`signkd import {vac,original} CKPT --out OUT.pt`).

Why: VAC's released PHOENIX-2014 model (github.com/ycmin95/VAC_CSLR, also VIPL-SLP/VAC_CSLR) and the
original method's checkpoints hold weights we can evaluate, recognise with and fine-tune from, but
in their own key layout, class order and file format. The converter renames every key by the
table below (read off their model code, never guessed), permutes the classifier rows into signkd's
gloss order, refuses anything left over or missing, and writes a normal signkd checkpoint that
`signkd test`, `recognize` and `export` load through `restore()` like any trained one.

Trust: both inputs are downloads. The checkpoint is read with `torch.load(weights_only=True)`.
VAC's `save_model` also stores `rng_state["numpy"] = np.random.get_state()` (a uint32 array), which
weights_only refuses; only then is the file read again with weights_only plus exactly NumPy's
array-rebuild globals allow-listed (`_reconstruct`, `ndarray`, `dtype`, numeric dtype classes), and
`signkd import` says so. Nothing ever falls back to full unpickling. `gloss_dict.npy` is a pickle
behind a .npy header: the header is parsed as a literal and the pickle goes through
`signkd.data.safe_pickle`'s restricted unpickler (plain containers and NumPy arrays only).

Key mapping, read off their model code. P = the part's prefix: "" for VAC, "sign_encoder_2." for
the original's student, "sign_encoder." for its dialogue teacher's sign encoder. j(i) = where layer
spec i sits in their TemporalConv nn.Sequential: +3 per `Kk` (Conv1d, BatchNorm1d, ReLU), +1 per `Pk`.

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

Classes: blank = 0 in both. VAC's ids are `gloss_dict[g][0]` (preprocess/dataset_preprocess.py:
glosses of dev+test+train sorted by name, ids 1..N, so usually already signkd's order); the
original's are the line order of DatasetFile/dialogue_pheonix/vocab.txt (its main: `{line: i + 1}`),
an arbitrary order. signkd's GlossVocab sorts; row s of each signkd classifier is their row
id(gloss s), so every gloss keeps its logit. Their dictionaries include dev/test glosses (VAC built
them on all splits); the imported vocabulary keeps every class the weights have.

The original's whole dialogue teacher (`--part dialogue-teacher`: its sign encoder as above, plus
`bert_text.`, `multimodal_fusion.`, `classifier_combine.`) and its SLR model's Text2Gloss teacher
(`--part text2gloss`: `bert_translation2gloss.`, `text_embedding.`, `decoder.`) map in
signkd/import_dialogue.py, which has their tables.

Preprocessing (docs/import.md has the table and the files it comes from): resize to 256 x 256
without keeping the aspect, RGB, centre crop 224, x / 127.5 - 1, every frame: stored in the
checkpoint's `preprocessing`, so `recognize` and `export` apply it. Their collate_fn also pads each
clip with 6 copies of its first frame and copies of its last up to ceil(T / 4) * 4 + 12 frames:
the imported config's model.visual.temporal_pad (vac, temporal_pad_multiple 4) does the same.
"""
from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from signkd import import_dialogue
from signkd.atomic import sha256_file
from signkd.errors import CheckpointError
from signkd.temporal import TemporalSpec

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DIALOGUE_TEACHER_CONFIG = CONFIG_DIR / "dialogue_phoenix" / "teacher_slr_bilstm.yaml"
TEXT2GLOSS_CONFIG = CONFIG_DIR / "dialogue_phoenix" / "text2gloss.yaml"

# What each source was trained on (see the module docstring for the files these come from).
SOURCE_PREPROCESSING = {"resize": 256, "keep_aspect": False, "crop": 224, "mean": [0.5, 0.5, 0.5],
                        "std": [0.5, 0.5, 0.5], "frame_interval": 1, "cache": False}
# Their collate_fn's temporal padding (6 copies of the first frame, the last frame up to ceil(T/4)*4 + 12
# frames, lengths counting it) as model.visual settings: the left pad and the + 12 follow from their specs.
SOURCE_TEMPORAL_PAD = {"temporal_pad": "vac", "temporal_pad_multiple": 4}


@dataclass(frozen=True)
class Source:
    """One importable layout: where its parts live, what its classifier is called, which signkd
    config describes its architecture."""
    kind: str
    parts: dict                 # --part name -> key prefix in their state dict
    classifier: str             # sequence classifier's module name under the prefix
    default_config: Path
    what: str


SOURCES = {
    "vac": Source("vac", {"student": ""}, "classifier", CONFIG_DIR / "phoenix2014" / "vac_baseline.yaml",
                  "VAC SLRModel"),
    "original": Source("original", {"student": "sign_encoder_2.", "teacher-sign-encoder": "sign_encoder.",
                                    "dialogue-teacher": "sign_encoder.", "text2gloss": "bert_translation2gloss."},
                       "classifier_sign", CONFIG_DIR / "phoenix2014t" / "slr_baseline.yaml",
                       "the original's VACModel"),
}
# Key prefixes of the original's other modules, named when a user asks for a part a file lacks.
ORIGINAL_OTHER = ("bert_text.", "multimodal_fusion.", "classifier_combine.", "bert_translation2gloss.",
                  "text_embedding.", "decoder.", "decoder_sign2text.", "signToText.", "signToFusion.")

MAX_GLOSS_DICT_BYTES = 16 << 20
STUDENT_TERMS = ("ConvCTCSign", "SeqCTCSign", "Dist")   # the loss terms a student-only config keeps


# --------------------------------------------------------------------------------------------
# Reading their checkpoint: weights_only, plus NumPy's array rebuild for VAC's rng_state
# --------------------------------------------------------------------------------------------

def _numpy_globals() -> list:
    """NumPy's array-rebuild globals under the names numpy 1 and numpy 2 pickle them with."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:   # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    dtype_classes = [type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG"]   # numeric only: no object arrays
    return [(_reconstruct, "numpy.core.multiarray._reconstruct"),
            (_reconstruct, "numpy._core.multiarray._reconstruct"), np.ndarray, np.dtype, *dtype_classes]


def _numpy_global_names() -> set:
    return {g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in _numpy_globals()}


def _refused_global(exc: BaseException) -> Optional[str]:
    match = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return match.group(1) if match else None


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def read_source_checkpoint(path: str | Path) -> tuple[dict, list[str]]:
    """Their checkpoint file -> (the dict it holds, notes). weights_only always; NumPy arrays (VAC's
    rng_state) are rebuilt with NumPy's own array globals allow-listed, nothing else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    notes: list[str] = []
    allowed = None
    for _ in range(2):
        try:
            if allowed is None:
                raw = torch.load(path, map_location="cpu", weights_only=True)
            else:
                with torch.serialization.safe_globals(allowed):
                    raw = torch.load(path, map_location="cpu", weights_only=True)
            break
        except pickle.UnpicklingError as exc:
            refused = _refused_global(exc)
            if refused is None:
                raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
            if allowed is None and refused in _numpy_global_names():
                allowed = _numpy_globals()
                notes.append(f"{path.name} holds NumPy arrays (e.g. its rng_state); read with weights_only "
                             "and NumPy's array-rebuild globals allowed")
                continue
            raise CheckpointError(f"{path}: holds a Python object weights_only loading refuses ({refused}); "
                                  "not a plain checkpoint of tensors, refused") from None
        except MemoryError:
            raise CheckpointError(f"{path}: declares more memory than this machine has; refused") from None
        except Exception as exc:   # torn zip, wrong magic, ...: torch raises many types
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(raw).__name__}")
    return raw, notes


def source_state(raw: dict, path: str | Path) -> dict:
    """The model state dict of their checkpoint (`model_state_dict`, as both repos save it, or a
    bare state dict), with DataParallel's `module` key components dropped."""
    state = raw.get("model_state_dict", raw)
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = ", ".join(map(str, list(raw)[:6]))
        raise CheckpointError(f"{path}: no 'model_state_dict' of tensors (keys: {keys})")
    out = {}
    for key, value in state.items():
        name = ".".join(p for p in str(key).split(".") if p != "module")
        if name in out:
            raise CheckpointError(f"{path}: key {key!r} appears twice once 'module' is dropped")
        out[name] = value
    return out


# --------------------------------------------------------------------------------------------
# The gloss dictionary: gloss_dict.npy (a pickle) or a vocab.txt
# --------------------------------------------------------------------------------------------

def _read_npy_dict(data: bytes, path: Path) -> object:
    """The object an `np.save`d dict holds: the .npy header is parsed as a literal, the pickle
    after it goes through signkd.data.safe_pickle's restricted unpickler."""
    from numpy.lib import format as npformat

    from signkd.data.safe_pickle import RefusedGlobal, RestrictedUnpickler

    stream = io.BytesIO(data)
    try:
        version = npformat.read_magic(stream)
        reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, _, dtype = reader(stream)        # the header is a Python literal (ast.literal_eval)
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a valid .npy file ({_first_line(exc)})") from None
    if shape != () or dtype.kind != "O":
        raise CheckpointError(f"{path}: expected a pickled dict (0-d object array), got shape {shape} dtype {dtype}")
    try:
        array = RestrictedUnpickler(stream).load()
    except RefusedGlobal as exc:
        raise CheckpointError(f"{path}: {_first_line(exc)}; a gloss dictionary needs none") from None
    except Exception as exc:   # malformed pickles raise many types
        raise CheckpointError(f"{path}: not a readable gloss dictionary pickle ({_first_line(exc)})") from None
    if not isinstance(array, np.ndarray) or array.shape != () or array.dtype != object:
        raise CheckpointError(f"{path}: the pickle is not the 0-d object array np.save writes for a dict")
    return array.item()


def read_gloss_dict(path: str | Path) -> dict[str, int]:
    """gloss -> their class id (1..N; 0 is blank). `gloss_dict.npy` (VAC: gloss -> [id, count])
    through a restricted unpickler, or a text file with one gloss per line whose id is its line
    number (the original's vocab.txt)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: gloss dictionary not found")
    if path.stat().st_size > MAX_GLOSS_DICT_BYTES:
        raise CheckpointError(f"{path}: {path.stat().st_size} bytes, more than a gloss dictionary "
                              f"({MAX_GLOSS_DICT_BYTES >> 20} MiB at most)")
    data = path.read_bytes()
    if data.startswith(b"\x93NUMPY"):
        ids = _ids_from_dict(_read_npy_dict(data, path), path)
    else:
        ids = _ids_from_lines(data, path)
    _check_contiguous(ids, path)
    return ids


def _ids_from_dict(value: object, path: Path) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise CheckpointError(f"{path}: expected a non-empty dict gloss -> [id, count], got {type(value).__name__}")
    ids = {}
    for gloss, entry in value.items():
        raw = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
        if not isinstance(gloss, str) or isinstance(raw, bool) or not isinstance(raw, int):
            raise CheckpointError(f"{path}: entry {str(gloss)[:40]!r}: expected gloss (str) -> [id (int), count], "
                                  f"got {str(entry)[:40]!r}")
        ids[gloss] = raw
    return ids


def _ids_from_lines(data: bytes, path: Path) -> dict[str, int]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: neither a .npy gloss dictionary nor a UTF-8 text file") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids = {}
    for number, line in enumerate(lines, 1):
        gloss = line.rstrip("\r")
        if gloss in ids:
            raise CheckpointError(f"{path}:{number}: gloss {gloss!r} is listed twice")
        ids[gloss] = number
    if not ids:
        raise CheckpointError(f"{path}: no glosses")
    return ids


def _check_contiguous(ids: dict[str, int], path: Path) -> None:
    for gloss in ids:
        if not gloss or gloss != gloss.strip() or any(ch.isspace() for ch in gloss):
            raise CheckpointError(f"{path}: gloss {gloss!r} (id {ids[gloss]}) is empty or holds whitespace; "
                                  "signkd cannot name that class")
    if sorted(ids.values()) != list(range(1, len(ids) + 1)):
        bad = sorted(set(ids.values()) ^ set(range(1, len(ids) + 1)))[:3]
        raise CheckpointError(f"{path}: class ids must be 1..{len(ids)} once each (0 is the blank); "
                              f"off at {bad}")


def gloss_permutation(ids: dict[str, int]):
    """(signkd GlossVocab of the same glosses, index) with index[s] = their class of signkd class s,
    so `their_rows[index]` puts each gloss's row where signkd expects it (blank stays 0)."""
    from signkd.data.vocab import GlossVocab

    vocab = GlossVocab(ids)
    return vocab, torch.tensor([0] + [ids[g] for g in vocab.glosses], dtype=torch.long)


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


def to_their_state(student_state: dict, *, specs, classifier: str, prefix: str = "",
                   index: Optional[torch.Tensor] = None) -> dict:
    """The inverse of `map_state` for `nn.Linear` classifiers: a signkd student state dict (keys
    with or without `student.`) -> the state dict their model of the same geometry holds."""
    out = {}
    inverse = None if index is None else torch.argsort(index)
    for key, value in student_state.items():
        key = key[len("student."):] if key.startswith("student.") else key
        if key.split(".", 1)[0] in CLASSIFIERS and inverse is not None:
            value = value[inverse]
        out[their_key(key, specs, classifier, prefix)] = value.clone()
    return out


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


# --------------------------------------------------------------------------------------------
# The whole import
# --------------------------------------------------------------------------------------------

@dataclass
class Imported:
    payload: dict                         # what save_checkpoint writes
    notes: list[str] = field(default_factory=list)


def student_config(config_path: Path, overrides: Sequence[str], notes: list[str]):
    """The signkd config an imported checkpoint carries: `config_path` + overrides, made a
    student-only SLR run (no teachers, no init, no download) whose eval preprocessing is what
    the weights were trained with."""
    from signkd.config import StageConfig, load_config

    cfg = load_config(config_path, list(overrides))
    m = cfg.model
    m.task, m.student, m.num_classes = "slr", True, 0
    m.dialogue_teacher = m.text2gloss = m.gloss2text = False
    m.visual.pretrained = ""                          # the weights come from the file
    cfg.train.init = []
    cfg.train.stages = [StageConfig(train=["student"])]
    cfg.loss.weights = {k: v for k, v in cfg.loss.weights.items() if k in STUDENT_TERMS} or \
        {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "Dist": 25.0}
    a = cfg.data.augment
    fields = ("resize", "keep_aspect", "crop", "mean", "std")
    changed = [f"{k} {getattr(a, k)!r} -> {SOURCE_PREPROCESSING[k]!r}" for k in fields
               if getattr(a, k) != SOURCE_PREPROCESSING[k]]
    for k in fields:
        setattr(a, k, SOURCE_PREPROCESSING[k])
    cfg.data.frame_interval = SOURCE_PREPROCESSING["frame_interval"]
    for k, value in SOURCE_TEMPORAL_PAD.items():
        if getattr(m.visual, k) != value:
            changed.append(f"model.visual.{k} {getattr(m.visual, k)!r} -> {value!r}")
        setattr(m.visual, k, value)
    if changed:
        notes.append(f"{config_path.name}: data.augment / model.visual set to what the weights saw: {'; '.join(changed)}")
    return cfg


def _check_part(state: dict, prefix: str, part: str, path: Path) -> None:
    if prefix and not any(k.startswith(prefix) for k in state):
        present = sorted({k.split(".")[0] + "." for k in state})
        known = [p for p in present if p in ORIGINAL_OTHER or p in SOURCES["original"].parts.values()]
        hint = ("; --part teacher-sign-encoder imports a dialogue teacher's sign encoder"
                if "sign_encoder." in present else "")
        raise CheckpointError(f"{path}: no {prefix}* keys for --part {part} "
                              f"(it holds {', '.join(known or present[:6])}){hint}")


def _check_classes(state: dict, key: str, vocab, gloss_dict, path: Path) -> None:
    """Their classifier's class count against the gloss dictionary, before any shape message."""
    if f"{key}.weight" not in state:
        return
    rows = state[f"{key}.weight"].shape[0 if f"{key}.bias" in state else -1]
    if rows != vocab.num_classes:
        raise CheckpointError(f"{path}: {key}.weight has {rows} classes but {gloss_dict} names "
                              f"{vocab.num_classes - 1} glosses (+ blank = {vocab.num_classes}); "
                              "not this checkpoint's gloss dictionary")


def import_checkpoint(kind: str, checkpoint: str | Path, *, gloss_dict: Optional[str | Path],
                      config: Optional[str | Path] = None, overrides: Sequence[str] = (),
                      part: str = "student", tokenizer: Optional[str | Path] = None) -> Imported:
    """Their checkpoint + gloss dictionary -> a signkd student checkpoint payload (see the module
    docstring). `config`: the signkd config describing the architecture (default per source);
    its `model` must fit the file."""
    from signkd.config import to_dict
    from signkd.checkpoint import load_model_state
    from signkd.models.build import build_system

    if kind not in SOURCES:
        raise CheckpointError(f"import: unknown source {kind!r}; expected one of {', '.join(SOURCES)}")
    source = SOURCES[kind]
    if part not in source.parts:
        raise CheckpointError(f"import {kind} --part: expected one of {', '.join(source.parts)}, got {part!r}")
    if gloss_dict is None:
        raise CheckpointError(f"import {kind}: --gloss-dict FILE is required: the checkpoint holds class ids, "
                              "the gloss names are in their gloss_dict.npy (VAC) or vocab.txt (original)")
    prefix, path = source.parts[part], Path(checkpoint)
    ids = read_gloss_dict(gloss_dict)
    raw, notes = read_source_checkpoint(path)
    state = source_state(raw, path)
    _check_part(state, prefix, part, path)

    teacher, text2gloss = part == "dialogue-teacher", part == "text2gloss"    # both: signkd.import_dialogue
    if teacher:
        import_dialogue.check_teacher_keys(state, path)
    if text2gloss:
        import_dialogue.check_text2gloss_keys(state, path)
    config_path = Path(config) if config else \
        (DIALOGUE_TEACHER_CONFIG if teacher else TEXT2GLOSS_CONFIG if text2gloss else source.default_config)
    cfg = student_config(config_path, overrides, notes)
    vocab, index = gloss_permutation(ids)
    if not text2gloss:
        check_architecture(state, cfg, prefix=prefix, config_name=str(config_path), path=path)
        _check_classes(state, f"{prefix}{source.classifier}", vocab, gloss_dict, path)
    specs = TemporalSpec.parse(cfg.model.visual.temporal).layers
    layouts: dict = {}

    def map_sign_encoder(expected: dict) -> dict:
        mapped, found = map_state(state, expected, specs=specs, classifier=source.classifier, prefix=prefix,
                                  index=index, path=path)
        layouts.update(found)
        return mapped

    extra: dict = {}
    if teacher:
        cfg = import_dialogue.teacher_config(cfg, state, path, str(config_path), notes)
        extra = import_dialogue.import_teacher(state, cfg, vocab, index, path=path, tokenizer_dir=tokenizer,
                                               notes=notes, map_sign_encoder=map_sign_encoder)
        mapped = extra.pop("model")
        prefix = tuple(import_dialogue.REQUIRED)
    elif text2gloss:
        cfg = import_dialogue.text2gloss_config(cfg, state, path, str(config_path), notes)
        extra = import_dialogue.import_text2gloss(state, cfg, vocab, index, path=path, tokenizer_dir=tokenizer)
        mapped = extra.pop("model")
        prefix = tuple(import_dialogue.T2G_REQUIRED)
    else:
        system = build_system(cfg, vocab)
        mapped = map_sign_encoder({k[len("student."):]: v for k, v in system.state_dict().items()
                                   if k.startswith("student.")})
        load_model_state(system, mapped, where=str(path))        # strict: the final guard

    skipped = sorted({k.split(".")[0] + "." for k in state if not k.startswith(prefix)})
    if skipped:
        notes.append(f"not imported (not part of --part {part}): {', '.join(skipped)}")
    epoch = raw.get("epoch")
    epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None
    imported = {
        "source": kind, "part": part, "file": path.name, "sha256": sha256_file(path), "source_epoch": epoch,
        "gloss_dict": Path(gloss_dict).name,
        "gloss_order": "already sorted" if torch.equal(index, torch.arange(len(index))) else "permuted to sorted",
        "classifier_layout": layouts, "config": str(config_path),
        "preprocessing_not_applied": {
            "resize_filter": "their frames were resized with cv2 INTER_LANCZOS4; signkd uses PIL LANCZOS"},
    }
    payload = {"epoch": 0 if epoch is None else epoch + 1,      # theirs counts from 0; ours = epochs done
               "model": mapped, "config": to_dict(cfg),
               "vocab": {"gloss": vocab.to_dict(), "word": None, "tokenizer": None},
               "preprocessing": dict(SOURCE_PREPROCESSING), "metrics": {}, "trainer": {}, "imported": imported}
    payload.update(extra)                    # a teacher's vocab (with its tokenizer) and BERT architecture
    return Imported(payload, notes)


def write_imported(result: Imported, out: str | Path) -> Path:
    from signkd.checkpoint import save_checkpoint

    return save_checkpoint(out, result.payload)
