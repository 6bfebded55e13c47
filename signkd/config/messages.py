"""The bounded renderings of values and keys ConfigError's one-line messages use
(ConfigError itself lives in signkd.errors, below everything that raises it).

Why bounded: a value built from YAML aliases can expand to billions of items, and a key can be
an int, a date or long text; every message names the key and stays one short line.
"""
from __future__ import annotations

import difflib
import reprlib

from signkd.errors import ConfigError  # noqa: F401  (re-exported: `from signkd.config.messages import ConfigError`)

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 4
_SHORT.maxlevel = 3


def _show(value) -> str:
    """A bounded repr for error messages: a value built from YAML aliases can expand to billions
    of items, and a plain repr of it would never finish."""
    try:
        return _SHORT.repr(value)
    except (ValueError, OverflowError):   # e.g. an int past Python's 4300-digit str() limit
        return f"<{type(value).__name__}>"


def _show_key(key) -> str:
    """A mapping key as it appears in a dotted name (keys may be ints, None, dates, long text)."""
    text = key if isinstance(key, str) else _show(key)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(name: str, options) -> str:
    """The tail of a one-line error about an unknown key or value: `; did you mean 'X'?` for the
    closest of `options`, or the list of them."""
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys: {', '.join(sorted(options))}"
