"""Synthetic hand motion for training and tests: procedural MANO motion of both hands, seen by a
static or moving pinhole camera, with realistic 2D/3D keypoint observations (pixel noise,
outliers, per-joint occlusions, dropped frames).

Motion model (per hand): anatomical joint angles at random keyframes (``sample_angles``, inside
the joint limits, fingers coupled), wrist position and orientation keyframes inside the camera
frustum, all interpolated with cubic splines at the frame rate; shape ``betas`` fixed per
sequence.  The camera either stays put (frame 0 = world) or drifts smoothly (rotation and
translation splines).  Everything is deterministic given the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

from hand_models.fitting import pose_from_angles, sample_angles

from .mano_ops import MIRROR, flip_mano, mirror_pixels, normalize_kp2d, project, transform_mano, unwrap_rotvec


@dataclass
class ObservationNoise:
    """How detections degrade the truth (pixels for 2D, metres for 3D)."""

    px_sigma: tuple[float, float] = (1.0, 4.0)  # per-sequence Gaussian pixel noise range
    outlier_prob: float = 0.02  # per joint and frame
    outlier_px: float = 25.0
    joint_occlusion_prob: float = 0.3  # probability per sequence of occluded-joint episodes
    frame_drop_prob: float = 0.1  # expected fraction of frames without detection
    drop_span: tuple[int, int] = (1, 12)  # frames per dropout episode
    mm_sigma: tuple[float, float] = (0.003, 0.01)  # 3D per-joint noise (m)
    depth_sigma: float = 0.015  # 3D per-frame offset along the viewing ray (m)
    lateral_sigma: float = 0.004  # 3D per-frame lateral offset (m)


@dataclass
class SyntheticConfig:
    num_frames: int = 48
    fps: float = 30.0
    image_size: tuple[int, int] = (640, 480)
    focal_range: tuple[float, float] = (450.0, 950.0)
    depth_range: tuple[float, float] = (0.3, 0.8)
    key_interval_s: tuple[float, float] = (0.25, 0.7)
    wrist_rot_sigma: float = 0.5  # rad per keyframe
    two_hands_prob: float = 0.5
    moving_camera_prob: float = 0.3
    camera_rot_sigma: float = 0.08  # rad per camera keyframe
    camera_trans_sigma: float = 0.04  # m per camera keyframe
    betas_sigma: float = 1.0
    noise: ObservationNoise = field(default_factory=ObservationNoise)


def _spline(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    return CubicSpline(times, values, axis=0, bc_type="natural")(t)


def _key_times(rng, duration: float, cfg: SyntheticConfig) -> np.ndarray:
    times = [-rng.uniform(*cfg.key_interval_s)]
    while times[-1] < duration + cfg.key_interval_s[1]:
        times.append(times[-1] + rng.uniform(*cfg.key_interval_s))
    return np.array(times)


class SyntheticMotionGenerator:
    """Generates sequences of one or two hands (MANO vectors per side, world = camera 0 frame)."""

    def __init__(self, cfg: SyntheticConfig | None = None, model_dir: str | None = None):
        from hand_models.fitting import ManoFitter

        self.cfg = cfg or SyntheticConfig()
        self.model_dir = model_dir
        self.frames = {s: ManoFitter(s, model_dir).frames for s in ("left", "right")}
        self._joints = {}

    def joints(self, x: np.ndarray, side: str) -> np.ndarray:
        """MANO vectors (..., 61) -> joints (..., 21, 3) of that side (float64 numpy)."""
        from hand_models.mano import ManoLayer
        from hand_models.networks.unihand import ManoJoints

        if side not in self._joints:
            self._joints[side] = ManoJoints(ManoLayer(side, self.model_dir, dtype=torch.float64))
        with torch.no_grad():
            return self._joints[side](torch.as_tensor(x, dtype=torch.float64)).numpy()

    def hand_motion(self, rng: np.random.Generator, side: str, K: np.ndarray, t: np.ndarray) -> np.ndarray:
        """MANO vectors (N, 61) of one hand moving in front of camera K."""
        cfg = self.cfg
        kt = _key_times(rng, float(t[-1]), cfg)
        angles = sample_angles(rng, len(kt))  # (K, 15, 3)
        ang = _spline(kt, angles.reshape(len(kt), -1), t).reshape(len(t), 15, 3)
        pose = pose_from_angles(ang, self.frames[side])
        # wrist orientation: random base, spline of rotation-vector offsets
        base = Rotation.random(random_state=int(rng.integers(2**31)))
        offs = np.cumsum(rng.normal(0, cfg.wrist_rot_sigma / math.sqrt(3), (len(kt), 3)), 0)
        offs -= offs.mean(0)
        rots = base * Rotation.from_rotvec(_spline(kt, offs, t))
        # wrist position keyframes inside the frustum
        W, H = cfg.image_size
        kz = rng.uniform(*cfg.depth_range, len(kt))
        ku = rng.uniform(0.2 * W, 0.8 * W, len(kt))
        kv = rng.uniform(0.2 * H, 0.8 * H, len(kt))
        kx = (ku - K[0, 2]) / K[0, 0] * kz
        ky = (kv - K[1, 2]) / K[1, 1] * kz
        wrist = _spline(kt, np.stack([kx, ky, kz], -1), t)
        wrist[:, 2] = np.maximum(wrist[:, 2], 0.15)
        betas = np.clip(rng.normal(0, cfg.betas_sigma, 10), -2.5, 2.5)
        x = np.zeros((len(t), 61))
        x[:, :3] = rots.as_rotvec()
        x[:, 3:48] = pose
        x[:, 48:58] = betas
        from .mano_ops import rest_wrist

        x[:, 58:61] = wrist - rest_wrist(betas, side, self.model_dir)
        return x

    def camera_motion(self, rng: np.random.Generator, t: np.ndarray, moving: bool) -> tuple[np.ndarray, np.ndarray]:
        """World (= camera at frame 0) to camera-at-frame-i rotations (N, 3, 3) and translations (N, 3)."""
        N = len(t)
        if not moving:
            return np.broadcast_to(np.eye(3), (N, 3, 3)).copy(), np.zeros((N, 3))
        kt = _key_times(rng, float(t[-1]), self.cfg)
        rv = np.cumsum(rng.normal(0, self.cfg.camera_rot_sigma, (len(kt), 3)), 0)
        tr = np.cumsum(rng.normal(0, self.cfg.camera_trans_sigma, (len(kt), 3)), 0)
        rv_t, tr_t = _spline(kt, rv, t), _spline(kt, tr, t)
        R = Rotation.from_rotvec(rv_t).as_matrix()
        R0 = R[0]
        R = R @ R0.T  # frame 0 is the world
        tr_t = tr_t - np.einsum("nij,j->ni", R, tr_t[0])
        return R, tr_t

    def sequence(self, seed: int | np.random.Generator, sides: tuple[str, ...] | None = None,
                 moving: bool | None = None) -> dict:
        """One sequence: {'K', 'image_size', 't', 'cam_R', 'cam_t', 'moving', 'hands': {side:
        {'mano_world' (N, 61), 'joints_world' (N, 21, 3), 'joints_cam' (N, 21, 3)}}}."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cfg = self.cfg
        N = cfg.num_frames
        t = np.arange(N) / cfg.fps
        f = rng.uniform(*cfg.focal_range)
        W, H = cfg.image_size
        K = np.array([[f, 0, W / 2 + rng.normal(0, 5)], [0, f, H / 2 + rng.normal(0, 5)], [0, 0, 1.0]])
        if sides is None:
            sides = ("left", "right") if rng.uniform() < cfg.two_hands_prob else (str(rng.choice(["left", "right"])),)
        moving = bool(rng.uniform() < cfg.moving_camera_prob) if moving is None else moving
        cam_R, cam_t = self.camera_motion(rng, t, moving)
        hands = {}
        for side in sides:
            x = self.hand_motion(rng, side, K, t)
            jw = self.joints(x, side)
            jc = np.einsum("nij,nkj->nki", cam_R, jw) + cam_t[:, None]
            hands[side] = {"mano_world": x, "joints_world": jw, "joints_cam": jc}
        return {"K": K, "image_size": (W, H), "t": t, "cam_R": cam_R, "cam_t": cam_t, "moving": moving, "hands": hands}


