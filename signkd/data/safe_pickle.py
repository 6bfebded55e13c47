"""A restricted unpickler for annotation pickles a user downloaded (CSL-Daily's csl2020ct_v2.pkl).

Why: `pickle.load` calls whatever a file names (`os.system`, `builtins.eval`, ...), so a doctored
annotation file would run code the moment a corpus is read. Plain containers and scalars (dict,
list, tuple, str, int, float, bool, None, bytes) are built by pickle opcodes and need no global
at all. The only globals allowed are the ones numpy arrays and scalars are rebuilt from; each
of them builds data from data and calls nothing the file chooses (see `ALLOWED`). An object
array's elements are unpickled by this same unpickler, so they are held to the same rule.

It does not bound memory: a pickle can still declare large containers or arrays (even an array of
10**12 zero-byte elements), so readers check the size of what they use (see corpus_formats._strings).
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from signkd.errors import DataError, printable

try:  # numpy >= 2 moved its core to numpy._core; pickles written by numpy 1 name numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _latin1_encode(text, encoding="latin1"):
    """What protocols 0-2 store `bytes` as (`_codecs.encode(str, 'latin1')`); only that codec is
    allowed, since a codec name reaches the codec registry."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with codec {str(encoding)[:40]!r} is not allowed")
    return text.encode("latin1")


class _NdarrayToken:
    """What `numpy.ndarray` resolves to: the first argument `_reconstruct` expects, but not
    callable, so a pickle cannot call ndarray(shape, dtype, buffer, offset, strides) and make
    a view of any size over a few bytes (strides of 0)."""

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayToken()


def _reconstruct(subtype, shape, typecode):
    """numpy's `_reconstruct`, for plain ndarrays only (no subclass hooks)."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("_reconstruct is allowed for numpy.ndarray only")
    return _multiarray._reconstruct(np.ndarray, shape, typecode)


# (module, name) as the pickle spells it -> the object it may resolve to. Nothing else resolves.
#  _reconstruct(ndarray, shape, typecode): an empty array, filled by ndarray.__setstate__ from bytes
#      (or, for dtype object, from elements this unpickler built); numpy checks sizes.
#  ndarray: a token for that argument (see _NdarrayToken). dtype(spec): parses a type description.
#  scalar(dtype, bytes): one numpy scalar from its raw bytes.
#  _frombuffer(buffer, dtype, shape, order): protocol 5's array from a bytes buffer (no copy).
#  set / frozenset / bytearray: how protocols < 4 (< 5 for bytearray) write those builtins.
ALLOWED: dict[tuple[str, str], object] = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): np.dtype}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_mod, "_reconstruct")] = _reconstruct
    ALLOWED[(_mod, "scalar")] = _multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED[(_mod, "_frombuffer")] = _numeric._frombuffer
for _mod in ("builtins", "__builtin__"):   # __builtin__: protocols 0-2 use Python 2's name
    ALLOWED.update({(_mod, "set"): set, (_mod, "frozenset"): frozenset, (_mod, "bytearray"): bytearray})
ALLOWED[("_codecs", "encode")] = _latin1_encode


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside `ALLOWED`."""


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose globals come from `ALLOWED` only; no persistent ids."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise RefusedGlobal(f"refused to load global '{printable(module, 80)}.{printable(name, 80)}' "
                                "(only plain containers, scalars and numpy arrays are allowed)") from None


def safe_load(path: str | Path, what: str = "pickle"):
    """Unpickle `path` with `RestrictedUnpickler`; any failure is a one-line DataError naming the
    file (and, for a refused global, the global). The file is read into memory first so that a
    length field in the pickle can never make a read allocate more than the file holds."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except RefusedGlobal as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # any other unpickling failure: not the file it claims to be
        raise DataError(f"{path}: not a readable {what} ({type(exc).__name__}: {printable(exc, 80)})") from None
