"""Synthetic two-hand image sequences with exact ground truth.

:class:`SyntheticSequence` renders the MANO-format hands (procedural model unless MANO files are
configured) of one person, with forearms (bare or in sleeves) and upper arms going to the
person's shoulders, over a procedural background (optionally with the person's torso and head
behind the hands), under per-sequence lighting and skin tone, moving as
:mod:`hand_models.render.motion` describes, seen by a static or slowly drifting pinhole camera.

Rendering per frame (CPU, numpy): MANO forward for both hands (numpy, same arithmetic as
``ManoLayer``), arm meshes, one z-buffered rasterization of everything at ``supersample`` x the
resolution (:mod:`.rasterizer`), shading of the covered pixels (:mod:`.shading`: wrapped diffuse,
specular, hemisphere ambient) with per-pixel skin detail (creases, nails, knuckles, bump-mapped
palm and back of the hand) and screen-space ambient occlusion (depth unsharp masking: contact
shadows between fingers and hands). Anti-aliasing: an output pixel whose samples all show the
same mesh is shaded once, boundary pixels per sample and averaged (box filter). Then compositing
over the background and camera effects: vignetting, white balance, a highlight shoulder, slight
blur, sensor noise. Frames are random access and deterministic for a seed: frame ``i`` depends
only on ``seed`` and ``i`` (and not on ``SceneConfig.threads``, which splits the rasterization
and shading over two threads).

The per-side hand model data (:mod:`.hand_mesh`) and the mesh rasterization and shading with skin
detail and occlusion (:mod:`.mesh_shading`) live in their own modules; their names are re-exported here.

Ground truth per hand (:class:`HandGroundTruth`): side, 21 joints (our order,
``hand_models.joints``) in the camera optical frame (metres), their pixel projections with ``K``
(no distortion: ``dist`` is zeros), a visibility flag per joint (inside the image and not hidden
by another surface: the visible surface at the joint's pixel belongs to this hand or its own arm
and lies at most a joint-dependent tolerance (1.5-3.5 cm, about the flesh around the joint) in
front of it), MANO parameters in the camera frame, the gesture label of the nearest pose
keyframe, and the bounding box (xyxy px) of the hand mesh's projection clipped to the image.

:func:`write_sequence` stores a sequence as PNG files plus ``ground_truth.json`` (format in
:data:`GROUND_TRUTH_FORMAT`), optionally an mp4; :func:`read_ground_truth` loads it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from hand_models.fitting.anatomy import pose_from_angles
from hand_models.joints import JOINT_NAMES
from hand_models.render.background import make_background
from hand_models.render.depth_noise import depth_to_16uc1, realsense_depth
from hand_models.render.hand_mesh import (  # noqa: F401  (also re-exported: they lived here)
    _GROUP_TIPS,
    _mesh_parts,
    _NumpyMano,
    _side_model,
    _SideModel,
    _smooth,
)
from hand_models.render.mesh_shading import (  # noqa: F401
    _BLAS,
    _NO_DETAIL,
    _interp,
    _Mesh,
    _normals,
    _pool,
    _render_meshes,
    _screen_space_ao,
    _SkinDetail,
)
from hand_models.render.meshes import ellipsoid, tube
from hand_models.render.motion import (
    CameraDrift,
    MotionConfig,
    make_track,
    separate_tracks,
)
from hand_models.render.rasterizer import Fragments, supersampled_intrinsics
from hand_models.render.scene_depth import nearest_depth, wall_depth
from hand_models.render.shading import (
    linear_to_srgb8,
    random_lighting,
    sample_skin_tone,
    srgb_to_linear,
)

SIDES = ("left", "right")

#: Visibility tolerance (m) per joint: how far in front of the joint the visible surface may be
#: (the flesh around it): wrist, thumb CMC and MCPs sit deeper inside the hand than finger joints.
VISIBILITY_TOLERANCE = np.array([0.035, 0.03, 0.022, 0.018, 0.015] + [0.024, 0.018, 0.016, 0.015] * 4)


@dataclass
class HandGroundTruth:
    """Ground truth of one hand in one frame (see the module docstring)."""

    side: str
    joints_3d: np.ndarray  # (21, 3) float64, metres, camera optical frame
    keypoints_2d: np.ndarray  # (21, 2) float64, pixels
    visibility: np.ndarray  # (21,) bool
    global_orient: np.ndarray  # (3,) axis-angle, camera frame
    hand_pose: np.ndarray  # (45,) axis-angle, flat-hand relative
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,)
    bbox: np.ndarray  # (4,) float64 xyxy pixels, clipped to the image
    gesture: str = "random"

    def to_json(self) -> dict:
        return {
            "side": self.side,
            "gesture": self.gesture,
            "joints_3d": np.round(self.joints_3d, 6).tolist(),
            "keypoints_2d": np.round(self.keypoints_2d, 3).tolist(),
            "visibility": [bool(v) for v in self.visibility],
            "bbox": np.round(self.bbox, 2).tolist(),
            "mano": {k: np.round(getattr(self, k), 7).tolist()
                     for k in ("global_orient", "hand_pose", "betas", "transl")},
        }


@dataclass
class SyntheticFrame:
    """One rendered frame: ``image`` (H, W, 3) uint8 RGB, ``stamp_ns``, intrinsics ``K`` (3, 3),
    distortion ``dist`` (5,) zeros, and ``hands`` (ground truth, in ``sides`` order)."""

    index: int
    image: np.ndarray
    stamp_ns: int
    K: np.ndarray
    dist: np.ndarray
    hands: list[HandGroundTruth] = field(default_factory=list)
    #: (H, W) float32 metric depth (camera z, metres) registered to ``image``: the nearest surface in
    #: each pixel's footprint (hands, arms, person, background wall); None with ``SceneConfig.depth`` off
    depth: np.ndarray | None = None

    def noisy_depth(self, config=None, seed: int | None = None) -> np.ndarray:
        """``depth`` through the RealSense-like error model (:mod:`.depth_noise`), float32 metres,
        0 where invalid; deterministic for this frame (``seed`` defaults to the frame index)."""
        if self.depth is None:
            raise ValueError("this frame was rendered without depth (SceneConfig.depth is False)")
        return realsense_depth(self.depth, float(self.K[0, 0]), self.image,
                               seed=(0xDE9, self.index if seed is None else int(seed)), config=config)

    def hand(self, side: str) -> HandGroundTruth | None:
        return next((h for h in self.hands if h.side == side), None)


@dataclass
class SceneConfig:
    """Ranges of the scene sampler (documented defaults)."""

    supersample: int = 2
    hfov_deg: tuple[float, float] = (50.0, 72.0)
    person_prob: float = 0.35  # torso and head behind the hands
    sleeve_prob: float = 0.5
    camera_moving_prob: float = 0.5
    noise_sigma: tuple[float, float] = (0.8, 3.5)  # sensor noise, 8-bit units
    blur_sigma: tuple[float, float] = (0.0, 0.7)  # optical blur, px
    vignette: tuple[float, float] = (0.0, 0.35)
    ambient_occlusion: float = 0.45  # strength of the screen-space occlusion (0: off)
    threads: int = 2  # shading threads (results do not depend on it)
    depth: bool = True  # render the registered metric depth image (SyntheticFrame.depth)
    wall_gap: tuple[float, float] = (0.3, 1.5)  # background wall this far behind the body / hands (m)
    motion: MotionConfig = field(default_factory=MotionConfig)


#: ``ground_truth.json`` layout written by :func:`write_sequence`.
GROUND_TRUTH_FORMAT = """\
{
  "format": "hand_perception.synthetic/1",
  "width": int, "height": int, "fps": float, "seed": int, "sides": ["left", "right"],
  "model": str (MANO model name: the procedural model's or "mano"),
  "camera": {"K": 3x3, "dist": [k1, k2, p1, p2, k3] (zeros), "frame": "optical (x right, y down, z forward)"},
  "joint_names": [21 names, our order],
  "video": "sequence.mp4" or null,
  "frames": [{
     "index": int, "file": "frame_000000.png", "stamp_ns": int,
     "hands": [{"side": "left"|"right", "gesture": str,
                "joints_3d": 21x3 (m, camera frame), "keypoints_2d": 21x2 (px),
                "visibility": 21 bools, "bbox": [x1, y1, x2, y2] (px),
                "mano": {"global_orient": 3, "hand_pose": 45, "betas": 10, "transl": 3}}]
  }]
}
Pixel centres are at integer coordinates; keypoints_2d = K-projection of joints_3d."""


# --- the sequence ---------------------------------------------------------------------------------


class SyntheticSequence(Sequence[SyntheticFrame]):
    """A lazily rendered, random-access sequence of :class:`SyntheticFrame` (see the module
    docstring). ``len(seq)``, ``seq[i]`` and iteration render on demand; nothing is cached."""

    def __init__(
        self,
        num_frames: int,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        seed: int = 0,
        sides: Sequence[str] = SIDES,
        config: SceneConfig | None = None,
        model_dir: str | os.PathLike | None = None,
        start_ns: int = 0,
    ) -> None:
        if int(num_frames) < 0:
            raise ValueError(f"num_frames must be >= 0, got {num_frames}")
        if int(width) < 32 or int(height) < 32:
            raise ValueError(f"image must be at least 32x32, got {width}x{height}")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        sides = tuple(sides)
        if not sides or any(s not in SIDES for s in sides) or len(set(sides)) != len(sides):
            raise ValueError(f"sides must be distinct values of {SIDES}, got {sides}")
        self.num_frames, self.width, self.height = int(num_frames), int(width), int(height)
        self.fps, self.seed, self.sides, self.start_ns = float(fps), int(seed), sides, int(start_ns)
        self.config = config or SceneConfig()
        self._model_dir = None if model_dir is None else str(model_dir)
        self._models = {s: _side_model(s, self._model_dir) for s in sides}
        self.model_name = self._models[sides[0]].name
        rng = np.random.default_rng([self.seed, 0x5EED])
        cfg = self.config
        # camera
        hfov = np.deg2rad(rng.uniform(*cfg.hfov_deg))
        f = 0.5 * self.width / np.tan(hfov / 2)
        self.K = np.array([[f, 0.0, (self.width - 1) / 2 + rng.normal(0, 0.01 * self.width)],
                           [0.0, f, (self.height - 1) / 2 + rng.normal(0, 0.01 * self.height)],
                           [0.0, 0.0, 1.0]])
        self.dist = np.zeros(5)
        self.drift = CameraDrift.random(rng, cfg.camera_moving_prob)
        # person
        self.betas = np.clip(rng.normal(0.0, 0.8, 10), -2.0, 2.0)
        self._mano = {s: _NumpyMano(self._models[s].layer, self.betas, self._models[s].thumb_base) for s in sides}
        self.hand_scale = 1.0 + 0.045 * self.betas[0]
        self.skin = sample_skin_tone(rng)
        self.specular = float(rng.uniform(0.15, 0.45))
        self.lighting = random_lighting(rng)
        self.sleeve = rng.uniform() < cfg.sleeve_prob
        self.sleeve_start = float(rng.uniform(0.05, 0.2))
        self.cloth = srgb_to_linear(_cloth_color(rng))
        m0 = self._models[sides[0]]
        self._skin_detail = _SkinDetail(m0.creases, m0.tip_arc, self.skin, rng)
        # motion
        duration = self.num_frames / self.fps
        depth_base = rng.uniform(cfg.motion.depth_range[0] + 0.05, cfg.motion.depth_range[1] - 0.08)
        cross = []
        if rng.uniform() < cfg.motion.cross_prob and duration > 2.0:
            t0 = rng.uniform(0.5, max(0.6, duration - 1.5))
            cross = [(t0, t0 + rng.uniform(1.0, 2.5))]
        self.tracks = {s: make_track(rng, s, self._models[s].base, duration, self.K, self.width, self.height,
                                     cfg.motion, depth_base, cross) for s in sides}
        separate_tracks(self.tracks)
        self._depth_offsets = self._separate_in_depth(duration)
        # the person's shoulders (world = first camera frame) and body depth
        self.body_z = depth_base + rng.uniform(0.25, 0.4)
        y_sh = (rng.uniform(0.9, 1.2) * self.height - self.K[1, 2]) * self.body_z / f
        self.shoulders = {"right": np.array([-0.18 * self.hand_scale, y_sh, self.body_z]),
                          "left": np.array([0.18 * self.hand_scale, y_sh, self.body_z])}
        # background (with a margin for the drifting camera), in linear RGB
        self.margin = int(np.ceil(0.06 * f)) + 4
        bg = make_background(rng, self.width + 2 * self.margin, self.height + 2 * self.margin)
        self.person = rng.uniform() < cfg.person_prob
        bg_lin = srgb_to_linear(bg).astype(np.float32)
        if self.person:
            bg_lin = self._draw_person(bg_lin, rng)
        self.background = bg_lin
        # camera effects
        self.noise_sigma = float(rng.uniform(*cfg.noise_sigma))
        self.blur_sigma = float(rng.uniform(*cfg.blur_sigma))
        yy, xx = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        r2 = ((xx - self.K[0, 2]) ** 2 + (yy - self.K[1, 2]) ** 2) / (0.25 * (self.width ** 2 + self.height ** 2))
        vignette = (1.0 - rng.uniform(*cfg.vignette) * r2).astype(np.float32)[..., None]
        white_balance = np.array([rng.uniform(0.92, 1.08), 1.0, rng.uniform(0.92, 1.08)], np.float32)
        self._gain = np.ascontiguousarray(vignette * white_balance)
        # sensor noise: a bank of noise images, cropped at a random offset per frame
        pad = 16
        self._noise_bank = np.round(rng.standard_normal((3, self.height + pad, self.width + pad, 3), dtype=np.float32)
                                    * self.noise_sigma).astype(np.int16)
        # depth of the background: a slightly tilted wall behind the person (own random stream, so the
        # colour images do not change with it); n . X = wall_z on the optical axis
        rng_d = np.random.default_rng([self.seed, 0xDE97])
        self.wall_z = float(self.body_z + rng_d.uniform(*cfg.wall_gap))
        self._wall_tilt = rng_d.uniform(-0.2, 0.2, 2)

    def _separate_in_depth(self, duration: float, gap: float = 0.1, reach: float = 0.16) -> dict:
        """Per-side depth offsets over time that keep the two hands from passing through each
        other: where the hand centres come within ``reach`` of each other across the image, the
        nearer hand is moved towards the camera and the other away until their depths differ by
        ``gap`` (smoothed over time, so the motion stays smooth)."""
        from scipy.ndimage import gaussian_filter1d, maximum_filter1d

        grid = np.arange(-0.3, duration + 0.3, 1.0 / 30.0)
        if len(self.sides) < 2:
            return {s: (grid, np.zeros_like(grid)) for s in self.sides}
        centre = {}
        for s in self.sides:
            st = self.tracks[s].at(grid)
            centre[s] = st["position"] + 0.08 * (st["R"] @ self._models[s].finger_axis)
        d = centre["right"] - centre["left"]
        lateral = np.hypot(d[:, 0], d[:, 1])
        close = np.clip((reach - lateral) / 0.05, 0.0, 1.0)
        need = np.clip(gap - np.abs(d[:, 2]), 0.0, None) * close * close * (3 - 2 * close)
        mag = gaussian_filter1d(maximum_filter1d(need, 15), 4.0)
        side = np.sign(gaussian_filter1d(np.sign(d[:, 2] + 1e-9) * np.maximum(need, 1e-4), 10.0))
        off_r = 0.5 * mag * side
        return {"right": (grid, off_r), "left": (grid, -off_r)}

    # -- sequence protocol --
    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.render_frame(i) for i in range(*index.indices(self.num_frames))]
        i = int(index)
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise IndexError(f"frame {index} out of range (0..{self.num_frames - 1})")
        return self.render_frame(i)

    def __iter__(self) -> Iterator[SyntheticFrame]:
        for i in range(self.num_frames):
            yield self.render_frame(i)

    def stamp_ns(self, index: int) -> int:
        return self.start_ns + int(round(index * 1e9 / self.fps))

    # -- state --
    def hand_parameters(self, index: int) -> dict[str, dict]:
        """MANO parameters (camera frame) and gesture label of each hand in frame ``index``."""
        t = index / self.fps
        R_cw, t_cw = self.drift.at(t)
        out = {}
        for s in self.sides:
            m = self._models[s]
            st = self.tracks[s].at(np.array([t]))
            R_world = st["R"][0]
            wrist_world = st["position"][0].copy()
            grid, off = self._depth_offsets[s]
            wrist_world[2] = max(0.2, wrist_world[2] + float(np.interp(t, grid, off)))
            go = Rotation.from_matrix(R_cw @ R_world).as_rotvec()
            pose = pose_from_angles(st["angles"][0], m.frames)
            j0 = self._mano[s].rest_joints[0]  # rest wrist for these betas (the root rotates about it)
            transl = R_cw @ wrist_world + t_cw - j0
            out[s] = {"global_orient": go, "hand_pose": pose, "betas": self.betas.copy(), "transl": transl,
                      "label": str(st["label"][0]), "R": R_cw @ R_world}
        return out

    # -- rendering --
    def render_frame(self, index: int) -> SyntheticFrame:
        # BLAS only sees small matrices here; its worker threads would just spin and take the
        # CPU from the renderer's own threads
        with _BLAS.limit(limits=1, user_api="blas"):
            return self._render_frame(index)

    def _render_frame(self, index: int) -> SyntheticFrame:
        cfg = self.config
        ss = max(1, int(cfg.supersample))
        W, H = self.width, self.height
        rng = np.random.default_rng([self.seed, 0xF4A3E, index])
        params = self.hand_parameters(index)
        t = index / self.fps
        R_cw, t_cw = self.drift.at(t)
        meshes: list[_Mesh] = []
        hand_out = {}
        for s in self.sides:
            p = params[s]
            m = self._models[s]
            verts, joints = self._mano[s](p["global_orient"], p["hand_pose"], p["transl"])
            hand_out[s] = (verts, joints)
            k = len(hand_out) - 1
            detail = m.detail.copy()
            detail[:, 0] = k + 1  # hand number + 1
            self._skin_detail.set_axes(k, p["R"] @ m.finger_axis, p["R"] @ m.lateral)
            meshes.append(_Mesh(verts, m.faces, self._hand_attrs(s), s, detail=detail))
            meshes.extend(self._arm_meshes(s, joints[0], p["R"], R_cw @ self.shoulders[s] + t_cw))
        Ks = supersampled_intrinsics(self.K, ss)
        lowpix, rgba, fr, owner = _render_meshes(meshes, Ks, W * ss, H * ss, self.lighting, cfg.ambient_occlusion, ss,
                                                 self._skin_detail, cfg.threads)
        # camera pan of the background (small-angle approximation of the drift rotation)
        rv = Rotation.from_matrix(R_cw).as_rotvec()
        dx = int(round(np.clip(-self.K[0, 0] * rv[1], -self.margin, self.margin)))
        dy = int(round(np.clip(self.K[1, 1] * rv[0], -self.margin, self.margin)))
        img = self.background[self.margin + dy:self.margin + dy + H, self.margin + dx:self.margin + dx + W].copy()
        flat = img.reshape(-1, 3)
        under = flat[lowpix]
        under *= 1.0 - rgba[:, 3:4]
        under += rgba[:, :3]
        flat[lowpix] = under
        img *= self._gain
        out = linear_to_srgb8(img)
        if self.blur_sigma > 0.2:
            out = cv2.GaussianBlur(out, (0, 0), self.blur_sigma)
        if self.noise_sigma > 0:
            k, ox, oy = rng.integers(len(self._noise_bank)), rng.integers(16), rng.integers(16)
            noisy = out.astype(np.int16)
            noisy += self._noise_bank[k, oy:oy + H, ox:ox + W]
            out = np.clip(noisy, 0, 255).astype(np.uint8)
        depth = self._depth_image(fr, ss, dx, dy) if cfg.depth else None
        # ground truth
        depth_at = _DepthLookup(fr, owner, meshes, W * ss, ss)
        hands = []
        for s in self.sides:
            verts, joints = hand_out[s]
            p = params[s]
            kp = _project(joints, self.K)
            vis = depth_at.visible(kp, joints[:, 2], s, W, H)
            vp = _project(verts, self.K)
            bbox = np.array([vp[:, 0].min(), vp[:, 1].min(), vp[:, 0].max(), vp[:, 1].max()])
            bbox = np.clip(bbox, [0, 0, 0, 0], [W - 1, H - 1, W - 1, H - 1]).astype(np.float64)
            hands.append(HandGroundTruth(side=s, joints_3d=joints.astype(np.float64), keypoints_2d=kp,
                                         visibility=vis, global_orient=p["global_orient"], hand_pose=p["hand_pose"],
                                         betas=p["betas"], transl=p["transl"], bbox=bbox, gesture=p["label"]))
        return SyntheticFrame(index=index, image=np.ascontiguousarray(out), stamp_ns=self.stamp_ns(index),
                              K=self.K.copy(), dist=self.dist.copy(), hands=hands, depth=depth)

    def background_depth(self, dx: int = 0, dy: int = 0) -> np.ndarray:
        """(H, W) float32 depth (m) of what lies behind the hands and arms: the person (when drawn)
        in front of a plane wall; ``dx, dy`` is the background pan of the drifting camera (px)."""
        H, W = self.height, self.width
        wall = getattr(self, "_wall", None)
        if wall is None:  # static: the camera drift only pans the background
            wall = self._wall = wall_depth(self.K, W, H, self.wall_z, self._wall_tilt)
        person = getattr(self, "_person_depth", None)
        if person is not None:
            crop = person[self.margin + dy:self.margin + dy + H, self.margin + dx:self.margin + dx + W]
            return np.minimum(wall, crop)
        return wall.copy()

    def _depth_image(self, fr: Fragments, ss: int, dx: int, dy: int) -> np.ndarray:
        """(H, W) float32 depth of frame fragments ``fr`` (rendered at ``ss`` x): per output pixel the
        nearest surface among its ``ss x ss`` samples, the background depth where none is covered."""
        return nearest_depth(fr.depth, ss, self.width, self.height, self.background_depth(dx, dy))

    def _hand_attrs(self, side: str) -> np.ndarray:
        m = self._models[side]
        skin = self.skin
        palm_tone = skin * np.array([1.12, 1.02, 0.98]) + 0.25 * (np.array([0.75, 0.52, 0.45]) - skin).clip(0, None)
        knuckle_tone = skin * np.array([0.95, 0.82, 0.8])
        alb = skin[None, :] * (1 - m.palmar[:, None]) + palm_tone[None, :] * m.palmar[:, None]
        alb = alb * (1 - 0.5 * m.knuckle[:, None]) + knuckle_tone[None, :] * 0.5 * m.knuckle[:, None]
        return np.concatenate([alb, np.ones((len(alb), 1)), np.full((len(alb), 1), self.specular)], 1)

    def _arm_meshes(self, side: str, wrist: np.ndarray, R_hand: np.ndarray, shoulder: np.ndarray) -> list[_Mesh]:
        """Forearm from inside the palm to the elbow, optional sleeve, upper arm to the shoulder."""
        m = self._models[side]
        sc = self.hand_scale
        down = -(R_hand @ m.finger_axis)
        lateral = R_hand @ m.lateral
        to_body = np.array([0.0, 0.55, 0.45])
        d = down + 0.6 * to_body / np.linalg.norm(to_body)
        d /= np.linalg.norm(d)
        ang = np.arccos(np.clip(d @ down, -1, 1))
        if ang > np.deg2rad(25):  # wrist bend limit: rotate back towards the hand axis
            axis = np.cross(down, d)
            axis /= np.linalg.norm(axis) + 1e-12
            d = Rotation.from_rotvec(axis * np.deg2rad(25)).apply(down)
        length = 0.26 * sc
        # starts just behind the wrist joint, thinner than the palm's end so the bent wrist does
        # not poke through the palm
        s = np.array([0.004, 0.012, 0.024, 0.05, 0.09, 0.14, 0.19, 0.23, 0.26]) * sc
        ra = np.array([0.021, 0.024, 0.0275, 0.031, 0.034, 0.035, 0.034, 0.033, 0.032]) * sc
        rb = np.array([0.012, 0.014, 0.018, 0.022, 0.025, 0.027, 0.028, 0.028, 0.028]) * sc
        skin_attr = np.concatenate([self.skin, [1.0, 0.6 * self.specular]])
        cloth_attr = np.concatenate([self.cloth, [0.15, 0.02]])
        elbow = wrist + length * d
        out = []
        if self.sleeve:
            # bare skin only up to just inside the sleeve (hidden parts cost render time)
            s0 = self.sleeve_start * sc
            bare = np.append(s[s < s0 + 0.015], s0 + 0.015)
            v, f = tube(wrist[None, :] + bare[:, None] * d[None, :], np.interp(bare, s, ra), np.interp(bare, s, rb),
                        lateral, around=18, cap=0.0)
            out.append(_Mesh(v, f, skin_attr, side))
            ss = np.linspace(s0, length, 5)
            v, f = tube(wrist[None, :] + ss[:, None] * d[None, :], np.interp(ss, s, ra) * 1.25 + 0.006,
                        np.interp(ss, s, rb) * 1.3 + 0.006, lateral, around=18, cap=0.3)
            out.append(_Mesh(v, f, cloth_attr, side))
        else:
            v, f = tube(wrist[None, :] + s[:, None] * d[None, :], ra, rb, lateral, around=18, cap=0.8)
            out.append(_Mesh(v, f, skin_attr, side))
        # upper arm: elbow -> shoulder
        to_sh = shoulder - elbow
        n_up = np.linalg.norm(to_sh)
        if n_up > 0.05:
            # runs on past the shoulder so its end stays behind the torso or out of the image
            ts = np.linspace(-0.03, 1.3, 7)
            centers = elbow[None, :] + ts[:, None] * to_sh[None, :]
            r = np.interp(ts, [0, 0.5, 1.0], [0.036, 0.045, 0.05]) * sc
            attr = cloth_attr if self.sleeve else skin_attr
            v, f = tube(centers, r, r * 0.95, lateral, around=18, cap=0.5)
            out.append(_Mesh(v, f, attr, side))
        return out

    def _draw_person(self, bg_lin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Torso, neck and head behind the hands, rendered once into the background (defocused)."""
        sc = self.hand_scale
        sh_y = self.shoulders["right"][1]
        z = self.body_z + 0.05
        top = np.array([0.0, sh_y - 0.02, z])
        ss = np.array([0.0, 0.03, 0.1, 0.3, 0.6])
        centers = top[None, :] + ss[:, None] * np.array([0.0, 1.0, 0.0])[None, :]
        ra = np.array([0.13, 0.2, 0.21, 0.19, 0.17]) * sc
        rb = np.array([0.07, 0.1, 0.11, 0.11, 0.1]) * sc
        shirt = srgb_to_linear(_cloth_color(rng)) if not self.sleeve else self.cloth
        meshes = []
        v, f = tube(centers, ra, rb, np.array([1.0, 0.0, 0.0]), around=28, cap=0.5)
        meshes.append(_Mesh(v, f, np.concatenate([shirt, [0.15, 0.02]]), "scene"))
        neck = np.stack([top + np.array([0, 0.02, 0.01]), top - np.array([0, 0.1, -0.01])])
        v, f = tube(np.linspace(neck[0], neck[1], 4), 0.05 * sc, 0.05 * sc, np.array([1.0, 0, 0]), around=16)
        meshes.append(_Mesh(v, f, np.concatenate([self.skin, [1.0, 0.1]]), "scene"))
        head_c = top - np.array([0.0, 0.2, 0.0]) * sc
        v, f = ellipsoid(head_c, np.array([0.075, 0.11, 0.095]) * sc)
        meshes.append(_Mesh(v, f, np.concatenate([self.skin, [1.0, self.specular]]), "scene"))
        hair = srgb_to_linear(np.array(_HAIR[rng.integers(len(_HAIR))]) / 255.0)
        v, f = ellipsoid(head_c + np.array([0.0, -0.025, 0.02]) * sc, np.array([0.083, 0.1, 0.095]) * sc)
        meshes.append(_Mesh(v, f, np.concatenate([hair, [0.1, 0.1]]), "scene"))
        h, w = bg_lin.shape[:2]
        K = self.K.copy()
        K[0, 2] += self.margin
        K[1, 2] += self.margin
        lowpix, rgba, fr_person, _ = _render_meshes(meshes, K, w, h, self.lighting, 0.0)
        self._person_depth = fr_person.depth  # (h, w) with the margin, inf where empty
        layer = np.zeros((h * w, 4), np.float32)
        layer[lowpix] = rgba
        layer = cv2.GaussianBlur(layer.reshape(h, w, 4), (0, 0), rng.uniform(0.8, 2.5))
        return layer[..., :3] + (1.0 - layer[..., 3:4]) * bg_lin


_HAIR = [(30, 22, 18), (60, 40, 25), (110, 75, 40), (160, 120, 70), (200, 170, 110), (90, 90, 90), (20, 20, 22)]


def _cloth_color(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * rng.uniform(0, 0.7)), int(255 * rng.uniform(0.1, 0.9))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64) / 255.0


