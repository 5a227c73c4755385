"""Procedural MANO-format hand model: our own hand, in the official file format.

MANO model files are licensed and never shipped. This module builds a hand model of our own that
has exactly the arrays, shapes and dtypes of ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``
(778 vertices, 1538 faces, 16-joint kinematic tree, sparse joint regressor, skinning weights,
10 shape directions, 135 pose correctives, 45 PCA pose components and their mean) and writes it
as ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` into a folder of its own, so loading, skinning, fitting
and export run through the same code path as with the official files.

Geometry (right hand, rest = flat hand, metres): the wrist joint is at the origin, fingers point
along +x, the palm faces -y, the thumb lies on the -z side. Adult proportions: 18.8 cm from the
wrist joint to the middle fingertip. The left model is the right one mirrored in x (as the
official left model is), with faces re-wound and the pose quantities mirrored.

The mesh is made of six closed tubes (palm, five fingers) plus a hidden 6-triangle septum inside
the palm; the fingertip vertices sit at the standard MANO fingertip indices
(``hand_models.joints.MANO_FINGERTIP_VERTICES``). Joint positions are ring centres, so the joint
regressor averages the vertices of one ring per joint. Shape directions are the derivatives of
the generator with respect to ten anatomical shape parameters (size, finger length, palm width,
...), so each beta changes the hand the way its name says.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import scipy.sparse

from hand_models.joints import MANO_FINGERTIP_VERTICES, MANO_PARENTS

MODEL_NAME = "procedural_mano_v1"
NUM_VERTICES = 778
NUM_FACES = 1538

FINGER_RING_VERTS = 10
PALM_RING_VERTS = 24
PALM_RING_X = np.array([-0.018, 0.0, 0.016, 0.032, 0.048, 0.064, 0.078, 0.090, 0.100])

# finger name -> (MANO joint indices base..distal, number of rings)
_FINGER_LAYOUT = {
    "index": ((1, 2, 3), 11),
    "middle": ((4, 5, 6), 11),
    "pinky": ((7, 8, 9), 10),
    "ring": ((10, 11, 12), 11),
    "thumb": ((13, 14, 15), 12),
}
_FINGER_ORDER = ("thumb", "index", "middle", "ring", "pinky")

#: Palm-side normal of the right hand at rest (fingers flex towards it).
PALM_NORMAL_RIGHT = np.array([0.0, -1.0, 0.0])


@dataclass(frozen=True)
class HandShape:
    """Anatomical parameters of the generator (metres unless a ratio). Defaults: an adult hand."""

    scale: float = 1.0
    finger_length: float = 1.0
    palm_width: float = 1.0
    thickness: float = 1.0
    thumb_length: float = 1.0
    palm_length: float = 1.0
    finger_thickness: float = 1.0
    index_ring_ratio: float = 0.0
    pinky_size: float = 1.0
    palm_thickness: float = 1.0


#: Change of each HandShape field per unit beta (beta k moves field k by this much).
SHAPE_STEPS = {
    "scale": 0.045,
    "finger_length": 0.04,
    "palm_width": 0.05,
    "thickness": 0.06,
    "thumb_length": 0.05,
    "palm_length": 0.04,
    "finger_thickness": 0.06,
    "index_ring_ratio": 0.03,
    "pinky_size": 0.06,
    "palm_thickness": 0.06,
}


@dataclass(frozen=True)
class _Finger:
    base: np.ndarray  # (3,) first joint (MCP, or CMC for the thumb)
    direction: np.ndarray  # (3,) unit, along the finger at rest
    dorsal: np.ndarray  # (3,) unit, nail side, orthogonal to direction
    lengths: tuple[float, float, float]
    radius: float


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _orthogonal_part(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    return _unit(v - np.dot(v, axis) * axis)


def _fingers(shape: HandShape) -> dict[str, _Finger]:
    """Rest skeleton of the right hand for ``shape`` (before the global scale)."""
    pw, pl, fl = shape.palm_width, shape.palm_length, shape.finger_length
    ft = shape.finger_thickness * shape.thickness
    spec = {
        # name: MCP (x, y, z), direction, segment lengths, radius
        "index": ((0.090, 0.000, -0.022), (1.0, 0.0, -0.10), (0.040, 0.024, 0.021), 0.0092),
        "middle": ((0.092, 0.001, -0.002), (1.0, 0.0, 0.00), (0.045, 0.028, 0.023), 0.0095),
        "ring": ((0.087, -0.001, 0.017), (1.0, 0.0, 0.08), (0.042, 0.027, 0.022), 0.0088),
        "pinky": ((0.079, -0.004, 0.033), (1.0, 0.0, 0.18), (0.033, 0.019, 0.019), 0.0078),
    }
    out = {}
    for name, (base, direction, lengths, radius) in spec.items():
        ratio = {"index": 1.0 + shape.index_ring_ratio, "ring": 1.0 - shape.index_ring_ratio}.get(name, 1.0)
        size = shape.pinky_size if name == "pinky" else 1.0
        b = np.array(base) * np.array([pl, 1.0, pw])
        d = _unit(direction)
        out[name] = _Finger(
            base=b,
            direction=d,
            dorsal=_orthogonal_part(np.array([0.0, 1.0, 0.0]), d),
            lengths=tuple(float(x) * fl * ratio * size for x in lengths),
            radius=radius * ft * size,
        )
    d_thumb = _unit([0.72, -0.18, -0.67])
    out["thumb"] = _Finger(
        base=np.array([0.020 * pl, -0.009, -0.016 * pw]),
        direction=d_thumb,
        dorsal=_orthogonal_part(np.array([0.0, 1.0, -0.8]), d_thumb),
        lengths=tuple(x * shape.thumb_length for x in (0.042, 0.032, 0.027)),
        radius=0.0105 * ft,
    )
    return out


def _finger_stations(name: str, lengths: tuple[float, float, float], tip_radius: float) -> tuple[np.ndarray, list[int]]:
    """Arc-length positions of a finger's rings and the ring indices of its three joints.

    Joints sit at s = 0, L1, L1 + L2; the tip pole at L1 + L2 + L3. The last three rings form the
    rounded tip (polar angles 90, 60 and 30 degrees on a sphere of ``tip_radius``).
    """
    l1, l2, l3 = lengths
    total = l1 + l2 + l3
    cap = [total - tip_radius * (1.0 - np.cos(a)) for a in (np.pi / 2, np.pi / 3, np.pi / 6)]
    distal_mid = l1 + l2 + 0.5 * (l3 - tip_radius)
    n_first = {"thumb": 3, "pinky": 1}.get(name, 2)
    first = [l1 * k / (n_first + 1) for k in range(1, n_first + 1)]
    stations = [-0.010, 0.0, *first, l1, l1 + l2 / 2, l1 + l2, distal_mid, *cap]
    joint_rings = [1, 2 + n_first, 4 + n_first]
    return np.array(stations), joint_rings


def _finger_cap_radius(stations: np.ndarray, total: float, tip_radius: float) -> np.ndarray:
    """Radius factor of each ring of a finger's rounded tip (1 away from the tip)."""
    start = total - tip_radius
    depth = np.clip((stations - start) / tip_radius, 0.0, 1.0)
    return np.sqrt(np.clip(1.0 - depth**2, 0.0, 1.0))


