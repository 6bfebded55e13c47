"""The visual lexicon: each gloss is a motion primitive of one or two hands; and the signers.

A primitive = hand arrangement (one hand / mirrored / parallel / on a base hand), start location,
path (line, arc, circle, zig-zag, tap, twist), direction, amplitude, speed profile, duration and
hand shape (a dark pattern on the disc: solid, ring, bar, half) with its orientation. Ordinary
glosses are drawn at random but kept apart: a candidate whose canonical render is too close to
an accepted gloss's is rejected, so every ordinary gloss is recognisable. The second member of a
confusable pair is a *copy* of the first plus one subtle cue (see `make_pair_member`).
"""
from __future__ import annotations

import colorsys
import dataclasses
from dataclasses import dataclass

import numpy as np

from signkd.data.synthetic.render import HAND_RADIUS, REST, SHAPES, Signer, Track, render_track

HANDS = ("one", "mirror", "parallel", "base")
PATHS = ("line", "arc", "circle", "zigzag", "tap", "twist")
SPEEDS = ("even", "ease", "accel")
LOCATIONS = [(x, y) for y in (0.30, 0.45, 0.60, 0.75) for x in (0.26, 0.38, 0.50, 0.62, 0.74)
             if not (y == 0.30 and 0.38 <= x <= 0.62)]          # not in front of the face
ARC_BEND = 0.35
CANON_SIZE = 32
CANON_FRAMES = 8
MIN_SEPARATION = 0.045
SEPARATED_LEXICON = 84      # larger lexicons are kept apart by distinct properties, not render distance
MARK_ANGLE = 135.0          # where the cue mark sits on the hand before per-performance variation      # RMS distance (0..1 intensities) between canonical renders of two glosses


@dataclass
class Motion:
    hands: str
    location: tuple
    path: str
    direction: float        # degrees; 0 = towards canvas right, 90 = down
    amplitude: float        # body units
    bend: float             # sideways bulge of the path, fraction of the amplitude
    speed: str
    duration: int           # frames at tempo 1
    shape: str
    orientation: float      # degrees
    mark: float = 0.0       # darkness of the small cue mark on the hand (0 = none)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["location"] = list(self.location)
        return d


@dataclass
class Jitter:
    """How one performance of a sign departs from the lexicon entry."""
    dx: float = 0.0
    dy: float = 0.0
    amplitude: float = 1.0
    duration: float = 1.0
    orientation: float = 0.0
    bend: float = 0.0
    mark_angle: float = 0.0

    @classmethod
    def draw(cls, rng: np.random.Generator, p) -> "Jitter":
        u = rng.uniform(-1.0, 1.0, size=7)
        return cls(dx=u[0] * p.location_jitter, dy=u[1] * p.location_jitter,
                   amplitude=1.0 + u[2] * p.amplitude_jitter, duration=1.0 + u[3] * p.duration_jitter,
                   orientation=u[4] * p.orientation_jitter, bend=u[5] * p.bend_jitter,
                   mark_angle=u[6] * p.mark_angle_jitter)


def _progress(speed: str, n: int) -> np.ndarray:
    tau = np.linspace(0.0, 1.0, n)
    if speed == "ease":
        return tau * tau * (3 - 2 * tau)
    if speed == "accel":
        return tau * tau
    return tau


def _triangle(u: np.ndarray) -> np.ndarray:
    return 1.0 - 4.0 * np.abs(np.mod(u + 0.25, 1.0) - 0.5)


