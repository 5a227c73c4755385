"""Inverse kinematics: 21 metric 3D joints -> MANO global_orient, hand_pose, betas, transl.

Method (batched, torch float64 inside):

1. Analytic initialisation. The palm (wrist, thumb CMC and the four finger MCPs, nearly rigid)
   fixes the global rotation and translation by weighted Kabsch; then, walking down each finger,
   every bone gets the minimal rotation (swing) that turns its model direction into the target
   direction.
2. Levenberg-Marquardt refinement of all 61 parameters (3 global + 45 local rotations on SO(3),
   10 betas, 3 translation). Rotations are updated on the manifold, ``R <- R exp(delta)``, which
   makes the Jacobian of every joint closed-form: a change ``delta`` of joint i's rotation
   moves a point x below it by ``(G_i delta) x (x - p_i)``. Residuals: confidence-weighted
   joint errors (in units of ``joint_sigma``), a shape prior on betas, soft anatomical joint
   limits (flexion / abduction / twist about each bone, outside their range), and a twist prior
   (twist about a bone barely moves the joints, so without it it would drift).

Frames: joints and the returned translation are in the frame the joints are given in (camera
optical frame in the estimator). Shapes: B hands, 21 joints in our order
(``hand_models.joints``).

The solver runs in numpy float64 on the CPU: a fit is a few hundred operations on tiny arrays,
where torch's per-operation and thread-pool overhead would dominate (measured: ~8x slower).
It uses the same model arrays as ``hand_models.mano.ManoLayer`` and reproduces its joints
exactly (including pose correctives and blended skinning of the fingertip vertices).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from hand_models.fitting.anatomy import FINGER_GROUPS, GROUP_NAMES, anatomical_frames, joint_limits
from hand_models.joints import MANO_FINGERTIP_VERTICES, MANO_TO_OURS, NUM_JOINTS
from hand_models.mano.model_file import ManoModelData, load_mano_model

#: Our joint indices of each finger group's 4 points (3 joints + tip), group order as FINGER_GROUPS.
GROUP_POINTS_OURS = np.array([[5, 6, 7, 8], [9, 10, 11, 12], [17, 18, 19, 20], [13, 14, 15, 16], [1, 2, 3, 4]])
#: Palm joints in our order used for the rigid initialisation (wrist, thumb CMC, four MCPs).
PALM_OURS = np.array([0, 1, 5, 9, 13, 17])


@dataclass
class IKConfig:
    """Weights and iteration counts of the fit (documented defaults).

    joint_sigma: joint error (m) that counts as one unit of residual; shape_weight: weight of
    the N(0, I) prior on betas; limit_weight: weight of radians beyond a joint limit;
    twist_weight: weight of twist (radians) about each bone; iterations: at most this many LM
    steps; tolerance: stop when an accepted step lowers the cost by less than this fraction;
    initial_damping / min_damping: Levenberg-Marquardt damping at the start and its floor (a
    floor keeps steps from overshooting where the limit priors switch on and off; measured:
    4 steps reach 0.3 mm worst-case with the floor, 1.1 mm without).
    """

    joint_sigma: float = 0.005
    shape_weight: float = 0.05
    limit_weight: float = 5.0
    twist_weight: float = 0.5
    pose_weight: float = 0.01
    iterations: int = 4
    tolerance: float = 1e-4
    fit_shape: bool = True
    initial_damping: float = 1e-3
    min_damping: float = 1e-3


@dataclass
class IKResult:
    """Fitted parameters and how well they fit.

    global_orient (B, 3), hand_pose (B, 45), betas (B, 10), transl (B, 3): MANO parameters in the
    joints' frame; joints (B, 21, 3) the model's joints; error (B,) mean distance (m) between
    model and target over the joints with confidence > 0.
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    error: np.ndarray
    iterations: int = 0

    def as_torch(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """MANO parameters as tensors, keyed like ``ManoLayer.forward``'s arguments."""
        return {k: torch.as_tensor(getattr(self, k), dtype=dtype)
                for k in ("global_orient", "hand_pose", "betas", "transl")}


#: BLAS threads only slow the tiny matrices of a small batch down (measured 5x on 2 cores).
_BLAS = ThreadpoolController()


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    out = np.zeros(v.shape + (3,))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def _exp(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3) (Rodrigues; series near 0)."""
    theta2 = (aa * aa).sum(-1)[..., None, None]
    theta = np.sqrt(theta2)
    small = theta2 < 1e-8
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    K = _skew(aa)
    return np.eye(3) + a * K + b * (K @ K)


def _log(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi].

    Uses the skew part away from pi and the symmetric part (largest diagonal) near pi, where
    the skew part vanishes.
    """
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    theta = np.arccos(cos)
    vee = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.sin(theta)
    factor = np.where(theta < 1e-4, 0.5 + theta**2 / 12.0, theta / (2.0 * np.maximum(sin, 1e-12)))
    out = factor[..., None] * vee
    near_pi = theta > np.pi - 1e-3
    if np.any(near_pi):
        Rp, th = R[near_pi], theta[near_pi]
        B = (Rp + np.eye(3)) / 2.0  # = n n^T at pi
        k = np.argmax(np.diagonal(B, axis1=-2, axis2=-1), -1)
        n = B[np.arange(len(k)), :, k] / np.sqrt(np.maximum(B[np.arange(len(k)), k, k], 1e-12))[:, None]
        v = vee[near_pi]
        n *= np.where((n * v).sum(-1, keepdims=True) < 0, -1.0, 1.0)
        out[near_pi] = n * th[:, None]
    return out


def _kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted rigid fit dst ~ R src + t. src, dst (B, N, 3); w (B, N). Returns R (B,3,3), t (B,3)."""
    w = w / w.sum(1, keepdims=True)
    mu_s = (w[..., None] * src).sum(1)
    mu_d = (w[..., None] * dst).sum(1)
    cov = np.einsum("bn,bni,bnj->bij", w, dst - mu_d[:, None], src - mu_s[:, None])
    U, _, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.zeros_like(cov)
    D[:, 0, 0] = D[:, 1, 1] = 1.0
    D[:, 2, 2] = d
    R = U @ D @ Vt
    return R, mu_d - np.einsum("bij,bj->bi", R, mu_s)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of (..., 3) arrays (np.cross has a large fixed overhead on tiny arrays)."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], -1)


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotations (..., 3, 3) turning directions a into directions b (..., 3).

    ``R = I + [v]x + [v]x^2 / (1 + c)`` with ``v = a x b``, ``c = a . b`` for unit a, b; nearly
    opposite directions (c < -0.999) get a half turn about an axis perpendicular to a.
    """
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = _cross(a, b)
    c = (a * b).sum(-1)[..., None, None]
    K = _skew(v)
    R = np.eye(3) + K + (K @ K) / np.maximum(1.0 + c, 1e-3)
    opposite = c[..., 0, 0] < -0.999
    if np.any(opposite):
        ao = a[opposite]
        perp = _cross(ao, np.eye(3)[np.argmin(np.abs(ao), axis=-1)])
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        R[opposite] = 2.0 * perp[..., :, None] * perp[..., None, :] - np.eye(3)
    return R


class ManoFitter:
    """Fits one side's MANO model to batches of 21 joints (see the module docstring)."""

    def __init__(
        self,
        side: str = "right",
        model_dir: str | os.PathLike | None = None,
        data: ManoModelData | None = None,
        config: IKConfig | None = None,
    ) -> None:
        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        data = data if data is not None else load_mano_model(side, model_dir)
        self.side = side
        self.model_name = data.name
        self.config = config or IKConfig()
        tips = np.array([MANO_FINGERTIP_VERTICES[n] for n in GROUP_NAMES])
        self.rest_joints = data.J_regressor @ data.v_template  # (16, 3)
        self.joint_shapedirs = np.einsum("jv,vcs->jcs", data.J_regressor, data.shapedirs)  # (16, 3, 10)
        self.tip_rest = data.v_template[tips]  # (5, 3) group order
        self.tip_shapedirs = data.shapedirs[tips]  # (5, 3, 10)
        self.tip_posedirs = data.posedirs[tips]  # (5, 3, 135)
        self.tip_weights = data.weights[tips]  # (5, 16)
        self.frames = anatomical_frames(self.rest_joints, self.tip_rest, side)  # (15, 3, 3)
        self.limits = joint_limits()  # (15, 3, 2) MANO joint order
        # our 21 = 16 native joints then tips in thumb, index, middle, ring, pinky order
        self._tips_to_native_order = np.array([4, 0, 1, 3, 2])
        level_order = np.concatenate([[0], FINGER_GROUPS.T.reshape(-1)])  # root, then level by level
        self._level_to_native = np.argsort(level_order)
        self._below = (np.arange(4)[:, None] > np.arange(3)[None, :]).astype(np.float64)  # (4, 3)
        self._build_prior_jacobians()
        eye = np.broadcast_to(np.eye(3), (1, 16, 3, 3))
        self._rest21 = self._forward(eye, np.zeros((1, 10)), np.zeros((1, 3)))[0][0]  # (21, 3)

    # --- forward kinematics of the 21 joints ----------------------------------------------
    def _forward(self, R: np.ndarray, betas: np.ndarray, transl: np.ndarray):
        """R (B, 16, 3, 3) local rotations -> joints (B, 21, 3) ours, global rotations
        (B, 16, 3, 3) and posed native joints (B, 16, 3)."""
        J = self.rest_joints + np.einsum("jcs,bs->bjc", self.joint_shapedirs, betas)
        G_par, P_par, J_par = R[:, :1], (J[:, 0] + transl)[:, None], J[:, :1]
        Gs, Ps = [G_par], [P_par]
        for level in range(3):  # the five fingers at once, one level at a time
            idx = FINGER_GROUPS[:, level]
            G_l = G_par @ R[:, idx]
            P_l = P_par + np.einsum("bgij,bgj->bgi", G_par, J[:, idx] - J_par)
            Gs.append(G_l)
            Ps.append(P_l)
            G_par, P_par, J_par = G_l, P_l, J[:, idx]
        G = np.concatenate(Gs, 1)[:, self._level_to_native]
        P = np.concatenate(Ps, 1)[:, self._level_to_native]
        feat = (R[:, 1:] - np.eye(3)).reshape(R.shape[0], 135)
        vt = (self.tip_rest + np.einsum("kcs,bs->bkc", self.tip_shapedirs, betas)
              + np.einsum("kcp,bp->bkc", self.tip_posedirs, feat))  # (B, 5, 3)
        # linear blend skinning of the 5 tip vertices: sum_j w_kj (G_j (v - J_j) + P_j)
        local = vt[:, :, None, :] - J[:, None, :, :]  # (B, 5, 16, 3)
        moved = np.einsum("bjcd,bkjd->bkjc", G, local) + P[:, None]
        tips = np.einsum("kj,bkjc->bkc", self.tip_weights, moved)  # group order
        joints21 = np.concatenate([P, tips[:, self._tips_to_native_order]], 1)[:, MANO_TO_OURS]
        return joints21, G, P

    # --- Jacobians ---------------------------------------------------------------------------
    def _jacobian(self, joints21: np.ndarray, G: np.ndarray, P: np.ndarray) -> np.ndarray:
        """d joints21 / d [delta_0 (3), delta_1..15 (45), betas (10), transl (3)]: (B, 63, 61)."""
        B = joints21.shape[0]
        rot = np.zeros((B, 21, 16, 3, 3))  # point, joint, output coord, delta coord
        rot[:, :, 0] = -_skew(joints21 - P[:, None, 0]) @ G[:, None, 0]  # root: turn about wrist
        pts = joints21[:, GROUP_POINTS_OURS]  # (B, 5, 4, 3) finger points, group order
        diff = pts[:, :, :, None] - P[:, FINGER_GROUPS][:, :, None]  # (B, 5, 4, 3, 3)
        d = -_skew(diff) @ G[:, FINGER_GROUPS][:, :, None]  # (B, 5, 4, 3, 3, 3)
        rot[:, GROUP_POINTS_OURS[:, :, None], FINGER_GROUPS[:, None, :]] = d * self._below[:, :, None, None]
        jac = np.empty((B, 21, 3, 61))
        jac[..., :48] = rot.transpose(0, 1, 3, 2, 4).reshape(B, 21, 3, 48)
        jac[..., 48:58] = self._betas_jacobian(G)
        jac[..., 58:61] = np.eye(3)
        return jac.reshape(B, 63, 61)

    def _betas_jacobian(self, G: np.ndarray) -> np.ndarray:
        """d joints21 / d betas (B, 21, 3, 10), each tip taken as rigid with its distal joint."""
        S = self.joint_shapedirs  # (16, 3, 10)
        B = G.shape[0]
        dP = np.empty((B, 16, 3, 10))
        dP[:, 0] = S[0]
        parent_rows = [np.zeros(5, dtype=np.int64), FINGER_GROUPS[:, 0], FINGER_GROUPS[:, 1]]
        for level in range(3):
            idx, par = FINGER_GROUPS[:, level], parent_rows[level]
            dP[:, idx] = dP[:, par] + G[:, par] @ (S[idx] - S[par])
        distal = FINGER_GROUPS[:, 2]
        dtip = dP[:, distal] + G[:, distal] @ (self.tip_shapedirs - S[distal])  # (B, 5, 3, 10)
        return np.concatenate([dP, dtip[:, self._tips_to_native_order]], 1)[:, MANO_TO_OURS]

    def _build_prior_jacobians(self) -> None:
        """State-independent parts of the priors' normal equations. The rotation priors use the
        small-angle approximation d angle / d delta = frame."""
        cfg = self.config
        twist = np.zeros((15, 61))
        pose = np.zeros((45, 61))
        for j in range(15):
            cols = slice(3 + 3 * j, 6 + 3 * j)
            twist[j, cols] = cfg.twist_weight * self.frames[j, 2]
            pose[3 * j:3 * j + 3, cols] = cfg.pose_weight * np.eye(3)
        shape = np.zeros((10, 61))
        shape[:, 48:58] = cfg.shape_weight * np.eye(10)
        self._jac_constant = np.concatenate([twist, pose, shape], 0)  # (70, 61)
        self._hess_constant = self._jac_constant.T @ self._jac_constant
        # limit_weight^2 * outer(axis, axis) of every anatomical axis: (15, 3, 3, 3)
        self._frame_outer = cfg.limit_weight**2 * self.frames[:, :, :, None] * self.frames[:, :, None, :]
        self._block_rows = (3 + 3 * np.arange(15))[:, None, None] + np.arange(3)[None, :, None]  # (15, 3, 1)
        self._block_cols = (3 + 3 * np.arange(15))[:, None, None] + np.arange(3)[None, None, :]  # (15, 1, 3)

    def _prior_terms(self, R: np.ndarray, betas: np.ndarray):
        """Prior residuals (B, K), their cost (B,), and their contributions to J^T J (B, 61, 61)
        and J^T r (B, 61): joint limits (active outside the range), twist, pose and shape."""
        cfg = self.config
        B = R.shape[0]
        aa = _log(R[:, 1:])  # (B, 15, 3)
        ang = np.einsum("jac,bjc->bja", self.frames, aa)  # (B, 15, 3) flexion, abduction, twist
        over = np.maximum(ang - self.limits[..., 1], 0.0) + np.minimum(ang - self.limits[..., 0], 0.0)
        active = (over != 0).astype(np.float64)
        res_const = np.concatenate([cfg.twist_weight * ang[..., 2], cfg.pose_weight * aa.reshape(B, 45),
                                    cfg.shape_weight * betas], 1)  # (B, 70)
        res_lim = cfg.limit_weight * over  # (B, 15, 3)
        cost = (res_const**2).sum(1) + (res_lim**2).sum((1, 2))
        grad = res_const @ self._jac_constant
        grad[:, 3:48] += cfg.limit_weight * np.einsum("jac,bja->bjc", self.frames, res_lim).reshape(B, 45)
        hess = np.repeat(self._hess_constant[None], B, 0)
        block = np.einsum("bja,jacd->bjcd", active, self._frame_outer)
        hess[:, self._block_rows, self._block_cols] += block
        return cost, hess, grad

    def _evaluate(self, R, betas, transl, target, weight, rays=None):
        """Cost (B,), normal equations J^T J (B, 61, 61) and J^T r (B, 61), and model joints.

        rays: optional (xy (B, 21, 2) normalized image coordinates, weight (B, 21) already divided
        by the per-hand sigma in normalized units): adds the reprojection residual x/z - xy.
        """
        B = R.shape[0]
        joints21, G, P = self._forward(R, betas, transl)
        w = weight[..., None] / self.config.joint_sigma  # (B, 21, 1)
        res = (w * (joints21 - target)).reshape(B, 63)
        raw = self._jacobian(joints21, G, P)  # (B, 63, 61)
        jac = raw * np.repeat(w[..., 0], 3, axis=1)[..., None]
        cost_p, hess_p, grad_p = self._prior_terms(R, betas)
        hess = jac.transpose(0, 2, 1) @ jac + hess_p
        grad = np.einsum("bki,bk->bi", jac, res) + grad_p
        cost = (res**2).sum(1) + cost_p
        if rays is not None:
            xy, w2 = rays
            z = np.maximum(joints21[..., 2], 1e-3)
            proj = joints21[..., :2] / z[..., None]
            res2 = (w2[..., None] * (proj - xy)).reshape(B, 42)
            dproj = np.zeros((B, 21, 2, 3))  # d(x/z, y/z) / d(x, y, z)
            dproj[..., 0, 0] = dproj[..., 1, 1] = 1.0 / z
            dproj[..., :, 2] = -proj / z[..., None]
            jac2 = np.einsum("bjpc,bjcq->bjpq", dproj * w2[..., None, None], raw.reshape(B, 21, 3, 61))
            jac2 = jac2.reshape(B, 42, 61)
            hess = hess + jac2.transpose(0, 2, 1) @ jac2
            grad = grad + np.einsum("bki,bk->bi", jac2, res2)
            cost = cost + (res2**2).sum(1)
        return cost, hess, grad, joints21

    # --- initialisation ---------------------------------------------------------------------
    def _initialise(self, target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Palm Kabsch + per-bone swing. Returns local rotations (B, 16, 3, 3) and transl (B, 3)."""
        B = target.shape[0]
        R = np.broadcast_to(np.eye(3), (B, 16, 3, 3)).copy()
        rest_palm = np.broadcast_to(self._rest21[PALM_OURS], (B, len(PALM_OURS), 3))
        R0, t = _kabsch(rest_palm, target[:, PALM_OURS], weight[:, PALM_OURS])
        R[:, 0] = R0
        wrist = self.rest_joints[0]
        transl = t + R0 @ wrist - wrist  # MANO: p_0 = J_0 + transl, root turning about J_0
        pts = target[:, GROUP_POINTS_OURS]  # (B, 5, 4, 3)
        w_pts = weight[:, GROUP_POINTS_OURS]
        G_par = np.broadcast_to(R0[:, None], (B, 5, 3, 3))
        for level in range(3):
            joint = FINGER_GROUPS[:, level]
            child = self.rest_joints[FINGER_GROUPS[:, level + 1]] if level < 2 else self.tip_rest
            model_dir = np.einsum("bgij,gj->bgi", G_par, child - self.rest_joints[joint])
            target_dir = pts[:, :, level + 1] - pts[:, :, level]
            ok = (w_pts[:, :, level + 1] > 0) & (w_pts[:, :, level] > 0)
            ok &= np.linalg.norm(target_dir, axis=-1) > 1e-6
            swing = _swing(model_dir, np.where(ok[..., None], target_dir, model_dir))
            local = G_par.transpose(0, 1, 3, 2) @ swing @ G_par
            R[:, joint] = local
            G_par = G_par @ local
        return R, transl

    # --- public API -----------------------------------------------------------------------------
    def fit(self, joints, confidence=None, iterations: int | None = None,
            init: dict[str, np.ndarray] | None = None, rays=None, ray_sigma=None) -> IKResult:
        """Fit MANO to joints (B, 21, 3) or (21, 3), metres, our order (numpy or torch).

        confidence (B, 21) or (21,) in [0, 1]; 0 marks a missing joint (its value may be NaN).
        Needs at least 3 confident palm joints (wrist, thumb CMC, MCPs) and 6 joints in all per
        hand. ``init``: a previous solution (global_orient (B, 3), hand_pose (B, 45), betas
        (B, 10), transl (B, 3)) to start from instead of the analytic initialisation, e.g. the
        same hand's fit in the previous frame (then 2-3 iterations suffice).
        ``rays`` (B, 21, 2): undistorted normalized image coordinates (x/z, y/z) of the joints in
        the camera the joints are expressed in, with ``ray_sigma`` (B,) their noise in the same
        units (pixel noise / focal length): adds a reprojection term, so the hand also projects
        onto its 2D keypoints (joints with confidence 0 or non-finite rays are ignored).
        Returns numpy float64 arrays (see :class:`IKResult`).
        """
        target, weight = _check_joints(joints, confidence)
        target = np.where(weight[..., None] > 0, target, 0.0)
        cfg = self.config
        B = target.shape[0]
        if init is None:
            R, transl = self._initialise(target, weight)
            betas = np.zeros((B, 10))
        else:
            pose = np.concatenate([np.asarray(init["global_orient"], float).reshape(B, 3),
                                   np.asarray(init["hand_pose"], float).reshape(B, 45)], 1)
            if not np.isfinite(pose).all():
                raise ValueError("init contains NaN or inf")
            R = _exp(pose.reshape(B, 16, 3))
            betas = np.asarray(init["betas"], float).reshape(B, 10).copy()
            transl = np.asarray(init["transl"], float).reshape(B, 3).copy()
        obs = None
        if rays is not None:
            xy = _as_numpy(rays).reshape(B, 21, 2)
            sig = np.broadcast_to(_as_numpy(ray_sigma if ray_sigma is not None else 1e-3), (B,))
            if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
                raise ValueError("ray_sigma must be finite and > 0")
            ok = np.isfinite(xy).all(-1) & (weight > 0)
            obs = (np.where(ok[..., None], xy, 0.0), np.where(ok, weight, 0.0) / sig[:, None])
        lam = np.full(B, cfg.initial_damping)
        free = np.ones(61, dtype=bool)
        free[48:58] = cfg.fit_shape
        n_iter = cfg.iterations if iterations is None else iterations
        done = 0
        with _BLAS.limit(limits=1, user_api="blas") if B <= 16 else contextlib.nullcontext():
            cost, hess, grad, joints21 = self._evaluate(R, betas, transl, target, weight, obs)
            for done in range(1, n_iter + 1):
                H = hess[:, free][:, :, free]
                diag = np.diagonal(H, axis1=1, axis2=2)
                k = np.arange(H.shape[1])
                H[:, k, k] += lam[:, None] * (diag + 1e-6)
                step = np.zeros((B, 61))
                step[:, free] = -np.linalg.solve(H, grad[:, free, None])[..., 0]
                R_new = R @ _exp(step[:, :48].reshape(B, 16, 3))
                betas_new = betas + step[:, 48:58]
                transl_new = transl + step[:, 58:61]
                cost_new, hess_new, grad_new, joints_new = self._evaluate(R_new, betas_new, transl_new,
                                                                           target, weight, obs)
                better = cost_new < cost
                converged = better & ((cost - cost_new) <= cfg.tolerance * cost)
                R[better], betas[better], transl[better] = R_new[better], betas_new[better], transl_new[better]
                hess[better], grad[better], joints21[better] = hess_new[better], grad_new[better], joints_new[better]
                cost = np.where(better, cost_new, cost)
                lam = np.clip(np.where(better, lam * 0.3, lam * 10.0), cfg.min_damping, 1e6)
                if np.all(converged | (np.abs(step).max(1) < 1e-8)):
                    break
        aa = _log(R)
        seen = weight > 0
        err = (np.linalg.norm(joints21 - target, axis=-1) * seen).sum(1) / seen.sum(1)
        return IKResult(global_orient=aa[:, 0], hand_pose=aa[:, 1:].reshape(B, 45), betas=betas,
                        transl=transl, joints=joints21, error=err, iterations=done)


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_joints(joints, confidence) -> tuple[np.ndarray, np.ndarray]:
    """Validate and batch joints (B, 21, 3) and confidence (B, 21) as float64 arrays."""
    target = _as_numpy(joints)
    if target.ndim == 2:
        target = target[None]
    if target.ndim != 3 or target.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must be shaped (B, 21, 3) or (21, 3) in metres, got {target.shape}")
    finite = np.isfinite(target).all(-1)
    if confidence is None:
        if not finite.all():
            raise ValueError("joints contain NaN or inf: pass confidence with 0 for missing joints")
        weight = np.ones(target.shape[:2])
    else:
        weight = _as_numpy(confidence)
        if weight.ndim == 1:
            weight = weight[None]
        if weight.shape != target.shape[:2]:
            raise ValueError(f"confidence must be shaped {target.shape[:2]}, got {weight.shape}")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise ValueError("confidence must be finite and >= 0")
        bad = (~finite) & (weight > 0)
        if bad.any():
            raise ValueError(f"joints {np.nonzero(bad)[1].tolist()} are NaN/inf but have confidence > 0")
    weight = weight * finite
    palm_ok = (weight[:, PALM_OURS] > 0).sum(1)
    total_ok = (weight > 0).sum(1)
    too_few = (palm_ok < 3) | (total_ok < 6)
    if too_few.any():
        raise ValueError(f"hands {np.nonzero(too_few)[0].tolist()} have too few joints to fit: need 3 palm joints "
                         "(wrist, thumb CMC, MCPs) and 6 joints in all with confidence > 0")
    return target, weight


_FITTERS: dict[tuple[str, str], ManoFitter] = {}


def fit_mano(joints, side: str, confidence=None, model_dir: str | os.PathLike | None = None,
             config: IKConfig | None = None) -> IKResult:
    """Fit one side's MANO to joints (B, 21, 3); fitters are cached per (side, model folder)."""
    if config is not None:
        return ManoFitter(side, model_dir, config=config).fit(joints, confidence)
    key = (side, str(model_dir))
    if key not in _FITTERS:
        _FITTERS[key] = ManoFitter(side, model_dir)
    return _FITTERS[key].fit(joints, confidence)