def _palm_section(x: np.ndarray, shape: HandShape) -> tuple[np.ndarray, ...]:
    """Palm cross-section along x: centre z, centre y, half width, half thickness."""
    xs = np.array([-0.018, 0.0, 0.05, 0.09, 0.100])
    half_w = np.array([0.027, 0.028, 0.041, 0.043, 0.040]) * shape.palm_width
    half_t = np.array([0.016, 0.017, 0.016, 0.013, 0.011]) * shape.palm_thickness * shape.thickness
    cz = np.array([0.0, 0.0, 0.002, 0.005, 0.006]) * shape.palm_width
    cy = np.array([0.0, 0.0, -0.001, -0.001, -0.001])
    xq = x / shape.palm_length
    return (np.interp(xq, xs, cz), np.interp(xq, xs, cy), np.interp(xq, xs, half_w), np.interp(xq, xs, half_t))


def _superellipse(n: int, a: float, b: float, power: float = 2.6) -> np.ndarray:
    """n points (n, 2) on |u/a|^p + |v/b|^p = 1, symmetric so their mean is exactly 0."""
    theta = 2 * np.pi * (np.arange(n) + 0.5) / n
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([a * np.sign(c) * np.abs(c) ** (2 / power), b * np.sign(s) * np.abs(s) ** (2 / power)], -1)