def perform(m: Motion, frames: int, jitter: Jitter | None = None) -> Track:
    """The sign over `frames` frames: positions of both hands and the hand-shape parameters."""
    j = jitter or Jitter()
    s = _progress(m.speed, max(frames, 1))
    phi = np.deg2rad(m.direction)
    d = np.array([np.cos(phi), np.sin(phi)])
    nrm = np.array([-np.sin(phi), np.cos(phi)])
    amp = m.amplitude * j.amplitude
    start = np.array(m.location) + [j.dx, j.dy]
    orient = np.full_like(s, m.orientation + j.orientation)
    if m.path == "circle":
        r = amp / 2
        centre = start - r * d
        ang = phi + 2 * np.pi * s
        p = centre + r * np.stack([np.cos(ang), np.sin(ang)], 1)
    elif m.path == "zigzag":
        p = start + np.outer(amp * s, d) + np.outer(0.25 * amp * _triangle(2 * s), nrm)
    elif m.path == "tap":
        p = start + np.outer(0.4 * amp * np.abs(np.sin(2 * np.pi * s)), d)
    elif m.path == "twist":
        p = start + np.outer(0.1 * amp * np.sin(2 * np.pi * s), d)
        orient = orient + 90.0 * s
    else:  # line, arc (the arc's bend is in m.bend)
        p = start + np.outer(amp * s, d)
    p = p + np.outer(amp * (m.bend + j.bend) * np.sin(np.pi * s), nrm)
    pos = np.empty((len(s), 2, 2))
    pos[:, 0] = p
    orient2 = orient.copy()
    if m.hands == "mirror":
        pos[:, 1, 0] = 1.0 - p[:, 0]
        pos[:, 1, 1] = p[:, 1]
        orient2 = 180.0 - orient
    elif m.hands == "parallel":
        pos[:, 1] = p + [0.26, 0.0]
    elif m.hands == "base":
        pos[:, 1] = start + [0.05, 0.16]
        orient2 = np.zeros_like(orient)
    else:
        pos[:, 1] = REST[1]
    shape = np.full((len(s), 2), SHAPES.index(m.shape))
    if m.hands == "one":
        shape[:, 1] = 0
    mark = np.zeros((len(s), 2))
    mark[:, 0] = m.mark
    if m.hands in ("mirror", "parallel"):
        mark[:, 1] = m.mark
    mark_angle = np.full((len(s), 2), MARK_ANGLE + j.mark_angle)
    mark_angle[:, 1] = 180.0 - mark_angle[:, 1] if m.hands == "mirror" else mark_angle[:, 1]
    return Track(pos, shape, np.stack([orient, orient2], 1), mark, mark_angle)


def _fits(m: Motion) -> bool:
    """Every pose of the sign (with jitter margin) stays on the canvas and two moving hands apart."""
    big = dataclasses.replace(m, amplitude=m.amplitude * 1.15)
    pos = perform(big, 16).pos
    lo, hi = 0.06 + HAND_RADIUS, 0.97 - HAND_RADIUS / 2
    if pos.min() < lo or pos[..., 0].max() > 1 - lo or pos[..., 1].max() > hi:
        return False
    if m.hands in ("mirror", "parallel"):
        if np.linalg.norm(pos[:, 0] - pos[:, 1], axis=1).min() < 2.3 * HAND_RADIUS:
            return False
    return True


def _random_motion(rng: np.random.Generator, p) -> Motion:
    path = PATHS[rng.integers(len(PATHS))]
    return Motion(
        hands=HANDS[rng.choice(len(HANDS), p=[0.5, 0.2, 0.15, 0.15])],
        location=tuple(LOCATIONS[rng.integers(len(LOCATIONS))]),
        path=path,
        direction=float(45 * rng.integers(8)),
        amplitude=float(np.round(rng.uniform(0.14, 0.24), 3)),
        bend=float(ARC_BEND * rng.choice([-1, 1])) if path == "arc" else 0.0,
        speed=SPEEDS[rng.integers(len(SPEEDS))],
        duration=int(rng.integers(p.sign_frames_min, p.sign_frames_max + 1)),
        shape=SHAPES[rng.integers(len(SHAPES))],
        orientation=float(45 * rng.integers(4)),
    )


CANON_SIGNER = Signer("canonical", skin=(0.85, 0.68, 0.55), shirt=(0.2, 0.2, 0.26), hair=(0.2, 0.15, 0.1),
                      background=(0.45, 0.46, 0.5), scale=1.0, offset=(0.0, 0.0), tempo=1.0)


def canonical_render(m: Motion) -> np.ndarray:
    """Noise-free render at 32 px, resampled to 8 frames, as a flat float vector (for separation)."""
    frames = render_track(perform(m, CANON_FRAMES), CANON_SIGNER, CANON_SIZE, CANON_SIZE, None)
    return frames.astype(np.float32).ravel() / 255.0


def make_pair_member(m: Motion, cue: str, p) -> Motion:
    """The confusable partner: the same sign plus one subtle cue.

    "mark": a small dark spot (about a pixel at 32 px) at a different place on the hand in every
    performance; "bend": the path bulges sideways by `cue_bend` of its amplitude. Both are
    smaller than the natural variation between performances (location, amplitude, timing,
    orientation, mark place) in pixel distance, so whole-clip templates cannot separate the pair.
    The mark is a consistent local feature a CNN learns; the bend needs ~1 px precise motion.
    """
    if cue == "mark":
        return dataclasses.replace(m, mark=float(p.cue_mark))
    return dataclasses.replace(m, bend=float(m.bend + p.cue_bend * (1 if m.bend >= 0 else -1)))


