"""One clip's result: what `signkd recognize` prints and its --json schema (docs/inference.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import torch


@dataclass
class GlossSpan:
    gloss: str
    start: float     # seconds
    end: float       # seconds


@dataclass
class Recognition:
    """One clip's result; `to_dict` is the --json schema (docs/inference.md)."""
    input: str
    frames: int                      # source frames decoded (before the frame interval)
    fps: float                       # source frame rate used for the time spans
    duration: float                  # frames / fps, seconds
    glosses: list[GlossSpan]
    translation: Optional[str] = None
    steps: int = 0                   # output steps T' (for diagnostics)
    log_probs: Optional[torch.Tensor] = field(default=None, repr=False)   # (T', C) sequence log-probs

    @property
    def gloss_sequence(self) -> list[str]:
        return [g.gloss for g in self.glosses]

    def to_dict(self) -> dict:
        return {"input": self.input, "frames": self.frames, "fps": round(self.fps, 6),
                "duration": round(self.duration, 4),
                "glosses": [{**asdict(g), "start": round(g.start, 3), "end": round(g.end, 3)} for g in self.glosses],
                "translation": self.translation}
