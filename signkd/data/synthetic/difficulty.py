"""How hard the corpus is, measured: a nearest-template classifier on isolated signs.

Each gloss is performed alone (no idle frames, no neighbours) by every signer several times,
with the corpus's per-performance variation and pixel noise. Templates are the mean of the first
`n_templates` performances of each (gloss, signer); every further performance is classified as
the gloss of the nearest template of the same signer (L2 over the clip resampled to `frames`
frames). Ordinary glosses should come out near 100 %, confusable-pair members near chance (50 %).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signkd.data.synthetic.corpus import World, stream
from signkd.data.synthetic.render import render_track
from signkd.data.synthetic.timeline import sentence_track

STREAM_DIFFICULTY = 99


def render_isolated(world: World, gloss: str, signer: int, seed: int, frames: int = 8) -> np.ndarray:
    """One performance of `gloss` alone, resampled to `frames` frames: (frames, H, W, 3) uint8."""
    p = world.params
    rng = stream(world.seed, STREAM_DIFFICULTY, world.glosses.index(gloss), signer, seed)
    track, _ = sentence_track([gloss], world.lexicon, world.signers[signer], p, rng, idle=False)
    clip = render_track(track, world.signers[signer], p.width, p.height, rng, p.noise, p.brightness_jitter)
    return clip[np.round(np.linspace(0, len(clip) - 1, frames)).astype(int)]


@dataclass
class TemplateResult:
    ordinary: float                 # accuracy on ordinary glosses
    confusable: float               # accuracy on members of confusable pairs
    within_pair: float              # accuracy when choosing only between the two members of a pair
    per_pair: dict                  # "A/B" -> within-pair accuracy
    queries: int


def template_accuracy(world: World, n_templates: int = 3, n_queries: int = 2, frames: int = 8,
                      signers: int | None = None) -> TemplateResult:
    n_signers = min(signers or len(world.signers), len(world.signers))
    glosses = world.glosses
    per = n_templates + n_queries
    x = np.stack([np.stack([np.stack([render_isolated(world, g, s, k, frames) for k in range(per)])
                            for s in range(n_signers)]) for g in glosses])
    x = x.reshape(len(glosses), n_signers, per, -1).astype(np.float32) / 255.0      # (G, S, K, D)
    templates = x[:, :, :n_templates].mean(2)                                       # (G, S, D)
    queries = x[:, :, n_templates:]                                                 # (G, S, Q, D)
    # squared distances (G_query, S, Q, G_template) via |q|^2 - 2 q.t + |t|^2
    dots = np.einsum("gsqd,hsd->gsqh", queries, templates)
    dist = (queries ** 2).sum(-1)[..., None] - 2 * dots + (templates ** 2).sum(-1).T[None, :, None, :]
    truth = np.arange(len(glosses))[:, None, None]
    correct = dist.argmin(-1) == truth                                              # (G, S, Q)
    conf = np.array([g in world.confusable for g in glosses])
    per_pair = {}
    for a, b in world.pairs:
        ia, ib = glosses.index(a), glosses.index(b)
        pick_a = dist[[ia, ib]][..., ia] < dist[[ia, ib]][..., ib]                  # (2, S, Q)
        per_pair[f"{a}/{b}"] = float(np.concatenate([pick_a[0].ravel(), ~pick_a[1].ravel()]).mean())
    return TemplateResult(
        ordinary=float(correct[~conf].mean()) if (~conf).any() else float("nan"),
        confusable=float(correct[conf].mean()) if conf.any() else float("nan"),
        within_pair=float(np.mean(list(per_pair.values()))) if per_pair else float("nan"),
        per_pair=per_pair, queries=int(correct.size))