def _project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    z = points[:, 2:3]
    xy = points[:, :2] / z
    return np.stack([K[0, 0] * xy[:, 0] + K[0, 1] * xy[:, 1] + K[0, 2], K[1, 1] * xy[:, 1] + K[1, 2]], 1)


class _DepthLookup:
    """Visible surface (depth and owning mesh) at given low-resolution pixels."""

    def __init__(self, fr: Fragments, owner: np.ndarray, meshes: list[_Mesh], width_hi: int, ss: int) -> None:
        self.fr, self.owner, self.meshes, self.w, self.ss = fr, owner, meshes, width_hi, ss

    def visible(self, kp: np.ndarray, z: np.ndarray, side: str, W: int, H: int) -> np.ndarray:
        inside = (kp[:, 0] >= 0) & (kp[:, 0] <= W - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= H - 1) & (z > 0)
        vis = np.zeros(len(kp), bool)
        if not inside.any() or not len(self.fr.pixels):
            return vis
        # the high-resolution pixel at the keypoint
        uh = np.clip(np.round(kp[:, 0] * self.ss + (self.ss - 1) / 2), 0, self.w - 1).astype(np.int64)
        vh = np.clip(np.round(kp[:, 1] * self.ss + (self.ss - 1) / 2), 0, H * self.ss - 1).astype(np.int64)
        pix = vh * self.w + uh
        pos = np.clip(np.searchsorted(self.fr.pixels, pix), 0, len(self.fr.pixels) - 1)
        hit = self.fr.pixels[pos] == pix
        own = np.array([self.meshes[o].owner == side for o in self.owner[pos]])
        depth = self.fr.depths[pos]
        vis = inside & hit & own & (depth >= z - VISIBILITY_TOLERANCE)
        return vis


