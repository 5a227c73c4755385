"""Per-side hand model data for the synthetic scene renderer (:mod:`hand_models.render.scene`).

:func:`_side_model` builds, once per (side, model folder), the MANO layer and the static per-vertex
data the renderer needs (faces, anatomical frames, palm/knuckle weights, skin-detail inputs,
crease and fingertip arc lengths); :class:`_NumpyMano` is the MANO forward pass in numpy (same
arithmetic as ``ManoLayer``) used per frame. Moved out of ``scene.py`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hand_models.fitting.anatomy import anatomical_frames
from hand_models.joints import MANO_FINGERTIP_VERTICES
from hand_models.render.motion import base_rotation, hand_axes

@dataclass
class _SideModel:
    layer: torch.nn.Module
    faces: np.ndarray
    frames: np.ndarray  # (15, 3, 3) anatomical frames
    base: np.ndarray  # (3, 3) fingers-up/palm-to-camera rotation
    finger_axis: np.ndarray
    palm_normal: np.ndarray
    lateral: np.ndarray
    palmar: np.ndarray  # (778,) 0..1 palm-side weight of each vertex
    knuckle: np.ndarray  # (778,) 0..1 dorsal skin over the finger joints
    detail: np.ndarray  # (778, 7) per-vertex inputs of the skin detail (see _skin_detail)
    creases: np.ndarray  # (5, 3) arc lengths of the palmar finger creases (group order)
    tip_arc: np.ndarray  # (5,) arc length of each fingertip
    thumb_base: tuple[np.ndarray, np.ndarray] | None  # thumb vertices inside the palm, their arc lengths
    wrist_rest: np.ndarray  # (3,) rest wrist joint
    name: str


def _smooth(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


_GROUP_TIPS = ("index", "middle", "pinky", "ring", "thumb")  # MANO finger group order


@lru_cache(maxsize=8)
def _side_model(side: str, model_dir: str | None) -> _SideModel:
    from hand_models.fitting.anatomy import FINGER_GROUPS
    from hand_models.mano import ManoLayer
    from hand_models.render.rasterizer import vertex_normals

    layer = ManoLayer(side, model_dir, dtype=torch.float64)
    faces = layer.faces.numpy().astype(np.int64)
    v = layer.v_template.numpy()
    j16 = layer.J_regressor.numpy() @ v
    tips = v[[MANO_FINGERTIP_VERTICES[n] for n in _GROUP_TIPS]]
    f_axis, p_normal, lateral = hand_axes(j16, side)
    n = vertex_normals(v, faces)
    palmar = _smooth(n @ p_normal, -0.1, 0.5)
    dorsal = n @ -p_normal
    # (finger PIP and DIP, thumb MCP and IP: the knuckles of the back of the hand are bump-mapped)
    d_joint = np.min(np.linalg.norm(v[:, None, :] - j16[None, [2, 3, 5, 6, 8, 9, 11, 12, 14, 15], :], axis=2), axis=1)
    knuckle = _smooth(dorsal, 0.2, 0.8) * _smooth(-d_joint, -0.012, -0.004)
    # finger of each vertex (MANO group order, -1 palm): its dominant skinning joint's finger,
    # made uniform over each connected part of the mesh when the mesh is made of parts (the
    # procedural model: palm and five finger tubes)
    owner = layer.weights.numpy().argmax(1)
    group_of_joint = np.full(16, -1)
    for g, joints in enumerate(FINGER_GROUPS):
        group_of_joint[joints] = g
    finger = group_of_joint[owner]
    n_parts, part = _mesh_parts(faces, len(v))
    if n_parts > 1:
        sizes = np.bincount(part)
        for p in range(n_parts):
            sel = part == p
            votes = finger[sel][finger[sel] >= 0]
            finger[sel] = -1 if sizes[p] == sizes.max() or not len(votes) else np.bincount(votes).argmax()
    # arc length along each finger from its first joint, crease and tip positions
    arc = np.zeros(len(v))
    creases = np.full((5, 3), 10.0)
    tip_arc = np.zeros(5)
    for g, joints in enumerate(FINGER_GROUPS):
        base = j16[joints[0]]
        axis = tips[g] - base
        axis /= np.linalg.norm(axis)
        sel = finger == g
        arc[sel] = (v[sel] - base) @ axis
        sj = (j16[joints] - base) @ axis
        tip_arc[g] = (tips[g] - base) @ axis
        if g == 4:  # thumb: creases at the MCP and IP joints
            creases[g, :2] = sj[1:]
        else:  # finger base crease (~45 % along the proximal phalanx), PIP and DIP
            creases[g] = (0.45 * sj[1], sj[1], sj[2])
    # where a finger tube enters the palm its skin tone must match the palm's: blend the bases'
    # palmar/dorsal weights towards those of the nearest palm vertex
    palm_idx = np.flatnonzero(finger < 0)
    if len(palm_idx):
        near = palm_idx[np.argmin(np.linalg.norm(v[:, None, :] - v[None, palm_idx, :], axis=2), axis=1)]
        reach = np.where(finger == 4, 0.02, 0.01)
        t = np.where(finger >= 0, _smooth(arc, -0.005, reach), 1.0)
        palmar = t * palmar + (1 - t) * palmar[near]
        dorsal = t * dorsal + (1 - t) * dorsal[near]
        knuckle = t * knuckle
    # the thumb's base rings (procedural model: a separate tube starting inside the palm)
    tb = np.flatnonzero((finger == 4) & (arc < 0.02))
    thumb_base = (tb, arc[tb]) if n_parts > 1 and len(tb) else None
    rel = v - j16[0]
    detail = np.stack([np.ones(len(v)), rel @ f_axis, rel @ lateral, arc, finger.astype(np.float64),
                       dorsal, palmar], 1)
    return _SideModel(layer=layer, faces=faces, frames=anatomical_frames(j16, tips, side),
                      base=base_rotation(j16, side), finger_axis=f_axis, palm_normal=p_normal,
                      lateral=lateral, palmar=palmar, knuckle=knuckle, detail=detail, creases=creases,
                      tip_arc=tip_arc, thumb_base=thumb_base, wrist_rest=j16[0], name=layer.model_name)


def _mesh_parts(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of a mesh: (count, component of each vertex)."""
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = scipy.sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n_vertices, n_vertices))
    return connected_components(graph, directed=False)


