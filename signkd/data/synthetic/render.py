"""Vectorised NumPy rendering: a signer's static body, then per frame two arms and two hands.

Everything is computed for all frames of a clip at once as (T, H, W) masks, with anti-aliased
edges (coverage = clip(radius - distance + 0.5, 0, 1)), so no Python loop touches a pixel.
Positions are in *body units*: (0, 0) is the top-left and (1, 1) the bottom-right of a square
canvas of the signer's nominal size; the signer's scale and offset map them to pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HAND_RADIUS = 0.09           # body units: ~6 px wide hands at 32 px
ARM_RADIUS = 0.045
SHOULDERS = np.array([[0.33, 0.62], [0.67, 0.62]])   # dominant (canvas-left) first
REST = np.array([[0.40, 0.92], [0.60, 0.92]])        # hands at rest, in front of the belly
PATTERN_DARKNESS = 0.5       # hand-shape pattern: skin x (1 - 0.5)
OUTLINE_DARKNESS = 0.3       # rim that keeps a hand visible in front of the face
SHAPES = ("solid", "ring", "bar", "half")
MARK_OFFSET = 0.55           # the cue mark: a dark spot this far from the hand centre (hand radii)
MARK_RADIUS = 0.33


@dataclass
class Signer:
    name: str
    skin: tuple       # RGB in 0..1
    shirt: tuple
    hair: tuple
    background: tuple
    scale: float      # body size relative to the canvas height
    offset: tuple     # (dx, dy), fraction of the height
    tempo: float      # duration factor of every sign (1.2 = 20 % slower)

    def to_dict(self) -> dict:
        return {"name": self.name, "skin": list(self.skin), "shirt": list(self.shirt), "hair": list(self.hair),
                "background": list(self.background), "scale": self.scale, "offset": list(self.offset),
                "tempo": self.tempo}


@dataclass
class Track:
    """Per-frame state of one clip: (T, 2) positions and (T,) hand-shape parameters per hand."""
    pos: np.ndarray        # (T, 2, 2): frame, hand (0 dominant), xy in body units
    shape: np.ndarray      # (T, 2) int index into SHAPES
    orient: np.ndarray     # (T, 2) degrees
    mark: np.ndarray       # (T, 2) darkness of the cue mark (0 = none)
    mark_angle: np.ndarray  # (T, 2) degrees: where on the hand the mark sits (hand-local)

    @property
    def frames(self) -> int:
        return self.pos.shape[0]


def _to_pixels(points: np.ndarray, signer: Signer, width: int, height: int) -> np.ndarray:
    """Body units -> pixel coordinates (x, y) with pixel centres at +0.5."""
    scale = signer.scale * height
    cx = width / 2 + signer.offset[0] * height
    cy = height / 2 + signer.offset[1] * height
    out = np.empty_like(points, dtype=np.float64)
    out[..., 0] = cx + (points[..., 0] - 0.5) * scale
    out[..., 1] = cy + (points[..., 1] - 0.5) * scale
    return out


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return xs + 0.5, ys + 0.5


def _coverage(distance_inside: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed 'how far inside' distance in pixels."""
    return np.clip(distance_inside + 0.5, 0.0, 1.0)


def _ellipse(xs, ys, centre, radii) -> np.ndarray:
    dx = (xs - centre[0]) / radii[0]
    dy = (ys - centre[1]) / radii[1]
    rho = np.sqrt(dx * dx + dy * dy)
    return _coverage((1.0 - rho) * min(radii))


_BODY_CACHE: dict = {}


