"""Procedural backgrounds (no images are downloaded or shipped).

:func:`make_background` draws one of several kinds, chosen at random or by name:

* ``gradient``: a two-colour linear or radial gradient with low-frequency noise;
* ``noise``: multi-octave value noise coloured by a random palette (fabric, carpet, plaster);
* ``shapes``: many random rectangles, ellipses, polygons and lines, blurred (an out-of-focus
  cluttered scene);
* ``room``: a wall (with frames, shelves, a window or a door) above a desk or floor plane whose
  texture (wood grain, laminate) is drawn in perspective, with a few objects on it.

Every kind gets a depth-of-field blur and a small brightness/contrast jitter. Images are float32
sRGB in [0, 1], (height, width, 3), RGB order.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("gradient", "noise", "shapes", "room")
_KIND_WEIGHTS = np.array([0.15, 0.15, 0.3, 0.4])

#: Muted colours typical of indoor scenes (sRGB 0-255).
_WALL_COLORS = np.array([
    (235, 232, 225), (214, 210, 200), (190, 196, 200), (170, 180, 190), (200, 190, 170),
    (160, 170, 150), (120, 125, 135), (225, 215, 195), (90, 95, 105), (60, 62, 70),
], dtype=np.float64)
_WOOD_COLORS = np.array([
    (150, 105, 70), (120, 80, 50), (190, 150, 110), (95, 65, 45), (210, 190, 160), (60, 60, 62),
    (230, 230, 228), (130, 130, 135),
], dtype=np.float64)


def value_noise(rng: np.random.Generator, height: int, width: int, scale: float, octaves: int = 4,
                persistence: float = 0.5, stretch: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """(height, width) float32 fractal value noise in about [0, 1]; ``scale`` is the size (px) of
    the coarsest features; ``stretch`` (sy, sx) elongates them (e.g. wood grain)."""
    out = np.zeros((height, width), dtype=np.float32)
    amp, total = 1.0, 0.0
    s = float(scale)
    for _ in range(octaves):
        gh = max(2, int(height / (s * stretch[0])) + 2)
        gw = max(2, int(width / (s * stretch[1])) + 2)
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
        s /= 2.0
        if s < 1.0:
            break
    return np.clip(out / total, 0.0, 1.0)


def _rand_color(rng: np.random.Generator, saturation: float = 0.5, lo: float = 0.1, hi: float = 0.95) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * rng.uniform(0, saturation)), int(255 * rng.uniform(lo, hi))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _c(color) -> tuple[float, ...]:
    """An OpenCV drawing colour from an array."""
    return tuple(float(c) for c in color)


def _gradient(rng, h, w):
    c0, c1 = _rand_color(rng, 0.6), _rand_color(rng, 0.6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.uniform() < 0.5:
        ang = rng.uniform(0, 2 * np.pi)
        t = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.hypot(xx - cx, yy - cy) / np.hypot(w, h)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    img *= (0.85 + 0.3 * value_noise(rng, h, w, rng.uniform(60, 250), 3))[..., None]
    return img


def _noise(rng, h, w):
    n = value_noise(rng, h, w, rng.uniform(8, 120), octaves=5, persistence=rng.uniform(0.4, 0.7))
    c0, c1 = _rand_color(rng, 0.5, 0.05, 0.6), _rand_color(rng, 0.5, 0.4, 0.95)
    t = np.clip((n - 0.5) * rng.uniform(1.5, 3.5) + 0.5, 0, 1)[..., None]
    return c0[None, None] * (1 - t) + c1[None, None] * t


def _shapes(rng, h, w):
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = _rand_color(rng, 0.4, 0.2, 0.9)
    img *= (0.8 + 0.4 * value_noise(rng, h, w, rng.uniform(80, 300), 3))[..., None]
    for _ in range(int(rng.integers(12, 45))):
        color = tuple(float(c) for c in _rand_color(rng, 0.7, 0.05, 1.0))
        kind = rng.integers(0, 4)
        x, y = int(rng.uniform(-0.1, 1.1) * w), int(rng.uniform(-0.1, 1.1) * h)
        size = int(rng.uniform(0.03, 0.35) * max(h, w))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + size, y + int(size * rng.uniform(0.2, 2.0))), color, -1)
        elif kind == 1:
            cv2.ellipse(img, (x, y), (size // 2, int(size * rng.uniform(0.1, 0.6))), float(rng.uniform(0, 180)),
                        0, 360, color, -1, cv2.LINE_AA)
        elif kind == 2:
            pts = (np.array([x, y]) + rng.normal(0, size / 2, (int(rng.integers(3, 7)), 2))).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
        else:
            x2, y2 = int(x + rng.normal(0, size)), int(y + rng.normal(0, size))
            cv2.line(img, (x, y), (x2, y2), color, int(rng.integers(2, 14)), cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(1.5, 6.0))


def _room(rng, h, w):
    wall = _WALL_COLORS[rng.integers(len(_WALL_COLORS))] / 255.0 * rng.uniform(0.85, 1.1)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = np.clip(wall, 0, 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # light falloff across the wall and a faint plaster texture
    lx, ly = rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.5, 0.5) * h
    fall = 1.0 - rng.uniform(0.1, 0.4) * np.clip(np.hypot(xx - lx, yy - ly) / np.hypot(w, h), 0, 1)
    img *= (fall * (0.96 + 0.08 * value_noise(rng, h, w, rng.uniform(4, 30), 3)))[..., None]
    horizon = int(rng.uniform(0.45, 0.85) * h) if rng.uniform() < 0.8 else h
    # wall furniture: frames, shelves, window, door
    for _ in range(int(rng.integers(1, 6))):
        x0 = int(rng.uniform(-0.1, 0.95) * w)
        y0 = int(rng.uniform(-0.2, 0.7) * horizon)
        bw, bh = int(rng.uniform(0.08, 0.45) * w), int(rng.uniform(0.05, 0.5) * h)
        kind = rng.integers(0, 4)
        if kind == 0:  # window: bright, with a frame
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), _c(np.clip(wall * 1.6 + 0.2, 0, 1)), -1)
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), (0.9, 0.9, 0.9), max(2, bw // 25))
            cv2.line(img, (x0 + bw // 2, y0), (x0 + bw // 2, y0 + bh), (0.9, 0.9, 0.9), max(2, bw // 40))
        elif kind == 1:  # picture frame
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), _c(_rand_color(rng, 0.8)), -1)
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), _c(_rand_color(rng, 0.2, 0.0, 0.4)), max(2, bw // 20))
        elif kind == 2:  # shelf with books
            wood = _WOOD_COLORS[rng.integers(len(_WOOD_COLORS))] / 255
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + max(4, bh // 10)), _c(wood), -1)
            x = x0
            while x < x0 + bw:
                bwid = int(rng.integers(6, 22))
                bht = int(rng.uniform(0.5, 1.0) * bh * 0.5)
                cv2.rectangle(img, (x, y0 - bht), (x + bwid, y0), _c(_rand_color(rng, 0.7, 0.1, 0.8)), -1)
                x += bwid + int(rng.integers(0, 3))
        else:  # door or cabinet
            c = _rand_color(rng, 0.3, 0.3, 0.9)
            cv2.rectangle(img, (x0, y0), (x0 + bw, horizon), tuple(float(v) for v in c), -1)
            cv2.rectangle(img, (x0, y0), (x0 + bw, horizon), tuple(float(v) for v in c * 0.7), max(2, bw // 30))
    if horizon < h:
        # desk / floor in perspective: rows converge towards a vanishing point
        top = np.array(_WOOD_COLORS[rng.integers(len(_WOOD_COLORS))] / 255.0, dtype=np.float32)
        vx = rng.uniform(0.2, 0.8) * w
        rows = np.arange(horizon, h, dtype=np.float32)
        depth = (rows - horizon + 2.0) / (h - horizon + 2.0)  # ~ 1 / distance
        grain_h = max(8, int(h))
        grain = value_noise(rng, grain_h, 2 * w, rng.uniform(30, 90), 4, stretch=(0.08, 3.0))
        if rng.uniform() < 0.6:
            grain = 0.5 + 0.5 * np.sin(grain * rng.uniform(10, 30))
        # sample the texture through a perspective mapping of the plane
        u_plane = (xx[horizon:] - vx) / (depth[:, None] * w) * 0.6 + w
        v_plane = (1.0 / depth[:, None]) * rng.uniform(8, 30) + np.zeros_like(u_plane)
        tex = cv2.remap(grain, u_plane.astype(np.float32), (v_plane % grain_h).astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        shade = (0.75 + 0.35 * depth)[:, None] * (0.85 + 0.3 * tex)
        img[horizon:] = top[None, None] * shade[..., None]
        # edge of the desk and a few objects on it
        cv2.line(img, (0, horizon), (w, horizon), tuple(float(c) for c in top * 0.6), max(1, h // 150))
        for _ in range(int(rng.integers(0, 5))):
            x0 = int(rng.uniform(0, w))
            y0 = int(rng.uniform(horizon, h))
            s = int((y0 - horizon + 10) * rng.uniform(0.2, 0.8))
            color = tuple(float(c) for c in _rand_color(rng, 0.6, 0.05, 0.9))
            if rng.uniform() < 0.5:
                cv2.rectangle(img, (x0 - s, y0 - s // 2), (x0 + s, y0), color, -1)
            else:
                cv2.ellipse(img, (x0, y0), (s // 2 + 2, s // 4 + 1), 0, 0, 360, color, -1, cv2.LINE_AA)
    return img


def make_background(rng: np.random.Generator, width: int, height: int, kind: str | None = None) -> np.ndarray:
    """A (height, width, 3) float32 sRGB background in [0, 1] (see the module docstring)."""
    if kind is None:
        kind = str(rng.choice(KINDS, p=_KIND_WEIGHTS / _KIND_WEIGHTS.sum()))
    if kind not in KINDS:
        raise ValueError(f"unknown background kind {kind!r}; known: {KINDS}")
    img = {"gradient": _gradient, "noise": _noise, "shapes": _shapes, "room": _room}[kind](rng, height, width)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.6, 3.0))
    img = (img - 0.5) * rng.uniform(0.8, 1.1) + 0.5 + rng.uniform(-0.06, 0.06)
    return np.clip(img, 0.0, 1.0).astype(np.float32)
