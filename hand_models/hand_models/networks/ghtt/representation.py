"""Per-frame bimanual hand representation of G-HTT (paper section 3.1), with explicit masks.

Per frame ``H = (p^L, p^R, v^L, v^R, r)``:

* ``p^L, p^R`` (3N each, N = 21 joints in our order): each hand's joints in its **palm frame**,
  i.e. after removing the rigid transform ``G = (R, t)`` that best aligns (Kabsch, palm joints
  0, 5, 9, 13, 17) that side's template hand (the MANO-format model's rest joints, wrist at the
  origin) to the observed hand: ``x = R p + t``.
* ``v^L, v^R`` (9 each): the palm's rigid motion since the previous frame, in the previous palm
  frame (body frame): ``v_i = G_{i-1}^{-1} G_i``, so ``G_i = G_{i-1} o v_i``. The body frame makes
  ``v`` independent of where the camera is. Encoded as 6D rotation (first two columns of the
  matrix, Zhou et al.) + translation (metres).
* ``r`` (9): the right palm relative to the left palm in the same frame, ``r = G^L^{-1} G^R``.

Missing data is explicit, never guessed silently:

* a joint is valid when it is finite; a hand is **present** in a frame when at least 3 of its 5
  palm joints and 8 joints overall are valid. Missing joints of a present hand are filled with
  the template's joint (in the palm frame) and masked; an absent hand's ``p`` is the template.
* ``v`` is valid only when the hand is present in both frames (else identity, masked); ``r`` only
  when both hands are present (else identity, masked).
* :class:`EncodedMotion` carries ``features (T, D)``, the per-feature ``mask (T, D)``, the flags
  ``(T, 5)`` = (present L, present R, v valid L, v valid R, r valid) that the networks take as
  extra input, and the palm transforms ``G`` (T, 2, 4, 4) needed to decode back to joints.

Sides are indexed 0 = left, 1 = right everywhere (``SIDES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

SIDES = ("left", "right")
NUM_JOINTS = 21
PALM_JOINTS = (0, 5, 9, 13, 17)
P_DIM = 3 * NUM_JOINTS
RIGID_DIM = 9
FEATURE_DIM = 2 * P_DIM + 3 * RIGID_DIM  # 153
NUM_FLAGS = 5
#: slices of H
SL_P = (slice(0, P_DIM), slice(P_DIM, 2 * P_DIM))
SL_V = (slice(2 * P_DIM, 2 * P_DIM + 9), slice(2 * P_DIM + 9, 2 * P_DIM + 18))
SL_R = slice(2 * P_DIM + 18, 2 * P_DIM + 27)
MIN_PALM_JOINTS = 3
MIN_JOINTS = 8

_ID6 = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


@lru_cache(maxsize=4)
def template_joints(side: str) -> np.ndarray:
    """(21, 3) rest joints of ``side``'s MANO-format model (ours order), wrist at the origin."""
    from hand_models.mano import ManoLayer

    layer = ManoLayer(side, dtype=torch.float64)
    with torch.no_grad():
        j = layer(torch.zeros(1, 3, dtype=torch.float64)).joints[0].numpy()
    return j - j[:1]