_OCCLUSION_GROUPS = ([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20],
                     list(range(5, 21)), list(range(1, 9)))


def observe(joints_cam: np.ndarray, K: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator,
            noise: ObservationNoise | None = None) -> dict:
    """Simulated detections of one hand: {'kp2d' (N, 21, 2) px, 'vis' (N, 21), 'mask' (N,),
    'kp3d' (N, 21, 3) m (camera frame)}; values where vis/mask are 0 are meaningless (zeros)."""
    nz = noise or ObservationNoise()
    N = joints_cam.shape[0]
    W, H = image_size
    uv = project(joints_cam, K)
    sig = rng.uniform(*nz.px_sigma)
    uv = uv + rng.normal(0, sig, uv.shape)
    out = rng.uniform(size=(N, 21)) < nz.outlier_prob
    uv = uv + out[..., None] * rng.normal(0, nz.outlier_px, uv.shape)
    vis = np.ones((N, 21))
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H) & (joints_cam[..., 2] > 0.05)
    vis *= inside
    if rng.uniform() < nz.joint_occlusion_prob:  # episodes where a finger group is hidden
        for _ in range(rng.integers(1, 4)):
            start, length = rng.integers(0, N), rng.integers(3, max(4, N // 2))
            group = _OCCLUSION_GROUPS[int(rng.integers(len(_OCCLUSION_GROUPS)))]
            vis[start:start + length][:, group] = 0
    mask = np.ones(N)
    if nz.frame_drop_prob > 0:
        mean_span = 0.5 * (nz.drop_span[0] + nz.drop_span[1])
        n_ep = rng.poisson(nz.frame_drop_prob * N / mean_span)
        for _ in range(n_ep):
            start, length = rng.integers(0, N), rng.integers(nz.drop_span[0], nz.drop_span[1] + 1)
            mask[start:start + length] = 0
    mask *= vis.sum(-1) >= 6  # a detector needs a fair part of the hand
    vis *= mask[:, None]
    # 3D: per-joint noise plus a per-frame offset mostly along the viewing ray (depth ambiguity)
    s3 = rng.uniform(*nz.mm_sigma)
    kp3d = joints_cam + rng.normal(0, s3, joints_cam.shape)
    root = joints_cam[:, :1]
    ray = root / np.linalg.norm(root, axis=-1, keepdims=True).clip(1e-6)
    kp3d = kp3d + ray * rng.normal(0, nz.depth_sigma, (N, 1, 1)) + rng.normal(0, nz.lateral_sigma, (N, 1, 3))
    return {"kp2d": uv * vis[..., None], "vis": vis, "mask": mask, "kp3d": kp3d * mask[:, None, None]}


def unihand_sample(seq: dict, side: str, obs: dict, kp2d_norm: str, model_dir: str | None = None) -> dict:
    """UniHand training/eval sample of one hand of a sequence: canonical (camera-0) space,
    left hands mirrored into right hands.  Returns float32 numpy arrays (see UniHand batches)."""
    K, size = seq["K"], seq["image_size"]
    h = seq["hands"][side]
    # canonical space = camera of frame 0 (world here); 3D observations mapped there
    R0, t0 = seq["cam_R"][0], seq["cam_t"][0]
    mano = transform_mano(h["mano_world"], R0, t0, side, model_dir)
    joints = np.einsum("ij,nkj->nki", R0, h["joints_world"]) + t0
    Rc, tc = seq["cam_R"], seq["cam_t"]
    kp3d_world = np.einsum("nji,nkj->nki", Rc, obs["kp3d"] - tc[:, None])  # R^T (p - t)
    kp3d = np.einsum("ij,nkj->nki", R0, kp3d_world) + t0
    kp2d = obs["kp2d"]
    if side == "left":
        mano = flip_mano(mano, "left", model_dir)
        joints = joints @ MIRROR
        kp3d = kp3d @ MIRROR
        kp2d = mirror_pixels(kp2d, K)
    mano[:, :3] = unwrap_rotvec(mano[:, :3])
    kp2d_n = normalize_kp2d(kp2d, K, size, kp2d_norm) * obs["vis"][..., None]
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return {
        "mano": f32(mano), "joints": f32(joints),
        "kp2d": f32(kp2d_n), "kp2d_vis": f32(obs["vis"]), "kp2d_mask": f32(obs["mask"]),
        "kp3d": f32(kp3d * obs["mask"][:, None, None]), "kp3d_vis": f32(obs["vis"]), "kp3d_mask": f32(obs["mask"]),
    }


class SyntheticUniHandDataset(torch.utils.data.Dataset):
    """Pre-generated synthetic motions; item ``i`` = hand ``i % num_hands`` with observation noise
    drawn from seed (seed, i) — so every pass over ``len`` items sees fresh noise, deterministically.
    """

    def __init__(self, num_sequences: int, seed: int = 0, kp2d_norm: str = "intrinsics",
                 cfg: SyntheticConfig | None = None, repeats: int = 1000, model_dir: str | None = None,
                 anchor_noise: float = 0.0):
        self.gen = SyntheticMotionGenerator(cfg, model_dir)
        self.kp2d_norm, self.seed, self.model_dir = kp2d_norm, seed, model_dir
        self.anchor_noise = anchor_noise
        self.items: list[tuple[dict, str]] = []
        for s in range(num_sequences):
            seq = self.gen.sequence(np.random.default_rng([seed, s]))
            self.items += [(seq, side) for side in seq["hands"]]
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.items) * self.repeats

    def __getitem__(self, i: int) -> dict:
        seq, side = self.items[i % len(self.items)]
        rng = np.random.default_rng([self.seed, 7919, int(i)])
        obs = observe(seq["hands"][side]["joints_cam"], seq["K"], seq["image_size"], rng, self.gen.cfg.noise)
        s = unihand_sample(seq, side, obs, self.kp2d_norm, self.model_dir)
        x1 = s["mano"][0].copy()
        if self.anchor_noise > 0:  # the initial pose comes from a per-frame estimator in practice
            x1[:48] += rng.normal(0, self.anchor_noise, 48).astype(np.float32)
            x1[58:] += rng.normal(0, self.anchor_noise * 0.1, 3).astype(np.float32)
        s["x1"] = x1
        s["x1_known"] = np.float32(1.0)
        return {k: torch.from_numpy(np.asarray(v)) for k, v in s.items()}