def _signature(m: Motion) -> tuple:
    return (m.hands, m.location, m.path, m.direction, m.speed, m.shape, m.orientation)


def _distinct_motions(glosses: list[str], rng: np.random.Generator, p) -> dict[str, Motion]:
    """A motion per gloss for a real-size vocabulary (PHOENIX-2014-T: ~1,100 glosses).

    Render distances cannot keep a thousand signs MIN_SEPARATION apart (and comparing each
    candidate with every accepted render grows quadratically), so here two glosses differ in at
    least one discrete property (hands, location, path, direction, speed, shape, orientation; about
    300,000 combinations) and every sign still fits the canvas.
    """
    lexicon: dict[str, Motion] = {}
    taken: set[tuple] = set()
    for gloss in glosses:
        for _ in range(4000):
            m = _random_motion(rng, p)
            if _signature(m) not in taken and _fits(m) and _fits(make_pair_member(m, "bend", p)):
                break
        taken.add(_signature(m))
        lexicon[gloss] = m
    return lexicon


def make_lexicon(glosses: list[str], pairs: list[tuple[str, str]], rng: np.random.Generator, p,
                 min_separation: float = MIN_SEPARATION) -> tuple[dict[str, Motion], list[dict]]:
    """Motion primitives for `glosses`; the second member of each pair copies the first plus a cue.

    Returns (lexicon, pair records [{glosses, cue}]). Deterministic for a given rng state.
    """
    second = {b: a for a, b in pairs}
    cues = p.cue_types.split(",")
    cue_of = {b: cues[i % len(cues)] for i, (_, b) in enumerate(pairs)}
    lexicon: dict[str, Motion] = {}
    renders: list[np.ndarray] = []
    if len(glosses) > SEPARATED_LEXICON:
        lexicon = _distinct_motions([g for g in glosses if g not in second], rng, p)
        glosses_left: list[str] = []
    else:
        glosses_left = glosses
    for gloss in glosses_left:
        if gloss in second:
            continue
        for attempt in range(4000):
            m = _random_motion(rng, p)
            if not _fits(m) or (m.mark == 0 and not _fits(make_pair_member(m, "bend", p))):
                continue
            r = canonical_render(m)
            sep = min_separation if attempt < 2000 else min_separation * 0.7
            if renders and min(float(np.sqrt(np.mean((r - o) ** 2))) for o in renders) < sep:
                continue
            break
        lexicon[gloss] = m
        renders.append(r)
    for a, b in pairs:
        lexicon[b] = make_pair_member(lexicon[a], cue_of[b], p)
    records = [{"glosses": [a, b], "cue": cue_of[b]} for a, b in pairs]
    return {g: lexicon[g] for g in glosses}, records


# --------------------------------------------------------------------------------------------
# Signers
# --------------------------------------------------------------------------------------------

SKIN_TONES = [(0.93, 0.78, 0.66), (0.85, 0.67, 0.52), (0.74, 0.55, 0.41), (0.62, 0.45, 0.33),
              (0.95, 0.83, 0.74), (0.80, 0.62, 0.48)]


def make_signers(n: int, rng: np.random.Generator, p) -> list[Signer]:
    """Signers differ in colours, size, position and tempo; every gloss looks the same on all."""
    out = []
    for i in range(n):
        base = np.array(SKIN_TONES[i % len(SKIN_TONES)])
        skin = np.clip(base + rng.uniform(-0.03, 0.03, 3), 0, 1)
        shirt = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.2, 0.6), rng.uniform(0.14, 0.3))
        hair = colorsys.hsv_to_rgb(rng.uniform(0.02, 0.12), rng.uniform(0.3, 0.7), rng.uniform(0.08, 0.45))
        background = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.15), rng.uniform(0.36, 0.5))
        r = lambda x: tuple(float(np.round(v, 4)) for v in x)  # noqa: E731  (short, stable JSON)
        out.append(Signer(
            name=f"Signer{i + 1:02d}", skin=r(skin), shirt=r(shirt), hair=r(hair), background=r(background),
            scale=float(np.round(1.0 + rng.uniform(-p.scale_jitter, p.scale_jitter), 4)),
            offset=r(rng.uniform(-p.position_jitter, p.position_jitter, 2)),
            tempo=float(np.round(1.0 + rng.uniform(-p.tempo_jitter, p.tempo_jitter), 4)),
        ))
    return out