# -- numpy rigid helpers ----------------------------------------------------------------------
def rot_to_6d(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): first two columns."""
    return np.concatenate([R[..., :, 0], R[..., :, 1]], -1)


def rot_from_6d(d6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (columns), numpy twin of the torch version."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    u2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = u2 / np.maximum(np.linalg.norm(u2, axis=-1, keepdims=True), 1e-12)
    return np.stack([b1, b2, np.cross(b1, b2)], -1)


def rigid_to_9d(T: np.ndarray) -> np.ndarray:
    return np.concatenate([rot_to_6d(T[..., :3, :3]), T[..., :3, 3]], -1)


def rigid_from_9d(x: np.ndarray) -> np.ndarray:
    T = np.zeros(x.shape[:-1] + (4, 4))
    T[..., :3, :3] = rot_from_6d(x[..., :6])
    T[..., :3, 3] = x[..., 6:9]
    T[..., 3, 3] = 1.0
    return T


def rigid_inv(T: np.ndarray) -> np.ndarray:
    out = np.zeros_like(T)
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, T[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def kabsch_batch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rigid ``T`` (B, 4, 4) minimising sum w ||T src - dst||^2; src/dst (B, J, 3), w (B, J)."""
    w = w / np.maximum(w.sum(-1, keepdims=True), 1e-12)
    cs = np.einsum("bj,bjc->bc", w, src)
    cd = np.einsum("bj,bjc->bc", w, dst)
    H = np.einsum("bj,bjc,bjd->bcd", w, src - cs[:, None], dst - cd[:, None])
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", Vt.transpose(0, 2, 1), U.transpose(0, 2, 1))))
    D = np.tile(np.eye(3), (len(src), 1, 1))
    D[:, 2, 2] = np.where(d == 0, 1.0, d)
    R = Vt.transpose(0, 2, 1) @ D @ U.transpose(0, 2, 1)
    T = np.tile(np.eye(4), (len(src), 1, 1))
    T[:, :3, :3] = R
    T[:, :3, 3] = cd - np.einsum("bij,bj->bi", R, cs)
    return T


@dataclass
class EncodedMotion:
    """features (T, 153), mask (T, 153) bool, flags (T, 5) float, G (T, 2, 4, 4) palm transforms
    (identity where a hand is absent), joint_valid (T, 2, 21) bool."""

    features: np.ndarray
    mask: np.ndarray
    flags: np.ndarray
    G: np.ndarray
    joint_valid: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return self.flags[:, :2] > 0.5


