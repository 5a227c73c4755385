"""Mesh rasterization and shading of the synthetic scene renderer (:mod:`hand_models.render.scene`).

:func:`_render_meshes` rasterizes a list of :class:`_Mesh` (hands, arms, person) in one z-buffer
pass (:mod:`.rasterizer`) and shades the covered pixels (:mod:`.shading`), with the per-pixel skin
detail of :class:`_SkinDetail` (creases, nails, knuckles, bump-mapped palm and back of the hand)
and screen-space ambient occlusion (:func:`_screen_space_ao`). Moved out of ``scene.py`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from threadpoolctl import ThreadpoolController

from hand_models.render.hand_mesh import _smooth
from hand_models.render.rasterizer import Fragments, rasterize
from hand_models.render.shading import Lighting, shade


def _normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = vertices
    n = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    idx = faces.ravel()
    out = np.stack([np.bincount(idx, weights=np.repeat(n[:, c], 3), minlength=len(v)) for c in range(3)], 1)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@dataclass
class _Mesh:
    vertices: np.ndarray
    faces: np.ndarray
    attrs: np.ndarray  # albedo rgb, wrap, specular: (5,), or (V, 5) with albedo per vertex (wrap and
    # specular are taken from the first row: they are per mesh)
    owner: str  # "left", "right" or "scene"
    detail: np.ndarray | None = None  # (V, 7) skin detail inputs (hands only)


_NO_DETAIL = np.array([0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0])


def _interp(table: np.ndarray, tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Per-pixel (N, C) values of per-vertex ``table`` (V, C) at faces ``tri`` (N, 3) with
    barycentrics (N, 3) (one gather, one contraction: several times faster than three gathers)."""
    return np.einsum("nk,nkc->nc", bary, np.take(table, tri, axis=0))


_POOL = None
_BLAS = ThreadpoolController()