@dataclass
class _Part:
    name: str
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3) local indices
    ring_slices: list[slice]  # local vertex ranges of each ring
    stations: np.ndarray  # arc length (fingers) or x (palm) of each ring
    tip: int  # local index of the pole at the distal end
    radial: np.ndarray  # (V, 3) unit outward direction from the part axis
    joint_rings: list[int]  # ring index of each joint of the part (fingers: 3; palm: wrist)
    arc: np.ndarray  # (V,) arc length of each vertex along the part axis


def _tube_faces(n: int, rings: int) -> np.ndarray:
    """Faces of a closed tube: ``rings`` rings of ``n`` vertices, then base pole, then tip pole."""
    faces = []
    for k in range(rings - 1):
        for i in range(n):
            a, b = k * n + i, k * n + (i + 1) % n
            c, d = (k + 1) * n + (i + 1) % n, (k + 1) * n + i
            faces += [(a, b, c), (a, c, d)]
    base, tip = rings * n, rings * n + 1
    last = (rings - 1) * n
    for i in range(n):
        faces.append(((i + 1) % n, i, base))
        faces.append((last + i, last + (i + 1) % n, tip))
    return np.array(faces, dtype=np.int64)


def _build_finger(name: str, finger: _Finger) -> _Part:
    n = FINGER_RING_VERTS
    tip_radius = finger.radius * 0.80
    stations, joint_rings = _finger_stations(name, finger.lengths, tip_radius)
    total = sum(finger.lengths)
    taper = np.interp(stations, [0.0, finger.lengths[0], total], [1.0, 0.90, 0.80])
    cap = _finger_cap_radius(stations, total, tip_radius)
    radius = finger.radius * taper * np.minimum(cap, 1.0)
    # where the cap shrinks the ring, scale from the tip radius instead of the tapered one
    in_cap = stations > total - tip_radius
    radius[in_cap] = tip_radius * cap[in_cap]
    lateral = np.cross(finger.dorsal, finger.direction)  # lateral x dorsal = direction
    verts, radial = [], []
    section = _superellipse(n, 1.06, 0.92, power=2.2)
    for s, r in zip(stations, radius):
        centre = finger.base + s * finger.direction
        for u, v in section:
            offset = r * (u * lateral + v * finger.dorsal)
            verts.append(centre + offset)
            radial.append(_unit(u * lateral + v * finger.dorsal))
    verts.append(finger.base + (stations[0] - 0.35 * finger.radius) * finger.direction)
    radial.append(-finger.direction)
    verts.append(finger.base + total * finger.direction)
    radial.append(finger.direction)
    rings = len(stations)
    return _Part(
        name=name,
        vertices=np.array(verts),
        faces=_tube_faces(n, rings),
        ring_slices=[slice(k * n, (k + 1) * n) for k in range(rings)],
        stations=stations,
        tip=rings * n + 1,
        radial=np.array(radial),
        joint_rings=joint_rings,
        arc=np.concatenate([np.repeat(stations, n), [stations[0] - 0.35 * finger.radius, total]]),
    )


