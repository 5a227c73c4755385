"""Skin-like shading: materials, lights, skin tones, and the per-pixel shader.

All colours are linear RGB in [0, 1] (``srgb_to_linear`` / ``linear_to_srgb`` convert). The
shader evaluates, per covered pixel, with the interpolated vertex normal ``n`` and the view
direction ``v`` (towards the camera):

* hemisphere ambient: ``mix(ground, sky, (1 + n . up) / 2)`` times ambient occlusion ``ao``
  (which also dims direct light and specular: ``0.4 + 0.6 ao``, ``ao``);
* wrapped diffuse per light, per colour channel: ``max(0, (n . l + w_c) / (1 + w_c))`` with a
  larger wrap ``w`` for red than for blue, a cheap stand-in for subsurface scattering (light
  bleeds past the terminator, reddened);
* Blinn-Phong specular with Schlick Fresnel (oily skin sheen), white;
* a faint rim term (forward scattering at grazing angles).

Materials are per vertex (albedo, wrap scale, specular strength), so skin, sleeves and clothes
go through one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: sRGB skin tones from very light to very dark (8-bit), interpolated when sampling.
SKIN_TONES_SRGB = np.array([
    (238, 208, 184),
    (230, 190, 164),
    (224, 178, 146),
    (205, 150, 118),
    (180, 124, 92),
    (150, 98, 70),
    (118, 76, 54),
    (88, 58, 42),
], dtype=np.float64)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _srgb_lut(size: int = 4096) -> np.ndarray:
    x = np.linspace(0.0, 1.0, size)
    return np.round(linear_to_srgb(x) * 255.0).astype(np.uint8)


_LUT_SIZE = 4096
_SRGB_LUT = _srgb_lut(_LUT_SIZE)


def soft_clip(x: np.ndarray, knee: float = 0.75) -> np.ndarray:
    """Identity below ``knee``, then a smooth shoulder towards 1 (highlights roll off instead of
    clipping flat, as a camera's tone curve does)."""
    x = np.asarray(x, dtype=np.float64)
    span = 1.0 - knee
    return np.where(x < knee, x, knee + span * (1.0 - np.exp(-(x - knee) / span)))


_SRGB_LUT16 = np.round(linear_to_srgb(soft_clip(np.arange(65536) / (_LUT_SIZE - 1))) * 255.0).astype(np.uint8)


def linear_to_srgb8(c: np.ndarray) -> np.ndarray:
    """Linear float -> sRGB uint8 through a 12-bit lookup table (fast), with the highlight
    shoulder of :func:`soft_clip` (linear values up to 16 are mapped; below 0 clamps to 0)."""
    idx = (np.maximum(c, 0.0) * (_LUT_SIZE - 1) + 0.5)
    np.minimum(idx, 65535.0, out=idx)
    return np.take(_SRGB_LUT16, idx.astype(np.uint16))


def sample_skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A linear-RGB skin albedo: a random point along the tone ramp with a small hue jitter."""
    t = rng.uniform(0.0, len(SKIN_TONES_SRGB) - 1)
    k = min(int(t), len(SKIN_TONES_SRGB) - 2)
    c = (1 - (t - k)) * SKIN_TONES_SRGB[k] + (t - k) * SKIN_TONES_SRGB[k + 1]
    c = c * rng.uniform(0.95, 1.05) * np.array([1.0, rng.uniform(0.96, 1.04), rng.uniform(0.93, 1.07)])
    return srgb_to_linear(np.clip(c, 0, 255) / 255.0)


@dataclass
class Light:
    """Directional light: ``direction`` (3,) points from the surface towards the light (camera
    frame), ``color`` (3,) linear radiance."""

    direction: np.ndarray
    color: np.ndarray


@dataclass
class Lighting:
    """Hemisphere ambient (``sky`` from ``up``, ``ground`` from below) plus directional lights."""

    sky: np.ndarray
    ground: np.ndarray
    lights: list[Light] = field(default_factory=list)
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0, 0.0]))
    shininess: float = 24.0
    exposure: float = 1.0


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def random_lighting(rng: np.random.Generator) -> Lighting:
    """Lighting varied per sequence: a key light from the camera's side (above, left or right),
    a weaker fill from the other side, sometimes a back/rim light, and tinted ambient."""
    warmth = rng.uniform(-1.0, 1.0)  # < 0 cool (daylight), > 0 warm (tungsten)
    tint = np.array([1.0 + 0.12 * warmth, 1.0, 1.0 - 0.15 * warmth])
    side = rng.choice([-1.0, 1.0])
    key_dir = _unit([side * rng.uniform(0.0, 0.8), -rng.uniform(0.1, 0.9), -rng.uniform(0.4, 1.0)])
    fill_dir = _unit([-side * rng.uniform(0.3, 1.0), rng.uniform(-0.5, 0.3), -rng.uniform(0.2, 0.8)])
    key = rng.uniform(0.6, 1.05)
    lights = [Light(key_dir, key * tint), Light(fill_dir, key * rng.uniform(0.1, 0.3) * tint[::-1] ** 0.3)]
    if rng.uniform() < 0.35:  # rim light from behind
        rim_dir = _unit([rng.uniform(-0.8, 0.8), -rng.uniform(0.2, 0.8), rng.uniform(0.4, 1.0)])
        lights.append(Light(rim_dir, rng.uniform(0.2, 0.5) * np.ones(3)))
    amb = rng.uniform(0.18, 0.4)
    sky = amb * np.array([rng.uniform(0.9, 1.05), rng.uniform(0.95, 1.05), rng.uniform(1.0, 1.15)])
    ground = amb * rng.uniform(0.35, 0.7) * np.array([1.05, 0.97, 0.9])
    return Lighting(sky=sky, ground=ground, lights=lights, shininess=float(rng.uniform(14.0, 40.0)),
                    exposure=float(rng.uniform(0.9, 1.15)))


#: Per-channel wrap of the diffuse term for skin (red scatters furthest).
SKIN_WRAP = np.array([0.55, 0.32, 0.25], dtype=np.float32)


def _dot(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(N, 3) . (3,) without BLAS (a multithreaded gemv leaves spinning threads behind)."""
    d = np.asarray(d, dtype=np.float32)
    return a[:, 0] * d[0] + a[:, 1] * d[1] + a[:, 2] * d[2]


def _pow(x: np.ndarray, n: float) -> np.ndarray:
    """Schlick's cheap approximation of ``x ** n`` for x in [0, 1] (specular lobes)."""
    return x / (n - n * x + x + 1e-12)


def shade(
    normals: np.ndarray,
    view: np.ndarray,
    albedo: np.ndarray,
    wrap: np.ndarray,
    specular: np.ndarray,
    ao: np.ndarray,
    lighting: Lighting,
) -> np.ndarray:
    """Linear RGB (N, 3) float32 of N surface points.

    normals, view (N, 3) unit vectors (view points towards the camera); albedo (N, 3);
    wrap (N,) scale of :data:`SKIN_WRAP` (1 skin, ~0.2 cloth); specular (N,) strength;
    ao (N,) ambient occlusion in [0, 1] (1 = open).
    """
    f32 = np.float32
    n = np.asarray(normals, dtype=f32)
    view = np.asarray(view, dtype=f32)
    wrap = np.asarray(wrap, dtype=f32)
    ao = np.asarray(ao, dtype=f32)
    hemi = f32(0.5) + f32(0.5) * _dot(n, lighting.up)
    ground = lighting.ground.astype(f32)
    amb = ground[None, :] + hemi[:, None] * (lighting.sky - lighting.ground).astype(f32)[None, :]
    amb *= ao[:, None]
    direct = np.zeros_like(amb)
    spec = np.zeros(len(n), dtype=f32)
    ndv_raw = np.einsum("ij,ij->i", n, view)
    ndv = np.clip(ndv_raw, 0.0, 1.0)
    one_m = f32(1.0) - ndv
    fresnel = f32(0.04) + f32(0.96) * (one_m * one_m) * (one_m * one_m) * one_m
    wrap_rgb = [wrap * f32(w) for w in SKIN_WRAP]
    wrap_inv = [f32(1.0) / (f32(1.0) + w) for w in wrap_rgb]
    for light in lighting.lights:
        ldir = light.direction.astype(f32)
        color = light.color.astype(f32)
        ndl = _dot(n, ldir)
        for c in range(3):  # wrapped diffuse, per channel
            direct[:, c] += np.maximum((ndl + wrap_rgb[c]) * wrap_inv[c], f32(0.0)) * color[c]
        # Blinn-Phong: n.h = (n.v + n.l) / |v + l|
        vdl = _dot(view, ldir)
        ndh = np.clip((ndv_raw + ndl) / np.sqrt(np.maximum(f32(2.0) + f32(2.0) * vdl, f32(1e-6))), 0.0, 1.0)
        spec += _pow(ndh, lighting.shininess) * np.maximum(ndl, f32(0.0)) * f32(color.mean())
    spec *= np.asarray(specular, dtype=f32) * (f32(0.3) + f32(2.5) * fresnel) * ao
    rim = (one_m * one_m * one_m) * f32(0.12) * wrap
    direct *= (f32(0.4) + f32(0.6) * ao)[:, None]
    direct += amb
    direct += rim[:, None]
    color = np.asarray(albedo, dtype=f32) * direct
    color += spec[:, None]
    color *= f32(lighting.exposure)
    return color