def _pool():
    """A small thread pool shared by all sequences (created on first use)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hand_render")
    return _POOL


def _render_meshes(
    meshes: list[_Mesh], K: np.ndarray, width: int, height: int, lighting: Lighting, ao_strength: float,
    ss: int = 1, skin: "_SkinDetail | None" = None, threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, Fragments, np.ndarray]:
    """Rasterize meshes into a ``width x height`` target (``ss`` times the output resolution) and
    shade them. Returns, for the covered output pixels, their flat indices (M,) and premultiplied
    linear RGBA (M, 4) (alpha = covered fraction of the pixel's ``ss x ss`` samples), plus the
    fragments and the owning mesh (index into ``meshes``) of each fragment.

    Shading is the costly part, so it runs once per output pixel whose samples all show the same
    mesh (the block's first sample stands for all of them) and per sample only along silhouettes
    and mesh boundaries, where the anti-aliasing needs it (samples averaged, box filter).
    """
    verts = np.concatenate([m.vertices for m in meshes])
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
    faces = np.concatenate([m.faces + o for m, o in zip(meshes, offsets[:-1])])
    face_owner = np.repeat(np.arange(len(meshes)), [len(m.faces) for m in meshes])
    normals = np.concatenate([_normals(m.vertices, m.faces) for m in meshes])
    albedo_v = np.concatenate([np.broadcast_to(np.asarray(m.attrs)[..., :3], (len(m.vertices), 3)) for m in meshes])
    table = np.concatenate([normals, albedo_v], 1).astype(np.float32)  # (V, 6)
    per_mesh = np.array([np.asarray(m.attrs).reshape(-1, 5)[0, 3:5] for m in meshes], np.float32)  # wrap, specular
    has_detail = any(m.detail is not None for m in meshes)
    if has_detail:
        detail = np.concatenate([m.detail if m.detail is not None else np.broadcast_to(_NO_DETAIL, (len(m.vertices), 7))
                                 for m in meshes]).astype(np.float32)
        detail_mesh = np.array([m.detail is not None for m in meshes])
    fr = rasterize(verts, faces, K, width, height, executor=_pool() if threads > 1 else None)
    owner = face_owner[fr.faces]
    if not len(fr.pixels):
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), fr, owner
    wl = width // ss
    if ss > 1:
        hl = height // ss
        own_map = np.zeros((height, width), np.int16)
        own_map.reshape(-1)[fr.pixels] = owner + 1
        first = own_map[0:hl * ss:ss, 0:wl * ss:ss]
        interior = first > 0
        for dy in range(ss):
            for dx in range(ss):
                if dx or dy:
                    interior &= own_map[dy:hl * ss:ss, dx:wl * ss:ss] == first
        int_low = np.flatnonzero(interior)
        # the first sample of each interior block (covered, so it is among the fragments); the
        # map is only read where it was written
        first_pix = (int_low // wl) * (ss * width) + (int_low % wl) * ss
        frag_of = np.empty(width * height, np.int32)
        frag_of[fr.pixels] = np.arange(len(fr.pixels), dtype=np.int32)
        rep = frag_of[first_pix].astype(np.int64)
        u2, v2 = fr.pixels % width, fr.pixels // width
        inside = (u2 < wl * ss) & (v2 < hl * ss)
        low = (v2 // ss) * wl + u2 // ss
        edge = np.flatnonzero(inside & ~interior.ravel()[np.minimum(low, hl * wl - 1)])
        sel = np.concatenate([rep, edge])
    else:
        sel = np.arange(len(fr.pixels))
    pix_sel = fr.pixels[sel]
    if ao_strength > 0:
        ao_all = _screen_space_ao(pix_sel, fr.depths[sel], width, height, max(1, ss), ao_strength)
    else:
        ao_all = np.ones(len(sel), np.float32)

    def shade_part(part: slice) -> np.ndarray:
        sp = sel[part]
        tri = faces[fr.faces[sp]]
        b = fr.barycentrics(sp)
        val = _interp(table, tri, b)
        n = val[:, :3]
        n /= np.sqrt(np.einsum("ij,ij->i", n, n) + 1e-12)[:, None]
        pix = pix_sel[part]
        view = np.empty((len(pix), 3), np.float32)
        view[:, 0] = (np.float32(K[0, 2]) - (pix % width).astype(np.float32)) / np.float32(K[0, 0])
        view[:, 1] = (np.float32(K[1, 2]) - (pix // width).astype(np.float32)) / np.float32(K[1, 1])
        view[:, 2] = -1.0
        view /= np.sqrt(np.einsum("ij,ij->i", view, view))[:, None]
        own_sel = owner[sp]
        wrap, specular = per_mesh[own_sel, 0], per_mesh[own_sel, 1]
        albedo = val[:, 3:6]
        if skin is not None and has_detail:
            h = np.flatnonzero(detail_mesh[own_sel])
            if len(h):
                th, bh = tri[h], b[h]
                dv = _interp(detail, th, bh)
                nh, ah, sh = skin(dv, n[h], albedo[h], specular[h])
                n[h], albedo[h], specular[h] = nh, ah, sh
        return shade(n, view, albedo, wrap, specular, ao_all[part], lighting)

    # the shading is pure numpy on independent pixels: two halves in two threads (numpy releases
    # the GIL in its loops), which uses both cores of a 2-core machine
    half = len(sel) // 2
    if threads > 1 and half > 20000:
        colors = np.concatenate(list(_pool().map(shade_part, [slice(0, half), slice(half, None)])))
    else:
        colors = shade_part(slice(None))
    if ss == 1:
        rgba = np.empty((len(sel), 4), np.float32)
        rgba[:, :3] = colors
        rgba[:, 3] = 1.0
        return fr.pixels.copy(), rgba, fr, owner
    n_int = len(int_low)
    edge_low, inv = np.unique(low[edge], return_inverse=True)
    rgba = np.empty((n_int + len(edge_low), 4), np.float32)
    rgba[:n_int, :3] = colors[:n_int]
    rgba[:n_int, 3] = 1.0
    w = 1.0 / (ss * ss)
    for c in range(3):
        rgba[n_int:, c] = np.bincount(inv, weights=colors[n_int:, c], minlength=len(edge_low)) * w
    rgba[n_int:, 3] = np.bincount(inv, minlength=len(edge_low)) * w
    return np.concatenate([int_low, edge_low]), rgba, fr, owner


class _SkinDetail:
    """Per-pixel skin detail of the hands (on top of the per-vertex albedo): palmar flexion
    creases of the fingers and thumb, the palm's main creases (distal and proximal transverse,
    thenar, wrist), nails with a pale free edge, darker knuckle skin, and bump-mapped relief of
    the palm (thenar and hypothenar eminences, central hollow, pads under the fingers) and of the
    back of the hand (knuckles, extensor tendons). Evaluated from interpolated rest-pose
    coordinates, so the lines are about a millimetre wide whatever the mesh resolution.

    Inputs per pixel (the ``detail`` columns): hand number + 1 (0: not a hand), x along the hand,
    z across it (towards the pinky), finger arc length, finger index (MANO group order, -1 palm),
    dorsal weight (rest normal . back of the hand), palmar weight. The relief needs the palm's
    axes in the camera frame for the current frame (:meth:`set_axes`)."""

    #: Palm relief (x, z, sigma, height in metres; palmar side): thenar and hypothenar
    #: eminences, the central hollow, and the pads under the four fingers.
    PALMAR_BUMPS = np.array([
        (0.030, -0.022, 0.013, 0.005), (0.032, 0.028, 0.011, 0.0035), (0.052, 0.002, 0.014, -0.003),
        (0.079, -0.022, 0.006, 0.0015), (0.081, -0.002, 0.006, 0.0015), (0.078, 0.017, 0.006, 0.0015),
        (0.072, 0.032, 0.005, 0.0012),
    ], np.float32)
    #: Back of the hand: the four knuckles.
    DORSAL_BUMPS = np.array([
        (0.086, -0.022, 0.0065, 0.0035), (0.088, -0.002, 0.0065, 0.004), (0.084, 0.017, 0.006, 0.0035),
        (0.076, 0.033, 0.0055, 0.003),
    ], np.float32)
    #: Extensor tendons (x0, z0, x1, z1, sigma, height) from the wrist to the knuckles.
    TENDONS = np.array([
        (0.015, -0.012, 0.080, -0.021, 0.003, 0.0006), (0.015, -0.003, 0.082, -0.002, 0.003, 0.0006),
        (0.018, 0.007, 0.078, 0.017, 0.003, 0.0005), (0.022, 0.015, 0.070, 0.032, 0.003, 0.0004),
    ], np.float32)

    def __init__(self, creases: np.ndarray, tip_arc: np.ndarray, skin: np.ndarray, rng: np.random.Generator):
        self.creases = creases.astype(np.float32)
        self.tip_arc = tip_arc.astype(np.float32)
        self.nail_color = (0.45 * skin + 0.55 * np.array([0.78, 0.55, 0.52])).astype(np.float32)
        self.nail_edge = (0.5 * skin + 0.5 * np.array([0.85, 0.80, 0.74])).astype(np.float32)
        self.crease_depth = float(rng.uniform(0.3, 0.5))
        self.crease_width = float(rng.uniform(0.0006, 0.0009))
        self.relief = float(rng.uniform(0.8, 1.3))
        self.axes = np.zeros((2, 2, 3), np.float32)  # per hand: camera-frame x and z axes of the palm

    def set_axes(self, hand: int, x_axis: np.ndarray, z_axis: np.ndarray) -> None:
        self.axes[hand] = (x_axis, z_axis)

    @staticmethod
    def _bump_gradient(x, z, bumps):
        gx = np.zeros_like(x)
        gz = np.zeros_like(x)
        for bx, bz, sig, h in bumps:
            dx, dz = x - bx, z - bz
            e = (h / (sig * sig)) * np.exp(-(dx * dx + dz * dz) / (2 * sig * sig))
            gx -= dx * e
            gz -= dz * e
        return gx, gz

    @staticmethod
    def _ridge_gradient(x, z, ridges):
        gx = np.zeros_like(x)
        gz = np.zeros_like(x)
        for x0, z0, x1, z1, sig, h in ridges:
            ax, az = x1 - x0, z1 - z0
            t = np.clip(((x - x0) * ax + (z - z0) * az) / (ax * ax + az * az), 0.0, 1.0)
            dx, dz = x - (x0 + t * ax), z - (z0 + t * az)
            e = (h / (sig * sig)) * np.exp(-(dx * dx + dz * dz) / (2 * sig * sig))
            gx -= dx * e
            gz -= dz * e
        return gx, gz

    def __call__(self, d: np.ndarray, normals: np.ndarray, albedo: np.ndarray, specular: np.ndarray):
        """Modified (normals, albedo, specular) of N pixels (``normals`` is changed in place)."""
        f32 = np.float32
        albedo = np.array(albedo, dtype=f32)
        specular = np.array(specular, dtype=f32)
        hand = d[:, 0] > 0.5
        if not hand.any():
            return normals, albedo, specular
        specular[hand] *= 1.0 - 0.3 * d[hand, 6]  # the palm is less shiny
        fid = d[:, 4]
        finger = hand & (fid > -0.5)
        w = f32(self.crease_width)
        # palmar finger creases (a double line at the PIP, single elsewhere)
        i = np.flatnonzero(finger & (d[:, 6] > 0.3))
        if len(i):
            ds = d[i, 3:4] - self.creases[np.rint(fid[i]).astype(np.int64)]
            crease = np.exp(-(ds / w) ** 2).sum(1) + f32(0.7) * np.exp(-((ds[:, 1] - f32(2.2) * w) / w) ** 2)
            self._darken(albedo, specular, i, crease * _smooth(d[i, 6], 0.3, 0.8))
        # palm creases, in the rest palm's (x, z) coordinates
        i = np.flatnonzero(hand & ~finger & (d[:, 6] > 0.5))
        if len(i):
            x, z = d[i, 1], d[i, 2]
            zc = np.clip(z, -0.045, 0.045)
            w2 = f32(1.4) * w
            distal = (x - (0.0712 - 0.12 * zc + 2.5 * zc * zc)) / w2  # pinky edge -> between index and middle
            proximal = (x - (0.0555 + 0.18 * zc + 1.0 * zc * zc)) / w2  # index edge -> middle of the palm
            xc = np.clip(x, 0.0, 0.065)
            thenar = (z - (-0.008 - 0.028 * np.sin(f32(np.pi / 2 / 0.062) * xc))) / w2  # around the thumb's base
            wrist = np.minimum(np.abs(x + 0.004), np.abs(x + 0.011)) / w
            pal = (np.exp(-distal * distal) * (z > -0.016) + np.exp(-proximal * proximal) * (z < 0.026)
                   + np.exp(-thenar * thenar) * ((x > 0.004) & (x < 0.064)) + f32(0.6) * np.exp(-wrist * wrist))
            self._darken(albedo, specular, i, pal * _smooth(d[i, 6], 0.5, 0.9))
        # nails: the dorsal end of each finger's last phalanx, with a pale free edge and a fold
        i = np.flatnonzero(finger & (d[:, 5] > 0.45))
        if len(i):
            fc = np.rint(fid[i]).astype(np.int64)
            from_tip = self.tip_arc[fc] - d[i, 3]
            length = np.where(fc == 4, f32(0.013), f32(0.011))
            keep = from_tip < length + 0.003
            i, from_tip, length = i[keep], from_tip[keep], length[keep]
            side = _smooth(d[i, 5], 0.45, 0.6)
            nail = side * _smooth(length - from_tip, 0.0, 0.0015)
            free = nail * _smooth(0.0022 - from_tip, 0.0, 0.0008)
            fold = side * np.exp(-((length - from_tip) / 0.0008) ** 2)
            a = albedo[i]
            a += (self.nail_color[None, :] - a) * nail[:, None]
            a += (self.nail_edge[None, :] - a) * free[:, None]
            a *= (1.0 - 0.25 * fold)[:, None]
            albedo[i] = a
            specular[i] *= 1.0 + 1.5 * nail
        # knuckles: slightly darker skin over the dorsal PIP joints
        i = np.flatnonzero(finger & (d[:, 5] > 0.2))
        if len(i):
            ds = d[i, 3] - self.creases[np.rint(fid[i]).astype(np.int64), 1]
            near = np.abs(ds) < 0.015
            i, ds = i[near], ds[near]
            albedo[i] *= (1.0 - 0.12 * _smooth(d[i, 5], 0.2, 0.7) * np.exp(-(ds / 0.006) ** 2))[:, None]
        # relief of the palm and the back of the hand: tilt the normal against the height gradient
        i = np.flatnonzero(hand & ~finger & (np.abs(d[:, 1] - 0.045) < 0.06))
        if len(i):
            x, z = d[i, 1], d[i, 2]
            wp = _smooth(d[i, 6], 0.3, 0.8) * f32(self.relief)
            wd = _smooth(d[i, 5], 0.2, 0.7) * f32(self.relief)
            gxp, gzp = self._bump_gradient(x, z, self.PALMAR_BUMPS)
            gxd, gzd = self._bump_gradient(x, z, self.DORSAL_BUMPS)
            gxt, gzt = self._ridge_gradient(x, z, self.TENDONS)
            gx = wp * gxp + wd * (gxd + gxt)
            gz = wp * gzp + wd * (gzd + gzt)
            ax = self.axes[np.clip(np.rint(d[i, 0]).astype(np.int64) - 1, 0, 1)]  # (n, 2, 3)
            nn = normals[i] - gx[:, None] * ax[:, 0] - gz[:, None] * ax[:, 1]
            nn /= np.sqrt(np.einsum("ij,ij->i", nn, nn))[:, None]
            normals[i] = nn
        return normals, albedo, specular

    def _darken(self, albedo: np.ndarray, specular: np.ndarray, i: np.ndarray, crease: np.ndarray) -> None:
        """Crease lines: darker and a little redder (less green and blue), less shiny."""
        c = np.clip(crease, 0.0, 1.0)
        dark = 1.0 - self.crease_depth * c
        albedo[i] *= np.stack([dark, dark * (1.0 - 0.07 * c), dark * (1.0 - 0.08 * c)], 1)
        specular[i] *= 1.0 - 0.5 * c


def _screen_space_ao(pixels: np.ndarray, depths: np.ndarray, width: int, height: int, ss: int,
                     strength: float) -> np.ndarray:
    """Occlusion per pixel from depth unsharp masking on a coarse grid (half the output
    resolution): a surface behind the mean depth of its covered surroundings lies in a crease or
    in the contact shadow of a nearer surface (up to full strength at 2 cm behind)."""
    q = 2 * ss
    gw, gh = -(-width // q), -(-height // q)
    far = np.float32(100.0)
    grid = np.full(gw * gh, far, np.float32)
    cell = (pixels // width // q) * gw + (pixels % width) // q
    np.minimum.at(grid, cell, depths)
    d = grid.reshape(gh, gw)
    covered = d < far
    sigma = max(1.0, 0.012 * width / q)
    num = cv2.GaussianBlur(np.where(covered, d, 0.0).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(covered.astype(np.float32), (0, 0), sigma)
    mean = num / np.maximum(den, 1e-3)
    delta = (d - mean) * np.minimum(den * 2.0, 1.0)
    occ = np.clip(delta / 0.02, 0.0, 1.0).ravel()
    return (1.0 - strength * occ[cell]).astype(np.float32)