def _build_palm(shape: HandShape) -> _Part:
    n = PALM_RING_VERTS
    xs = PALM_RING_X * shape.palm_length
    cz, cy, hw, ht = _palm_section(xs, shape)
    verts, radial = [], []
    for k, x in enumerate(xs):
        # thinner towards the far end so the knuckle line is rounded
        section = _superellipse(n, ht[k], hw[k], power=2.8)  # (y, z) offsets; l = +y, u = +z
        for y_off, z_off in section:
            verts.append((x, cy[k] + y_off, cz[k] + z_off))
            radial.append(_unit((0.0, y_off / ht[k] ** 2, z_off / hw[k] ** 2)))
    verts.append((xs[0] - 0.004 * shape.palm_length, cy[0], cz[0]))
    radial.append((-1.0, 0.0, 0.0))
    verts.append((xs[-1] + 0.005 * shape.palm_length, cy[-1], cz[-1]))
    radial.append((1.0, 0.0, 0.0))
    rings = len(xs)
    return _Part(
        name="palm",
        vertices=np.array(verts, dtype=np.float64),
        faces=_tube_faces(n, rings),
        ring_slices=[slice(k * n, (k + 1) * n) for k in range(rings)],
        stations=xs,
        tip=rings * n + 1,
        radial=np.array(radial, dtype=np.float64),
        joint_rings=[int(np.argmin(np.abs(PALM_RING_X)))],
        arc=np.concatenate([np.repeat(xs, n), [verts[-2][0], verts[-1][0]]]),
    )


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class _Assembly:
    vertices: np.ndarray  # (778, 3)
    faces: np.ndarray  # (1538, 3)
    parts: dict[str, tuple[_Part, int]]  # name -> (part, global offset)
    permutation: np.ndarray  # assembled index -> final index