def render_sequence(num_frames: int, width: int = 640, height: int = 480, fps: float = 30.0, seed: int = 0,
                    sides: Sequence[str] = SIDES, config: SceneConfig | None = None,
                    model_dir: str | os.PathLike | None = None) -> SyntheticSequence:
    """The frames of a synthetic sequence: a lazily rendered, indexable and iterable
    :class:`SyntheticSequence` (``list(render_sequence(...))`` renders them all)."""
    return SyntheticSequence(num_frames, width, height, fps, seed, sides, config, model_dir)


def write_sequence(folder: str | os.PathLike, num_frames: int = 90, width: int = 640, height: int = 480,
                   fps: float = 30.0, seed: int = 0, sides: Sequence[str] = SIDES, video: bool = False,
                   config: SceneConfig | None = None, model_dir: str | os.PathLike | None = None,
                   depth: bool = False, depth_noise: bool = True) -> Path:
    """Render a sequence into ``folder``: ``frame_000000.png`` ..., ``ground_truth.json`` (layout in
    :data:`GROUND_TRUTH_FORMAT`) and, with ``video``, ``sequence.mp4`` (mp4v). With ``depth``,
    ``depth/depth_000000.png`` ...: the registered depth as 16-bit PNG in millimetres (0 = no depth),
    through the RealSense-like error model unless ``depth_noise`` is False. Returns the JSON path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not depth:  # the depth image is not written: do not render it (colour frames do not depend on it)
        config = replace(config or SceneConfig(), depth=False)
    seq = SyntheticSequence(num_frames, width, height, fps, seed, sides, config, model_dir)
    if depth:
        (folder / "depth").mkdir(exist_ok=True)
    writer = None
    video_name = None
    if video:
        video_name = "sequence.mp4"
        writer = cv2.VideoWriter(str(folder / video_name), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            writer, video_name = None, None
    frames = []
    try:
        for frame in seq:
            name = f"frame_{frame.index:06d}.png"
            bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(folder / name), bgr):
                raise OSError(f"could not write {folder / name}")
            if writer is not None:
                writer.write(bgr)
            if depth:
                d = frame.noisy_depth() if depth_noise else frame.depth
                if not cv2.imwrite(str(folder / "depth" / f"depth_{frame.index:06d}.png"), depth_to_16uc1(d)):
                    raise OSError(f"could not write the depth of frame {frame.index}")
            frames.append({"index": frame.index, "file": name, "stamp_ns": frame.stamp_ns,
                           "hands": [h.to_json() for h in frame.hands]})
    finally:
        if writer is not None:
            writer.release()
    gt = {
        "format": "hand_perception.synthetic/1",
        "width": width, "height": height, "fps": float(fps), "seed": int(seed), "sides": list(seq.sides),
        "model": seq.model_name,
        "camera": {"K": seq.K.tolist(), "dist": seq.dist.tolist(), "frame": "optical (x right, y down, z forward)"},
        "joint_names": list(JOINT_NAMES),
        "video": video_name,
        "depth": ("depth/depth_%06d.png (16-bit mm, " + ("RealSense-like noise" if depth_noise else "exact") + ")")
        if depth else None,
        "frames": frames,
    }
    path = folder / "ground_truth.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(gt))
    os.replace(tmp, path)
    return path


def read_ground_truth(path: str | os.PathLike) -> dict:
    """Load ``ground_truth.json`` (a file or the folder holding it) with arrays as numpy:
    ``camera.K`` (3, 3), ``camera.dist`` (5,), and per hand ``joints_3d``, ``keypoints_2d``,
    ``visibility``, ``bbox`` and the ``mano`` entries."""
    path = Path(path)
    if path.is_dir():
        path = path / "ground_truth.json"
    gt = json.loads(path.read_text())
    gt["camera"]["K"] = np.asarray(gt["camera"]["K"], dtype=np.float64)
    gt["camera"]["dist"] = np.asarray(gt["camera"]["dist"], dtype=np.float64)
    for frame in gt["frames"]:
        for hand in frame["hands"]:
            for k in ("joints_3d", "keypoints_2d", "bbox"):
                hand[k] = np.asarray(hand[k], dtype=np.float64)
            hand["visibility"] = np.asarray(hand["visibility"], dtype=bool)
            hand["mano"] = {k: np.asarray(v, dtype=np.float64) for k, v in hand["mano"].items()}
    return gt
