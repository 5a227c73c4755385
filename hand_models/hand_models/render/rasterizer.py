"""CPU triangle rasterizer with a z-buffer, vectorised with numpy (no Python loop over triangles).

Conventions: camera optical frame (x right, y down, z forward), pinhole intrinsics ``K``
(``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``), pixel ``(u, v)`` has its centre at integer
coordinates ``(u, v)`` (OpenCV convention), so a pixel covers ``[u - 0.5, u + 0.5]``.

Method:

1. Vertices are projected; triangles with a vertex closer than ``near`` are dropped (no
   clipping: the scenes keep everything in front of the camera) and back faces are culled in 3D
   (``n . v0 >= 0`` with ``n`` the counter-clockwise face normal: faces wind counter-clockwise
   seen from outside, as MANO's do).
2. Each triangle's screen barycentrics and inverse depth are affine functions of the pixel
   centre; their coefficients are precomputed per triangle.
3. Scan conversion: per triangle and row of its pixel bounding box the covered span is
   the intersection of the three half-lines where a barycentric is >= 0 (computed in closed
   form, vectorised over all rows of all triangles), then spans are expanded to fragments.
   Only covered pixels are ever touched (shared edges may be covered twice; the depth test
   settles it).
4. Depth test: each fragment gets an int64 key ``(2^40 - inverse depth quantised to 2^-28/m)
   << 21 | face`` and ``np.minimum.at`` keeps the nearest fragment per pixel (a z-buffer over
   the triangles' bounding box; ties go to the lower face index).
5. For the covered pixels the perspective-correct barycentrics of the winning face are
   recomputed on demand (all, or only the pixels the shader needs), for attribute interpolation.

Anti-aliasing is done by the caller: render at ``supersample`` times the resolution with
:func:`supersampled_intrinsics` and downsample by area averaging (:func:`downsample`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_FACE_BITS = 21
_FACE_MASK = (1 << _FACE_BITS) - 1
_IZ_SCALE = float(1 << 28)  # inverse-depth quantum 2^-28 / m (depth to ~1e-9 m at 0.5 m)
_IZ_MAX = 1000.0  # 1 / near limit
_Q_MAX = 1 << 40
_EMPTY = np.iinfo(np.int64).max


@dataclass
class Fragments:
    """Result of :func:`rasterize` for a ``height x width`` image (only covered pixels stored).

    pixels (N,) int64: flat indices (``v * width + u``) of the covered pixels, ascending.
    faces (N,) int64: the visible face at each covered pixel.
    depths (N,) float32: camera-frame z of the visible surface (metres, to 0.1 um).
    bary (N, 3) float32: perspective-correct barycentrics of the pixel centres in their faces
    (computed on first use; :meth:`barycentrics` computes them for a subset only).
    """

    width: int
    height: int
    pixels: np.ndarray
    faces: np.ndarray
    depths: np.ndarray
    _coef: np.ndarray | None = None  # (N_tri, 9) per rasterized triangle: b0, b1 numerators and 1/z
    _tri: np.ndarray | None = None  # (N,) rasterized-triangle index per pixel
    _bary: np.ndarray | None = None

    @property
    def bary(self) -> np.ndarray:
        if self._bary is None:
            self._bary = self.barycentrics(slice(None))
        return self._bary

    def barycentrics(self, index) -> np.ndarray:
        """(M, 3) float32 perspective-correct barycentrics of the covered pixels ``index``
        (an index array, boolean mask or slice into ``pixels``)."""
        pixels = self.pixels[index]
        if not len(pixels):
            return np.zeros((0, 3), dtype=np.float32)
        u = (pixels % self.width).astype(np.float64)
        v = (pixels // self.width).astype(np.float64)
        # (b_i / z_i) / (sum_j b_j / z_j): numerators and denominator are affine in (u, v)
        c = self._coef[self._tri[index]]
        inv = 1.0 / (c[:, 6] * u + c[:, 7] * v + c[:, 8])
        out = np.empty((len(pixels), 3), dtype=np.float32)
        out[:, 0] = (c[:, 0] * u + c[:, 1] * v + c[:, 2]) * inv
        out[:, 1] = (c[:, 3] * u + c[:, 4] * v + c[:, 5]) * inv
        out[:, 2] = 1.0 - out[:, 0] - out[:, 1]
        np.clip(out, 0.0, 1.0, out=out)
        return out

    @property
    def face_index(self) -> np.ndarray:
        """(H, W) int64 visible face per pixel, -1 where empty."""
        out = np.full(self.width * self.height, -1, dtype=np.int64)
        out[self.pixels] = self.faces
        return out.reshape(self.height, self.width)

    @property
    def depth(self) -> np.ndarray:
        """(H, W) float32 depth (z, metres) of the visible surface, inf where empty."""
        out = np.full(self.width * self.height, np.inf, dtype=np.float32)
        out[self.pixels] = self.depths
        return out.reshape(self.height, self.width)

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a face is visible."""
        out = np.zeros(self.width * self.height, dtype=bool)
        out[self.pixels] = True
        return out.reshape(self.height, self.width)