def body_image(signer: Signer, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float32 background + torso + neck + head + hair (static for a signer)."""
    key = (signer.name, signer.skin, signer.shirt, signer.hair, signer.background, signer.scale, signer.offset,
           width, height)
    if key in _BODY_CACHE:
        return _BODY_CACHE[key]
    xs, ys = _grid(width, height)
    s = signer.scale * height
    px = lambda p: _to_pixels(np.asarray(p, dtype=np.float64), signer, width, height)  # noqa: E731
    img = np.empty((height, width, 3), dtype=np.float64)
    img[:] = signer.background
    # a soft vertical gradient: studio light from above
    img *= (1.05 - 0.1 * ys / height)[..., None]

    def paint(mask, colour):
        img[:] = img * (1 - mask[..., None]) + np.asarray(colour) * mask[..., None]

    neck = px([0.5, 0.47])
    paint(_coverage(np.minimum(0.04 * s - np.abs(xs - neck[0]), 0.1 * s - np.abs(ys - neck[1]))),
          np.asarray(signer.skin) * 0.85)                                                    # neck
    paint(_ellipse(xs, ys, px([0.5, 1.06]), (0.42 * s, 0.47 * s)), signer.shirt)            # torso
    head = _ellipse(xs, ys, px([0.5, 0.28]), (0.115 * s, 0.14 * s))
    paint(head, signer.skin)
    hair = head * _coverage(px([0.5, 0.2])[1] - ys)
    paint(hair, signer.hair)
    out = img.astype(np.float32)
    if len(_BODY_CACHE) > 64:
        _BODY_CACHE.clear()
    _BODY_CACHE[key] = out
    return out


def _clip01(x: np.ndarray) -> np.ndarray:
    """np.clip(x, 0, 1) in place (np.clip's overhead dominates on these small arrays)."""
    np.maximum(x, 0.0, out=x)
    np.minimum(x, 1.0, out=x)
    return x


def _hand_window(centre: np.ndarray, radius: float, width: int, height: int):
    """A K x K pixel window per frame around each hand centre: origins (T,), (T,) and size K."""
    k = min(int(np.ceil(2 * radius + 3)), width, height)
    ox = np.clip(np.floor(centre[:, 0] - k / 2).astype(np.int64), 0, width - k)
    oy = np.clip(np.floor(centre[:, 1] - k / 2).astype(np.int64), 0, height - k)
    return ox, oy, k


def _hand_masks(centre, radius, shape, orient, mark, mark_angle, ox, oy, k, mark_radius=MARK_RADIUS):
    """Coverage and darkness (T, K, K) of one hand inside its window, for every frame.

    centre (T, 2) px; shape (T,) int; orient (T,) degrees; mark (T,) darkness of the cue mark and
    mark_angle (T,) degrees its place on the hand; mark_radius in hand radii.
    """
    ramp = np.arange(k, dtype=np.float32) + np.float32(0.5)
    dx = (ox[:, None, None] + ramp[None, None, :] - centre[:, 0, None, None]).astype(np.float32)  # (T, 1, K)
    dy = (oy[:, None, None] + ramp[None, :, None] - centre[:, 1, None, None]).astype(np.float32)  # (T, K, 1)
    dist = np.sqrt(dx * dx + dy * dy)                                                             # (T, K, K)
    r = np.float32(radius)
    cover = _clip01(r - dist + 0.5)
    theta = np.deg2rad(orient).astype(np.float32)[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    a = (dx * cos + dy * sin) / r                                  # hand-local coordinates, radius 1
    b = (dy * cos - dx * sin) / r
    pattern = np.zeros_like(dist)
    for index, fn in ((1, lambda: (0.5 - dist / r) * r),          # ring: dark palm centre
                      (2, lambda: (0.3 - np.abs(b)) * r),         # bar across the hand
                      (3, lambda: a * r)):                        # half: one side dark
        frames = shape == index
        if frames.any():
            pattern[frames] = _clip01(fn()[frames] + 0.5)
    dark = 1.0 - PATTERN_DARKNESS * pattern
    if np.any(mark):
        phi = np.deg2rad(mark_angle).astype(np.float32)[:, None, None]
        spot = np.sqrt((a - MARK_OFFSET * np.cos(phi)) ** 2 + (b - MARK_OFFSET * np.sin(phi)) ** 2)
        dark *= 1.0 - mark.astype(np.float32)[:, None, None] * _clip01((np.float32(mark_radius) - spot) * r + 0.5)
    rim = _clip01(1.0 - np.abs(dist - (r - 0.6)) / 0.7)
    dark *= 1.0 - OUTLINE_DARKNESS * rim
    return cover, 1.0 - dark


def _segment_distance(xs, ys, start, end):
    """Distance (T, H, W) from each pixel to the segment start (2,) -> end (T, 2), in px."""
    d = (end - start[None]).astype(np.float32)                   # (T, 2)
    px = xs[None] - np.float32(start[0])
    py = ys[None] - np.float32(start[1])
    length2 = np.maximum((d * d).sum(1), 1e-6)[:, None, None]
    t = _clip01((px * d[:, 0, None, None] + py * d[:, 1, None, None]) / length2)
    qx = px - t * d[:, 0, None, None]
    qy = py - t * d[:, 1, None, None]
    return np.sqrt(qx * qx + qy * qy)


def render_track(track: Track, signer: Signer, width: int, height: int, rng: np.random.Generator | None,
                 noise: float = 0.0, brightness_jitter: float = 0.0, mark_radius: float = MARK_RADIUS,
                 noise_block: int = 1) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of one clip. Pixel noise and lighting come from `rng`;
    `mark_radius` is the cue mark's radius in hand radii; the noise is drawn once per
    `noise_block` x `noise_block` pixels (1: per pixel)."""
    xs, ys = (g.astype(np.float32) for g in _grid(width, height))
    s = signer.scale * height
    n = track.frames
    img = np.empty((n, height, width, 3), dtype=np.float32)
    img[:] = body_image(signer, width, height)
    hands_px = _to_pixels(track.pos, signer, width, height)     # (T, 2, 2)
    shoulders_px = _to_pixels(SHOULDERS, signer, width, height)
    sleeve = np.asarray(signer.shirt, dtype=np.float32) * 1.25 + 0.04
    skin = np.asarray(signer.skin, dtype=np.float32)
    frame_index = np.arange(n)[:, None, None]
    # both sleeves share a colour: one blend with the union of their coverages
    arms = np.maximum(*(np.float32(ARM_RADIUS * s + 0.5) - _segment_distance(xs, ys, shoulders_px[h], hands_px[:, h])
                        for h in (0, 1)))
    img += (sleeve - img) * _clip01(arms)[..., None]
    for hand in (1, 0):                                         # non-dominant first: dominant on top
        radius = HAND_RADIUS * s
        ox, oy, k = _hand_window(hands_px[:, hand], radius, width, height)
        cover, dark = _hand_masks(hands_px[:, hand], radius, track.shape[:, hand], track.orient[:, hand],
                                  track.mark[:, hand], track.mark_angle[:, hand], ox, oy, k, mark_radius)
        rows = (oy[:, None] + np.arange(k))[:, :, None]         # (T, K, 1)
        cols = (ox[:, None] + np.arange(k))[:, None, :]         # (T, 1, K)
        window = img[frame_index, rows, cols]                   # (T, K, K, 3)
        colour = skin * (1.0 - dark)[..., None]
        img[frame_index, rows, cols] = window + (colour - window) * cover[..., None]
    if rng is not None:
        if brightness_jitter:
            img *= np.float32(1.0 + rng.uniform(-brightness_jitter, brightness_jitter))
        if noise and noise_block > 1:
            cells = rng.standard_normal(size=(n, -(-height // noise_block), -(-width // noise_block), 3),
                                        dtype=np.float32) * np.float32(noise)
            img += np.repeat(np.repeat(cells, noise_block, 1), noise_block, 2)[:, :height, :width]
        elif noise:
            img += rng.standard_normal(size=img.shape, dtype=np.float32) * np.float32(noise)
    img *= 255.0
    img += 0.5
    np.maximum(img, 0.0, out=img)
    np.minimum(img, 255.0, out=img)
    return img.astype(np.uint8)
