"""Names read from a file (an annotation's folder, a manifest's file) used below a root folder.

Why by name: a name from a downloaded file must not reach outside the corpus or cache it belongs
to; checking the name itself (not the resolved path) keeps the rule the same on every machine, and
symlinks inside the user's own tree stay the user's business.
"""
from __future__ import annotations

import re


def unsafe_relative_path(value: str) -> str:
    """Why `value` cannot be used as a path below its root, or "" when it can."""
    v = value.strip()
    if "\x00" in v:
        return "contains a NUL character"
    if v.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", v):
        return "is an absolute path"
    if ".." in re.split(r"[/\\]", v):
        return "has a '..' component"
    return ""
