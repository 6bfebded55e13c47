"""Reading their files: the checkpoint (`torch.load`, weights_only) and the gloss dictionary
(`gloss_dict.npy` or `vocab.txt`), and the permutation from their class order to signkd's.

Trust: both inputs are downloads. The checkpoint is read with `torch.load(weights_only=True)`.
VAC's `save_model` also stores `rng_state["numpy"] = np.random.get_state()` (a uint32 array), which
weights_only refuses; only then is the file read again with weights_only plus exactly NumPy's
array-rebuild globals allow-listed (`_reconstruct`, `ndarray`, `dtype`, numeric dtype classes), and
`signkd import` says so. Nothing ever falls back to full unpickling. `gloss_dict.npy` is a pickle
behind a .npy header: the header is parsed as a literal and the pickle goes through
`signkd.data.safe_pickle`'s restricted unpickler (plain containers and NumPy arrays only).

Classes: blank = 0 in both. VAC's ids are `gloss_dict[g][0]` (preprocess/dataset_preprocess.py:
glosses of dev+test+train sorted by name, ids 1..N, so usually already signkd's order); the
original's are the line order of DatasetFile/dialogue_pheonix/vocab.txt (its main: `{line: i + 1}`),
an arbitrary order. signkd's GlossVocab sorts; row s of each signkd classifier is their row
id(gloss s), so every gloss keeps its logit. Their dictionaries include dev/test glosses (VAC built
them on all splits); the imported vocabulary keeps every class the weights have.
"""
from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from signkd.errors import CheckpointError

MAX_GLOSS_DICT_BYTES = 16 << 20


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

