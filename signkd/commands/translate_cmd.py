"""`signkd translate CKPT INPUT…`: the spoken-language sentence of each video.

Design choice: one engine, two commands. `translate` is `recognize` with the same options,
restricted to SLT student checkpoints (an SLR checkpoint is a one-line error), printing
`INPUT: sentence`; `recognize` on an SLT checkpoint prints the glosses and the translation, and
--json gives both in either command (docs/inference.md)."""
from __future__ import annotations

from signkd.commands import recognize_cmd

HELP = "translate videos, frame folders or globs into sentences with an SLT student checkpoint"


def add_arguments(p) -> None:
    recognize_cmd.add_arguments(p)


def run(args) -> int:
    return recognize_cmd.run(args, mode="translate")