def hand_presence(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """joints (T, 2, 21, 3) -> (joint_valid (T, 2, 21), present (T, 2))."""
    valid = np.isfinite(joints).all(-1)
    palm_ok = valid[..., list(PALM_JOINTS)].sum(-1) >= MIN_PALM_JOINTS
    present = palm_ok & (valid.sum(-1) >= MIN_JOINTS)
    return valid, present


def encode(joints: np.ndarray) -> EncodedMotion:
    """Both hands' joints (T, 2, 21, 3) metres (NaN = missing; side 0 left, 1 right) -> H."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 4 or joints.shape[1:] != (2, NUM_JOINTS, 3):
        raise ValueError(f"joints must be shaped (T, 2, 21, 3), got {joints.shape}")
    T = joints.shape[0]
    valid, present = hand_presence(joints)
    feats = np.zeros((T, FEATURE_DIM))
    mask = np.zeros((T, FEATURE_DIM), dtype=bool)
    G = np.tile(np.eye(4), (T, 2, 1, 1))
    palm = np.zeros(NUM_JOINTS)
    palm[list(PALM_JOINTS)] = 1.0
    for s, side in enumerate(SIDES):
        tmpl = template_joints(side)
        idx = np.nonzero(present[:, s])[0]
        if len(idx):
            obs = np.where(valid[idx, s, :, None], joints[idx, s], 0.0)
            w = palm[None] * valid[idx, s]
            G[idx, s] = kabsch_batch(np.broadcast_to(tmpl, obs.shape), obs, w)
            Ginv = rigid_inv(G[idx, s])
            local = np.einsum("bij,bkj->bki", Ginv[:, :3, :3], obs) + Ginv[:, None, :3, 3]
            local = np.where(valid[idx, s, :, None], local, tmpl[None])
            feats[idx, SL_P[s]] = local.reshape(len(idx), -1)
            mask[idx, SL_P[s]] = np.repeat(valid[idx, s], 3, axis=-1)
        absent = np.nonzero(~present[:, s])[0]
        feats[absent, SL_P[s]] = tmpl.reshape(-1)
        # velocities
        vv = np.zeros(T, dtype=bool)
        vv[1:] = present[1:, s] & present[:-1, s]
        v = np.tile(np.eye(4), (T, 1, 1))
        if vv.any():
            i = np.nonzero(vv)[0]
            v[i] = rigid_inv(G[i - 1, s]) @ G[i, s]
        feats[:, SL_V[s]] = rigid_to_9d(v)
        mask[:, SL_V[s]] = vv[:, None]
    rv = present[:, 0] & present[:, 1]
    r = np.tile(np.eye(4), (T, 1, 1))
    r[rv] = rigid_inv(G[rv, 0]) @ G[rv, 1]
    feats[:, SL_R] = rigid_to_9d(r)
    mask[:, SL_R] = rv[:, None]
    flags = np.stack([present[:, 0], present[:, 1], mask[:, SL_V[0]][:, 0], mask[:, SL_V[1]][:, 0], rv], -1)
    return EncodedMotion(feats, mask, flags.astype(np.float64), G, valid)


def decode(features: np.ndarray, G0: np.ndarray, use_v: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Future joints from predicted features.

    features (..., F, 153) for F future frames; G0 (..., 2, 4, 4) the palm transforms of the last
    observed frame. Palm transforms accumulate ``G_i = G_{i-1} o v_i``; joints ``x = R p + t``.
    Returns joints (..., F, 2, 21, 3) and G (..., F, 2, 4, 4). (``use_v=False`` keeps the last
    palm pose and only moves the fingers.)
    """
    features = np.asarray(features, dtype=np.float64)
    F = features.shape[-2]
    Gs = []
    Gc = np.asarray(G0, dtype=np.float64)
    if use_v:  # all frames' motions at once (..., F, 2, 4, 4); the loop only chains them
        v_all = np.stack([rigid_from_9d(features[..., SL_V[s]]) for s in range(2)], -3)
    for i in range(F):
        if use_v:
            Gc = Gc @ v_all[..., i, :, :, :]
        Gs.append(Gc)
    G = np.stack(Gs, -4)  # (..., F, 2, 4, 4)
    p = np.stack([features[..., SL_P[s]].reshape(features.shape[:-1] + (NUM_JOINTS, 3)) for s in range(2)], -3)
    joints = np.einsum("...sij,...skj->...ski", G[..., :3, :3], p) + G[..., None, :3, 3]
    return joints, G


def joints_from_features(features: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Joints (..., 2, 21, 3) from the ``p`` part of H and known palm transforms (..., 2, 4, 4)."""
    p = np.stack([features[..., SL_P[s]].reshape(features.shape[:-1] + (NUM_JOINTS, 3)) for s in range(2)], -3)
    return np.einsum("...sij,...skj->...ski", G[..., :3, :3], p) + G[..., None, :3, 3]


# -- torch twins for losses ----------------------------------------------------------------------
def rot_from_6d_t(d6: Tensor) -> Tensor:
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    u2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = u2 / u2.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], -1)


def accumulate_rigid_t(v9: Tensor) -> Tensor:
    """(B, F, 9) per-frame body-frame motions -> (B, F, 9) accumulated ``s_i = v_1 o ... o v_i``
    (the palm pose of frame i in the palm frame of the last observed frame)."""
    R = rot_from_6d_t(v9[..., :6])
    t = v9[..., 6:9]
    Rs, ts = [], []
    Rc = torch.eye(3, dtype=v9.dtype, device=v9.device).expand(v9.shape[0], 3, 3)
    tc = torch.zeros_like(t[:, 0])
    for i in range(v9.shape[1]):
        tc = tc + torch.einsum("bij,bj->bi", Rc, t[:, i])
        Rc = Rc @ R[:, i]
        Rs.append(Rc)
        ts.append(tc)
    Rs = torch.stack(Rs, 1)
    ts = torch.stack(ts, 1)
    return torch.cat([Rs[..., :, 0], Rs[..., :, 1], ts], -1)


def identity_features(n: int = 1) -> np.ndarray:
    """(n, 153) features of two template hands standing still with identity relations."""
    f = np.zeros((n, FEATURE_DIM))
    for s, side in enumerate(SIDES):
        f[:, SL_P[s]] = template_joints(side).reshape(-1)
        f[:, SL_V[s]] = np.concatenate([_ID6, np.zeros(3)])
    f[:, SL_R] = np.concatenate([_ID6, np.zeros(3)])
    return f