def _assemble(shape: HandShape) -> _Assembly:
    fingers = _fingers(shape)
    parts = [_build_palm(shape)] + [_build_finger(name, fingers[name]) for name in _FINGER_ORDER]
    offsets, verts, faces, offset = {}, [], [], 0
    for part in parts:
        offsets[part.name] = (part, offset)
        verts.append(part.vertices)
        faces.append(part.faces + offset)
        offset += len(part.vertices)
    # hidden septum: an octagon of thumb base-ring vertices (inside the palm), fan-triangulated
    thumb, t_off = offsets["thumb"]
    ring0 = np.arange(thumb.ring_slices[0].start, thumb.ring_slices[0].stop)[:: max(1, FINGER_RING_VERTS // 8)][:8]
    ring0 = ring0 + t_off
    septum = [(ring0[0], ring0[i], ring0[i + 1]) for i in range(1, 7)]
    faces.append(np.array(septum, dtype=np.int64))
    vertices = np.concatenate(verts) * shape.scale
    faces = np.concatenate(faces)
    if len(vertices) != NUM_VERTICES or len(faces) != NUM_FACES:
        raise AssertionError(f"procedural mesh has {len(vertices)} vertices / {len(faces)} faces")
    # move each fingertip pole to the standard fingertip vertex index
    perm = np.arange(NUM_VERTICES)
    for name in _FINGER_ORDER:
        part, off = offsets[name]
        src, dst = off + part.tip, MANO_FINGERTIP_VERTICES[name]
        i_src, i_dst = int(np.where(perm == src)[0][0]), dst
        perm[i_src], perm[i_dst] = perm[i_dst], perm[i_src]
    # perm[final] = assembled index
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(NUM_VERTICES)
    return _Assembly(vertices=vertices[perm], faces=inverse[faces], parts=offsets, permutation=inverse)


def _joint_regressor(asm: _Assembly) -> np.ndarray:
    """(16, 778): each joint is the mean of one ring of vertices, whose centre is the joint."""
    reg = np.zeros((16, NUM_VERTICES))
    palm, p_off = asm.parts["palm"]
    todo = [(0, palm, p_off, palm.joint_rings[0])]
    for name, (joints, _) in _FINGER_LAYOUT.items():
        part, off = asm.parts[name]
        todo += [(j, part, off, ring) for j, ring in zip(joints, part.joint_rings)]
    for joint, part, off, ring in todo:
        sl = part.ring_slices[ring]
        idx = asm.permutation[np.arange(sl.start, sl.stop) + off]
        reg[joint, idx] = 1.0 / len(idx)
    return reg


def _skinning_weights(asm: _Assembly, shape: HandShape) -> np.ndarray:
    """(778, 16) linear-blend-skinning weights, rows sum to 1.

    A finger vertex follows the joint at the proximal end of its phalanx, blended over a short
    zone around each joint; the palm follows the wrist, its thenar part partly the thumb CMC and
    its knuckle rim partly the nearest finger's MCP.
    """
    w = np.zeros((NUM_VERTICES, 16))
    fingers = _fingers(shape)
    for name, (joints, _) in _FINGER_LAYOUT.items():
        part, off = asm.parts[name]
        l1, l2, _ = fingers[name].lengths
        bounds = [0.0, l1, l1 + l2]
        chain = [0, *joints]  # bone owner before each boundary and after
        local = np.zeros((len(part.arc), 16))
        s = part.arc  # generator units (before the global scale), like the lengths
        local[:, chain[0]] = 1.0
        for k, b in enumerate(bounds):
            half = 0.18 * (l1 if k == 0 else min(l1, l2) if k == 1 else min(l2, l1))
            t = _smoothstep((s - (b - half)) / (2 * half))
            moved = local[:, chain[k]] * t
            local[:, chain[k]] -= moved
            local[:, chain[k + 1]] += moved
        w[asm.permutation[np.arange(len(part.arc)) + off]] = local
    palm, p_off = asm.parts["palm"]
    pv = palm.vertices  # generator units, like the finger skeleton
    local = np.zeros((len(pv), 16))
    local[:, 0] = 1.0
    thumb = fingers["thumb"]
    rel = pv - thumb.base
    along = np.clip(rel @ thumb.direction, 0.0, thumb.lengths[0])
    dist = np.linalg.norm(rel - along[:, None] * thumb.direction, axis=1)
    thenar = 0.6 * _smoothstep((0.024 - dist) / 0.014) * _smoothstep(along / (0.5 * thumb.lengths[0]))
    local[:, 13] += thenar
    local[:, 0] -= thenar
    mcp_names = ("index", "middle", "ring", "pinky")
    mcps = np.stack([fingers[n].base for n in mcp_names])
    nearest = np.argmin(np.abs(pv[:, None, 2] - mcps[None, :, 2]), axis=1)
    knuckle = 0.45 * _smoothstep((pv[:, 0] - 0.072 * shape.palm_length) / (0.03 * shape.palm_length))
    for k, name in enumerate(mcp_names):
        sel = nearest == k
        j = _FINGER_LAYOUT[name][0][0]
        share = knuckle[sel] * local[sel, 0]
        local[sel, j] += share
        local[sel, 0] -= share
    w[asm.permutation[np.arange(len(pv)) + p_off]] = local
    return w


def _pose_correctives(asm: _Assembly, shape: HandShape) -> np.ndarray:
    """(778, 3, 135) pose blend shapes: knuckle skin bulges outward as a joint bends.

    The offset of vertex v for joint j is ``bulge * exp(-(s - s_j)^2 / h^2) * radial_v *
    (1 - cos angle_j)``; ``1 - cos angle = -trace(R - I) / 2`` is linear in the pose feature
    ``(R_j - I)`` that MANO's pose correctives multiply, so it is exactly representable.
    """
    posedirs = np.zeros((NUM_VERTICES, 3, 135))
    fingers = _fingers(shape)
    for name, (joints, _) in _FINGER_LAYOUT.items():
        part, off = asm.parts[name]
        finger = fingers[name]
        l1, l2, _ = finger.lengths
        idx = asm.permutation[np.arange(len(part.arc)) + off]
        for j, s_j in zip(joints, (0.0, l1, l1 + l2)):
            bump = np.exp(-(((part.arc - s_j) / 0.006) ** 2))
            offset = 0.15 * finger.radius * shape.scale * bump[:, None] * part.radial  # (V, 3)
            for diag in (0, 4, 8):
                posedirs[idx, :, 9 * (j - 1) + diag] = -0.5 * offset
    return posedirs


def _vertices(shape: HandShape) -> np.ndarray:
    return _assemble(shape).vertices


def _shape_directions(shape: HandShape) -> np.ndarray:
    """(778, 3, 10): derivative of the mesh w.r.t. each HandShape field times its per-beta step."""
    base = _vertices(shape)
    dirs = []
    for f in fields(HandShape):
        h = 1e-5
        moved = _vertices(replace(shape, **{f.name: getattr(shape, f.name) + h}))
        dirs.append((moved - base) / h * SHAPE_STEPS[f.name])
    return np.stack(dirs, axis=-1)


def flexion_axes(fingers: dict[str, _Finger] | None = None) -> dict[str, np.ndarray]:
    """Unit flexion axis of each finger of the right hand at rest (rotating about it curls it)."""
    fingers = fingers or _fingers(HandShape())
    out = {}
    for name, f in fingers.items():
        palmar = PALM_NORMAL_RIGHT if name != "thumb" else -f.dorsal
        out[name] = _unit(np.cross(f.direction, palmar))
    return out


def _pose_pca(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """45 orthonormal pose components (rows), their mean, and 1554 example coefficients.

    The leading components are hand synergies (all fingers curl, thumb opposes, fingers spread,
    index points, ulnar fingers curl); the rest complete an orthonormal basis.
    """
    fingers = _fingers(HandShape())
    axes = flexion_axes(fingers)
    spread_axis = PALM_NORMAL_RIGHT

    def pose_of(per_joint: dict[int, np.ndarray]) -> np.ndarray:
        p = np.zeros((15, 3))
        for j, v in per_joint.items():
            p[j - 1] = v
        return p.reshape(45)

    def curl(names, weights=(1.0, 1.1, 0.8)):
        return {j: w * axes[n] for n in names for j, w in zip(_FINGER_LAYOUT[n][0], weights)}

    synergies = [
        pose_of(curl(("index", "middle", "ring", "pinky", "thumb"))),
        pose_of({**curl(("thumb",), (0.8, 0.6, 0.5)),
                 13: 0.8 * axes["thumb"] + 0.6 * fingers["thumb"].dorsal}),
        pose_of({1: -0.3 * spread_axis, 4: -0.05 * spread_axis, 10: 0.2 * spread_axis, 7: 0.35 * spread_axis}),
        pose_of({**curl(("middle", "ring", "pinky")), **{j: -0.3 * axes["index"] for j in (1, 2, 3)}}),
        pose_of(curl(("ring", "pinky"))),
        pose_of(curl(("index", "middle"), (1.0, 0.0, 0.0))),
        pose_of(curl(("index", "middle", "ring", "pinky"), (0.0, 1.0, 1.0))),
    ]
    basis = np.concatenate([np.stack(synergies, 1), rng.standard_normal((45, 45 - len(synergies)))], 1)
    q, r = np.linalg.qr(basis)
    q = q * np.sign(np.diag(r))[None, :]
    components = q.T.copy()  # rows are components
    mean = pose_of(curl(("index", "middle", "ring", "pinky"), (0.25, 0.3, 0.15)) | {
        13: 0.1 * axes["thumb"], 14: 0.15 * axes["thumb"], 15: 0.1 * axes["thumb"]})
    scales = np.concatenate([[1.2, 0.8, 0.5, 0.7, 0.6, 0.5, 0.5], np.full(45 - len(synergies), 0.08)])
    coeffs = rng.standard_normal((1554, 45)) * scales[None, :]
    return components, mean, coeffs


def _mirror_model(right: dict) -> dict:
    """Left model = right model mirrored in x (points, faces, pose quantities)."""
    m = np.array([-1.0, 1.0, 1.0])
    left = dict(right)
    left["v_template"] = right["v_template"] * m
    left["J"] = right["J"] * m
    left["f"] = right["f"][:, [0, 2, 1]].copy()
    left["shapedirs"] = right["shapedirs"] * m[None, :, None]
    # pose feature of the mirrored rotation: (M R M - I)_ab = m_a m_b (R - I)_ab
    sign_ab = np.outer(m, m).reshape(9)
    pd = right["posedirs"].reshape(NUM_VERTICES, 3, 15, 9) * sign_ab
    left["posedirs"] = (pd * m[None, :, None, None]).reshape(NUM_VERTICES, 3, 135)
    # axis-angle is a pseudo-vector: mirroring x maps (x, y, z) to (x, -y, -z)
    aa_sign = np.tile(np.array([1.0, -1.0, -1.0]), 15)
    left["hands_components"] = right["hands_components"] * aa_sign[None, :]
    left["hands_mean"] = right["hands_mean"] * aa_sign
    left["hands_coeffs"] = right["hands_coeffs"].copy()
    left["side"] = "left"
    return left


def build_procedural_model(side: str = "right", shape: HandShape | None = None, seed: int = 0) -> dict:
    """The procedural model as the dict a MANO pkl holds (same keys, shapes and dtypes).

    Keys: v_template (778, 3) f64, f (1538, 3) uint32, J_regressor scipy.sparse.csc (16, 778),
    kintree_table (2, 16) int64 (root parent 4294967295), J (16, 3), weights (778, 16),
    shapedirs (778, 3, 10), posedirs (778, 3, 135), hands_components (45, 45), hands_mean (45,),
    hands_coeffs (1554, 45), bs_style 'lbs', bs_type 'lrotmin', plus model_name and side.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    shape = shape or HandShape()
    rng = np.random.default_rng(seed)
    asm = _assemble(shape)
    reg = _joint_regressor(asm)
    components, mean, coeffs = _pose_pca(rng)
    kintree = np.stack([MANO_PARENTS.astype(np.int64), np.arange(16, dtype=np.int64)])
    kintree[0, 0] = 4294967295
    right = {
        "v_template": asm.vertices.astype(np.float64),
        "f": asm.faces.astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(reg),
        "kintree_table": kintree,
        "J": reg @ asm.vertices,
        "weights": _skinning_weights(asm, shape),
        "shapedirs": _shape_directions(shape),
        "posedirs": _pose_correctives(asm, shape),
        "hands_components": components,
        "hands_mean": mean,
        "hands_coeffs": coeffs,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "model_name": MODEL_NAME,
        "side": "right",
    }
    return right if side == "right" else _mirror_model(right)


def generator_digest() -> str:
    """Short hash of this generator's source: cached model files are rebuilt when it changes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]


def default_model_dir() -> Path:
    """Where the procedural model files live: $HAND_PERCEPTION_CACHE (or ~/.cache/hand_perception)
    / procedural_mano_v1-<generator digest>."""
    root = os.environ.get("HAND_PERCEPTION_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hand_perception")
    return Path(root) / f"{MODEL_NAME}-{generator_digest()}"


def write_procedural_models(folder: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    """Write ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl`` of the procedural model into ``folder``.

    Files are written atomically (temp file then rename) so concurrent writers are safe.
    Returns the folder.
    """
    folder = Path(folder) if folder is not None else default_model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for side in ("right", "left"):
        path = folder / f"MANO_{side.upper()}.pkl"
        if path.exists() and not overwrite:
            continue
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(build_procedural_model(side), fh, protocol=4)
        os.replace(tmp, path)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the procedural MANO-format hand model files.")
    parser.add_argument("folder", nargs="?", default=None, help=f"output folder (default {default_model_dir()})")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    print(write_procedural_models(args.folder, overwrite=args.overwrite))


if __name__ == "__main__":
    main()