def supersampled_intrinsics(K: np.ndarray, factor: int) -> np.ndarray:
    """Intrinsics of the same camera rendered ``factor`` times larger (pixel centres kept
    consistent: low-res pixel ``u`` is the mean of high-res pixels ``factor*u .. factor*u+factor-1``)."""
    K = np.asarray(K, dtype=np.float64)
    out = K.copy()
    out[:2, :3] *= factor
    out[0, 2] = factor * K[0, 2] + (factor - 1) / 2.0
    out[1, 2] = factor * K[1, 2] + (factor - 1) / 2.0
    out[2] = (0.0, 0.0, 1.0)
    return out


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average an (H*f, W*f, ...) image down to (H, W, ...) (box filter, exact)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def project(vertices: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(V, 3) camera-frame points -> (V, 2) pixel coordinates (no distortion)."""
    z = vertices[:, 2]
    x = vertices[:, 0] / z
    y = vertices[:, 1] / z
    return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], -1)


def _triangle_setup(vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, width: int, height: int,
                    cull_backfaces: bool, near: float):
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    tri = v[f]  # (F, 3, 3)
    keep = (tri[:, :, 2] > near).all(1)
    if cull_backfaces:
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        keep &= (n * tri[:, 0]).sum(1) < 0.0
    ids = np.flatnonzero(keep)
    tri = tri[ids]
    z = tri[:, :, 2]
    uv = project(tri.reshape(-1, 3), K).reshape(-1, 3, 2)
    x, y = uv[..., 0], uv[..., 1]
    x0, x1, x2 = x[:, 0], x[:, 1], x[:, 2]
    y0, y1, y2 = y[:, 0], y[:, 1], y[:, 2]
    area2 = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    ok = np.abs(area2) > 1e-10
    umin = np.maximum(np.ceil(x.min(1)), 0)
    umax = np.minimum(np.floor(x.max(1)), width - 1)
    vmin = np.maximum(np.ceil(y.min(1)), 0)
    vmax = np.minimum(np.floor(y.max(1)), height - 1)
    ok &= (umin <= umax) & (vmin <= vmax)
    sel = np.flatnonzero(ok)
    ids, area2 = ids[sel], area2[sel]
    x0, x1, x2, y0, y1, y2 = (a[sel] for a in (x0, x1, x2, y0, y1, y2))
    inv = 1.0 / area2
    # b_i = A_i u + B_i v + C_i for the vertex opposite edge (j, k)
    A = np.stack([(y1 - y2), (y2 - y0), (y0 - y1)], 1) * inv[:, None]
    B = np.stack([(x2 - x1), (x0 - x2), (x1 - x0)], 1) * inv[:, None]
    C = np.stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], 1) * inv[:, None]
    invz = 1.0 / z[sel]  # (T, 3)
    # inverse depth is affine in screen space: sum_i b_i / z_i
    D = (A * invz).sum(1)
    E = (B * invz).sum(1)
    F = (C * invz).sum(1)
    box = np.stack([umin[sel], vmin[sel], umax[sel], vmax[sel]], 1).astype(np.int64)
    return ids, A, B, C, D, E, F, box



def _scan(A, B, C, D, E, F, box, width, origin=(0, 0)):
    """Fragments of all triangles: (flat pixel index, triangle index, inverse depth) per fragment,
    pixel indices flat in a ``width``-wide crop whose top-left pixel is ``origin`` (u, v).

    Per triangle and bounding-box row, the covered span is the intersection of the three
    half-lines ``b_i(u) = A_i u + (B_i v + C_i) >= 0``; spans are then expanded pixel by pixel.
    """
    h = box[:, 3] - box[:, 1] + 1
    row_tri = np.repeat(np.arange(len(h)), h)
    v = box[row_tri, 1] + (np.arange(len(row_tri)) - np.repeat(np.cumsum(h) - h, h))
    vf = v.astype(np.float64)
    lo = box[row_tri, 0].astype(np.float64)
    hi = box[row_tri, 2].astype(np.float64)
    for i in range(3):
        a = A[row_tri, i]
        c = B[row_tri, i] * vf + C[row_tri, i]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -c / a
        lo = np.where(a > 0, np.maximum(lo, bound - 1e-7), lo)
        hi = np.where(a < 0, np.minimum(hi, bound + 1e-7), hi)
        hi = np.where((a == 0) & (c < -1e-12), -1.0, hi)
    ul = np.ceil(lo).astype(np.int64)
    ur = np.floor(hi).astype(np.int64)
    n = np.maximum(ur - ul + 1, 0)
    keep = np.flatnonzero(n)
    row_tri, v, ul, n = row_tri[keep], v[keep], ul[keep], n[keep]
    # expand spans to fragments with one repeat per quantity: fragment k of a span starting
    # at (crop) pixel p0 is p0 + k, i.e. arange(total) - (span start in the fragment list - p0)
    starts = np.cumsum(n) - n
    row0 = (v - origin[1]) * width - origin[0]  # crop index of pixel (u, v) is row0 + u
    pix = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(starts - (row0 + ul), n)
    # inverse depth D u + E v + F with u = pix - row0
    iz = np.repeat(D[row_tri], n) * pix + np.repeat(E[row_tri] * v + F[row_tri] - D[row_tri] * row0, n)
    tri = np.repeat(row_tri, n)
    good = iz > 0
    if not good.all():
        pix, tri, iz = pix[good], tri[good], iz[good]
    return pix, tri, iz


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
    cull_backfaces: bool = True,
    near: float = 1e-3,
    executor=None,
) -> Fragments:
    """Rasterize a triangle mesh (camera-frame ``vertices`` (V, 3), ``faces`` (F, 3)) with a z-buffer.

    Several meshes are rasterized together by concatenating them (offset the face indices);
    the face index then tells which mesh is visible. See the module docstring for the method.
    With an ``executor`` (``concurrent.futures``), the triangles are split in two halves
    scan-converted in parallel into two z-buffers merged by a per-pixel minimum (same result).
    """
    K = np.asarray(K, dtype=np.float64)
    ids, A, B, C, D, E, F, box = _triangle_setup(vertices, faces, K, width, height, cull_backfaces, near)
    persp = np.empty((len(ids), 9))
    if not len(ids):
        empty = np.zeros(0, np.int64)
        return Fragments(width=width, height=height, pixels=empty, faces=empty, depths=np.zeros(0, np.float32),
                         _coef=persp, _tri=empty)
    iz_v = 1.0 / np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64)[ids], 2]  # (T, 3)
    persp[:, 0:6:3] = A[:, :2] * iz_v[:, :2]
    persp[:, 1:6:3] = B[:, :2] * iz_v[:, :2]
    persp[:, 2:6:3] = C[:, :2] * iz_v[:, :2]
    persp[:, 6], persp[:, 7], persp[:, 8] = D, E, F
    # the z-buffer covers only the bounding box of all triangles
    u0, v0 = int(box[:, 0].min()), int(box[:, 1].min())
    wc, hc = int(box[:, 2].max()) - u0 + 1, int(box[:, 3].max()) - v0 + 1

    def zbuffer(part: slice) -> np.ndarray:
        keybuf = np.full(wc * hc, _EMPTY, dtype=np.int64)
        pix, tri_index, iz = _scan(A[part], B[part], C[part], D[part], E[part], F[part], box[part], wc, (u0, v0))
        if len(pix):
            # nearest = largest inverse depth: key = (quantised far-ness) << face bits | face
            q = (np.minimum(iz, _IZ_MAX) * _IZ_SCALE).astype(np.int64)
            key = (_Q_MAX - q) << _FACE_BITS
            key |= tri_index + (part.start or 0)
            np.minimum.at(keybuf, pix, key)
        return keybuf

    half = len(ids) // 2
    if executor is not None and half > 500:
        kb0, kb1 = executor.map(zbuffer, [slice(0, half), slice(half, None)])
        keybuf = np.minimum(kb0, kb1, out=kb0)
    else:
        keybuf = zbuffer(slice(0, None))
    crop = np.flatnonzero(keybuf != _EMPTY)
    keys = keybuf[crop]
    tri_index = keys & _FACE_MASK
    depths = (_IZ_SCALE / (_Q_MAX - (keys >> _FACE_BITS)).astype(np.float64)).astype(np.float32)
    pixels = (crop // wc + v0) * width + (crop % wc + u0)
    return Fragments(width=width, height=height, pixels=pixels, faces=ids[tri_index], depths=depths,
                     _coef=persp, _tri=tri_index)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals: area-weighted mean of the adjacent faces' normals."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, f[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def interpolate(attributes: np.ndarray, faces: np.ndarray, fragments: Fragments) -> np.ndarray:
    """Per covered pixel (N, C) value of per-vertex ``attributes`` (V, C) (perspective-correct)."""
    tri = np.asarray(faces)[fragments.faces]  # (N, 3)
    a = np.asarray(attributes, dtype=np.float32)
    return np.einsum("nk,nkc->nc", fragments.bary, np.take(a, tri, axis=0))
