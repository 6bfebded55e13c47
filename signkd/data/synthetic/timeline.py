"""A sentence as one continuous performance: idle, signs joined by movement epenthesis, idle."""
from __future__ import annotations

import numpy as np

from signkd.data.synthetic.lexicon import Jitter, Motion, perform
from signkd.data.synthetic.render import REST, Signer, Track


def _rest(frames: int) -> Track:
    pos = np.broadcast_to(REST, (frames, 2, 2)).copy()
    zeros = np.zeros((frames, 2))
    return Track(pos, zeros.astype(np.int64), zeros.copy(), zeros.copy(), zeros.copy())


def _transition(a: Track, b: Track, frames: int) -> Track:
    """Hands glide from the last pose of `a` to the first of `b` (eased); the hand shape switches half-way."""
    f = (np.arange(1, frames + 1) / (frames + 1))
    f = f * f * (3 - 2 * f)
    pos = a.pos[-1][None] * (1 - f)[:, None, None] + b.pos[0][None] * f[:, None, None]
    late = (f >= 0.5)[:, None]
    pick = lambda x, y: np.where(late, y[0][None], x[-1][None])  # noqa: E731
    return Track(pos, pick(a.shape, b.shape), pick(a.orient, b.orient), pick(a.mark, b.mark),
                 pick(a.mark_angle, b.mark_angle))


def _concat(tracks: list[Track]) -> Track:
    return Track(*(np.concatenate([getattr(t, k) for t in tracks]) for k in ("pos", "shape", "orient", "mark", "mark_angle")))


def sign_frames(m: Motion, signer: Signer, jitter: Jitter) -> int:
    return max(3, int(round(m.duration * signer.tempo * jitter.duration)))


def sentence_track(glosses: list[str], lexicon: dict[str, Motion], signer: Signer, p, rng: np.random.Generator,
                   idle: bool = True) -> tuple[Track, list[tuple[str, int, int]]]:
    """The whole clip and each gloss's [start, end) frame segment (transition frames belong to none)."""
    pieces: list[Track] = []
    segments = []
    t = 0
    gap = max(1, int(round(p.transition_frames * signer.tempo)))
    previous = None
    if idle:
        previous = _rest(int(rng.integers(p.idle_frames_min, p.idle_frames_max + 1)) or 1)
        pieces.append(previous)
        t += previous.frames
    for gloss in glosses:
        m = lexicon[gloss]
        jitter = Jitter.draw(rng, p)
        sign = perform(m, sign_frames(m, signer, jitter), jitter)
        if previous is not None:
            move = _transition(previous, sign, gap)
            pieces.append(move)
            t += move.frames
        segments.append((gloss, t, t + sign.frames))
        pieces.append(sign)
        t += sign.frames
        previous = sign
    if idle:
        end = _rest(int(rng.integers(p.idle_frames_min, p.idle_frames_max + 1)) or 1)
        pieces += [_transition(previous, end, gap), end]
    return _concat(pieces), segments