class _NumpyMano:
    """MANO forward pass in numpy float64 for fixed betas (the layer's arithmetic, without torch's
    per-call overhead: ~1 ms instead of ~15 ms per hand on this CPU). Matches ``ManoLayer`` to
    float64 round-off (checked by the tests)."""

    def __init__(self, layer: torch.nn.Module, betas: np.ndarray, thumb_base: np.ndarray | None = None) -> None:
        v_template = layer.v_template.numpy()
        shapedirs = layer.shapedirs.numpy()
        self.v_shaped = v_template + np.einsum("vcs,s->vc", shapedirs, betas)
        self.rest_joints = layer.J_regressor.numpy() @ self.v_shaped  # (16, 3)
        if thumb_base is not None:
            # render-only: pull the thumb tube's base (the part inside the palm, which would poke
            # through the palm's surface) towards the thumb's axis; ring centres do not move, so
            # the joints (ring means) are unchanged
            tip = self.v_shaped[MANO_FINGERTIP_VERTICES["thumb"]]
            base = self.rest_joints[13]
            axis = (tip - base) / np.linalg.norm(tip - base)
            idx, arc = thumb_base
            centre = base + np.outer((self.v_shaped[idx] - base) @ axis, axis)
            shrink = 0.55 + 0.45 * _smooth(arc, 0.0, 0.02)
            self.v_shaped[idx] = centre + (self.v_shaped[idx] - centre) * shrink[:, None]
        self.posedirs = layer.posedirs.numpy().reshape(-1, layer.posedirs.shape[-1])  # (V*3, 135)
        self.weights = layer.weights.numpy()
        self.parents = layer.parents.numpy()
        self.tips = layer.tip_vertices.numpy()
        self.to_ours = layer.to_ours.numpy()

    def __call__(self, global_orient: np.ndarray, hand_pose: np.ndarray, transl: np.ndarray):
        """-> vertices (778, 3), joints (21, 3) in our order."""
        aa = np.concatenate([global_orient, hand_pose]).reshape(-1, 3)
        R = Rotation.from_rotvec(aa).as_matrix()  # (16, 3, 3)
        feat = (R[1:] - np.eye(3)).reshape(-1)
        v = self.v_shaped + (self.posedirs @ feat).reshape(-1, 3)
        J = self.rest_joints
        G = np.empty_like(R)
        P = np.empty_like(J)
        G[0], P[0] = R[0], J[0]
        for j in range(1, len(J)):
            p = self.parents[j]
            G[j] = G[p] @ R[j]
            P[j] = P[p] + G[p] @ (J[j] - J[p])
        t = P - np.einsum("jab,jb->ja", G, J)
        A = np.concatenate([G.reshape(-1, 9), t], 1)  # (16, 12)
        T = self.weights @ A  # (V, 12)
        verts = np.einsum("vab,vb->va", T[:, :9].reshape(-1, 3, 3), v) + T[:, 9:] + transl
        joints = np.concatenate([P + transl, verts[self.tips]])[self.to_ours]
        return verts, joints
