"""Simple procedural meshes for scene context: tapered elliptical tubes (forearms, sleeves,
upper arms, torso, neck) and ellipsoids (head). Faces wind counter-clockwise seen from outside."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def tube_faces(rings: int, around: int) -> np.ndarray:
    """Faces of a closed tube of ``rings`` rings of ``around`` vertices plus two pole vertices
    (start pole ``rings * around``, end pole ``rings * around + 1``)."""
    k = np.arange(rings - 1)[:, None]
    i = np.arange(around)[None, :]
    a = k * around + i
    b = k * around + (i + 1) % around
    c = (k + 1) * around + (i + 1) % around
    d = (k + 1) * around + i
    side = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    i = np.arange(around)
    start, end = rings * around, rings * around + 1
    last = (rings - 1) * around
    cap0 = np.stack([(i + 1) % around, i, np.full(around, start)], -1)
    cap1 = np.stack([last + i, last + (i + 1) % around, np.full(around, end)], -1)
    return np.concatenate([side, cap0, cap1]).astype(np.int64)


def tube(
    centers: np.ndarray,
    radius_a: np.ndarray,
    radius_b: np.ndarray,
    axis_a: np.ndarray,
    around: int = 16,
    cap: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Tube through ring ``centers`` (R, 3) with elliptical sections of half-axes ``radius_a``
    (along ``axis_a``, a (3,) or (R, 3) direction made orthogonal to the tube) and ``radius_b``.

    The poles sit ``cap`` times the end radius beyond the end rings (0: flat ends).
    Returns vertices (R * around + 2, 3) and faces.
    """
    c = np.asarray(centers, dtype=np.float64)
    R = len(c)
    t = np.gradient(c, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    a = np.broadcast_to(np.asarray(axis_a, dtype=np.float64), (R, 3))
    a = a - (a * t).sum(1, keepdims=True) * t
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(t, a)
    th = 2 * np.pi * (np.arange(around) + 0.5) / around
    ra = np.broadcast_to(np.asarray(radius_a, dtype=np.float64), (R,))
    rb = np.broadcast_to(np.asarray(radius_b, dtype=np.float64), (R,))
    ring = (c[:, None, :] + (ra[:, None, None] * np.cos(th)[None, :, None]) * a[:, None, :]
            + (rb[:, None, None] * np.sin(th)[None, :, None]) * b[:, None, :])
    r0 = 0.5 * (ra[0] + rb[0])
    r1 = 0.5 * (ra[-1] + rb[-1])
    poles = np.stack([c[0] - cap * r0 * t[0], c[-1] + cap * r1 * t[-1]])
    verts = np.concatenate([ring.reshape(-1, 3), poles])
    faces = tube_faces(R, around)
    return verts, faces  # (a, b, t) is right-handed, so these faces point outward


def ellipsoid(center: np.ndarray, radii: np.ndarray, rotation: np.ndarray | None = None,
              rings: int = 12, around: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Ellipsoid (a tube whose section follows the meridian), axis along the rotated +y."""
    phi = np.linspace(0.0, np.pi, rings + 2)[1:-1]
    y = -np.cos(phi)  # from -1 (top in camera frame, y down) to +1
    s = np.sin(phi)
    centers = np.stack([np.zeros_like(y), y * radii[1], np.zeros_like(y)], 1)
    v, f = tube(centers, radii[0] * s, radii[2] * s, np.array([1.0, 0.0, 0.0]), around=around, cap=0.0)
    # move the poles to the ends of the axis
    v[-2] = (0.0, -radii[1], 0.0)
    v[-1] = (0.0, radii[1], 0.0)
    R = np.eye(3) if rotation is None else np.asarray(rotation)
    return v @ R.T + np.asarray(center, dtype=np.float64), f


def outward_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces re-wound if most of them point towards the mesh's interior (centroid test)."""
    v = vertices[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    out = (n * (v.mean(1) - vertices.mean(0))).sum(1)
    return faces if out.sum() >= 0 else faces[:, [0, 2, 1]]
