"""HandEstimator: camera frames -> tracked metric 3D hands with MANO parameters.

Per frame: MediaPipe palm detection + hand landmarks with tracking (``mediapipe_hands``), metric
placement of each hand in the camera frame from its 2D keypoints, its metric 3D shape rescaled to
the track's hand size and the undistorted intrinsics (``placement.place_monocular``), MANO inverse
kinematics per side (``hand_models.fitting``), then the temporal stage (``temporal``: One-Euro +
SO(3) filtering, gap bridging). Published hands agree in 2D and 3D: the joints lie on their
keypoints' rays (observed hands: this frame's keypoints, so streaming adds no 2D lag; the temporal
stage smooths their depths), and the wrist pose is the wrist frame of the published joints.

Bad input never kills a stream: a frame that cannot be read raises ``ValueError``/``TypeError``
with the reason (the caller logs it and goes on); invalid intrinsics fall back to the default
ones with a warning; stamps that go backwards or repeat reset the tracks with a warning; a hand
whose placement or fit fails is published without MANO (or dropped) with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from hand_models.fitting import ManoFitter
from hand_models.geometry import validate_intrinsics
from hand_perception.core.config import EstimatorConfig, TemporalSection
from hand_perception.core.placement import (
    HandSizeTracker,
    default_intrinsics,
    normalized_points,
    on_rays,
    place_monocular,
    project,
    wrist_pose,
)
from hand_perception.core.temporal import OneEuroTemporalModel, TemporalConfig, TemporalModel, limit_hands
from hand_perception.core.types import CameraIntrinsics, FrameResult, HandState, Keypoints2D, ManoParams

log = logging.getLogger(__name__)


def _backend_string(backend: str, device: str) -> str | None:
    """LiteRT stays None; other backends get the device folded in ('onnxruntime' + 'cuda')."""
    if backend.strip().lower() in ("", "tflite", "litert"):
        return None
    from hand_models.inference import BackendConfig

    return str(BackendConfig.from_parts(backend, device))


def make_temporal_model(section: TemporalSection) -> TemporalModel | None:
    """The temporal stage the config asks for (None for 'none')."""
    if section.model == "none":
        return None
    fallback = TemporalConfig(**{f.name: getattr(section, f.name) for f in dataclasses.fields(TemporalConfig)})
    if section.model == "unihand":
        from hand_perception.core.unihand_temporal import UniHandTemporalConfig, UniHandTemporalModel

        if not section.checkpoint:
            raise ValueError("temporal.model 'unihand' needs temporal.checkpoint")
        return UniHandTemporalModel(UniHandTemporalConfig(
            checkpoint=section.checkpoint, window=section.window, latency_budget_s=section.latency_budget_s,
            max_gap_s=section.max_gap_s, fallback=fallback))
    return OneEuroTemporalModel(fallback)


def _placed_keypoints(kp: Keypoints2D, lifted) -> np.ndarray:
    """(21, 2) keypoints a lifted hand was placed on (spread to skeleton joints), px."""
    placed = lifted[0]
    return placed.keypoints_px if placed.keypoints_px is not None else np.asarray(kp.keypoints, np.float64)


class HandEstimator:
    """Stateful per-stream estimator (one per camera). See the module docstring."""

    def __init__(
        self,
        config: EstimatorConfig | None = None,
        temporal: TemporalSection | None = None,
        tracker=None,
    ) -> None:
        self.config = config or EstimatorConfig()
        temporal = temporal or TemporalSection()
        if tracker is None:
            from hand_perception.core.mediapipe_hands import MediaPipeHandTracker

            tracker = MediaPipeHandTracker(
                max_hands=self.config.max_hands,
                min_detection_score=self.config.min_detection_score,
                min_presence=self.config.min_presence,
                small_hand_pass=self.config.small_hand_pass,
                redetect_interval=self.config.redetect_interval,
                num_threads=self.config.num_threads,
                backend=_backend_string(self.config.backend, self.config.device),
                lost_track_memory_s=max(1.0, temporal.max_gap_s),  # a hand back near its prediction keeps its id
            )
        self.tracker = tracker
        self.fitters = {}
        if self.config.fit_mano:
            from hand_models.fitting import IKConfig

            ik = IKConfig(iterations=self.config.ik_iterations)
            self.fitters = {s: ManoFitter(s, self.config.mano_dir, config=ik) for s in ("left", "right")}
        self.temporal: TemporalModel | None = make_temporal_model(temporal)
        self._last_stamp: int | None = None
        self._intrinsics_warned = False
        #: last MANO fit per (side, track id): warm start of the next frame's fit
        self._last_fit: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        #: running hand size per (side, track id) (monocular scale, see placement.HandSizeTracker)
        self._sizes: dict[tuple[str, int], HandSizeTracker] = {}
        self._reference: dict[str, np.ndarray] = {}
        #: this frame's placement keypoints per (side, track id): what observed hands publish
        self._frame_keypoints: dict[tuple[str, int], np.ndarray] = {}
        #: placement source and depth std per (side, track id) (RGB-D, see _apply_depth)
        self._placement: dict[tuple[str, int], tuple[str, float]] = {}

    # ------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all tracks (tracker and temporal state)."""
        self.tracker.reset()
        if self.temporal is not None:
            self.temporal.reset()
        self._last_stamp = None
        self._last_fit = {}
        self._placement = {}
        self._sizes = {}

    def model_info(self) -> dict[str, str]:
        fitter = next(iter(self.fitters.values()), None)
        return {
            "detector": "mediapipe palm_detection_full + hand_landmark_full (0.10.21 wheel)",
            "backend": f"{self.config.backend}:{self.config.device}",
            "mano_model": fitter.model_name if fitter else "none",
            "temporal": type(self.temporal).__name__ if self.temporal is not None else "none",
        }

    # ------------------------------------------------------------------------------------------
    def _resolve_intrinsics(self, intrinsics: CameraIntrinsics | None, width: int, height: int,
                            warnings: list[str]) -> CameraIntrinsics:
        if intrinsics is None:
            return default_intrinsics(width, height)
        try:
            validate_intrinsics(np.asarray(intrinsics.K, dtype=np.float64),
                                None if intrinsics.dist is None else np.asarray(intrinsics.dist, dtype=np.float64))
        except (ValueError, TypeError) as exc:
            msg = f"invalid camera intrinsics ({exc}); using the default focal length"
            warnings.append(msg)
            if not self._intrinsics_warned:
                log.warning(msg)
                self._intrinsics_warned = True
            return default_intrinsics(width, height)
        return intrinsics

    def _check_stamp(self, stamp_ns: int, warnings: list[str]) -> int:
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
            raise TypeError(f"stamp_ns must be an integer (nanoseconds), got {type(stamp_ns).__name__}")
        stamp_ns = int(stamp_ns)
        if self._last_stamp is not None and stamp_ns <= self._last_stamp:
            msg = (f"stamp {stamp_ns} is not after the previous one ({self._last_stamp}): "
                   "tracks reset (looped bag or clock jump?)")
            warnings.append(msg)
            log.warning(msg)
            self.reset()
        self._last_stamp = stamp_ns
        return stamp_ns

    def _reference_hand(self, side: str) -> np.ndarray:
        """(21, 3) rest joints of the side's hand model: bone proportions for the placement."""
        if side not in self._reference:
            fitter = self.fitters.get(side) or ManoFitter(side, self.config.mano_dir)
            self._reference[side] = np.asarray(fitter._rest21, dtype=np.float64)  # the flat rest hand (21, 3)
        return self._reference[side]

    def _size_tracker(self, kp: Keypoints2D, still: bool) -> HandSizeTracker:
        """The hand's running size (a fresh one for stills and untracked hands)."""
        calibrated = self.config.hand_length_left_m if kp.side == "left" else self.config.hand_length_right_m
        if still or kp.track_id < 0:
            return HandSizeTracker(calibrated, self.config.size_window)
        key = (kp.side, int(kp.track_id))
        if key not in self._sizes:
            self._sizes[key] = HandSizeTracker(calibrated, self.config.size_window)
        return self._sizes[key]

    def _lift(self, kp: Keypoints2D, intrinsics: CameraIntrinsics, warnings: list[str], still: bool = False):
        """Metric joints (21, 3) and depth of one detected hand, or None."""
        if kp.landmarks_3d is None:
            warnings.append(f"hand {kp.track_id}: no metric landmarks; skipped")
            return None
        conf = np.where(kp.confidence >= self.config.min_keypoint_confidence, kp.confidence, 0.0)
        try:
            placed = place_monocular(kp.landmarks_3d, kp.keypoints, conf, intrinsics, self._size_tracker(kp, still),
                                     self.config.keypoint_spread, self._reference_hand(kp.side))
        except (ValueError, np.linalg.LinAlgError) as exc:
            warnings.append(f"hand {kp.track_id}: placement failed ({exc}); skipped")
            return None
        if not np.isfinite(placed.joints).all() or placed.depth <= 0:
            warnings.append(f"hand {kp.track_id}: placed behind the camera; skipped")
            return None
        return placed, conf

    def process(
        self,
        image: np.ndarray,
        stamp_ns: int,
        intrinsics: CameraIntrinsics | None = None,
        frame_id: str = "camera",
        color_order: str = "rgb",
        still: bool = False,
        depth: np.ndarray | None = None,
    ) -> FrameResult:
        """Estimate the hands in one frame.

        image (H, W, 3) uint8 in ``color_order`` ('rgb' or 'bgr'), or (H, W) grayscale;
        stamp_ns: the image's stamp; intrinsics: camera model of the image (None: default focal
        length, flagged in the result); still: treat the image on its own (no tracking, no
        temporal filtering); depth: optional (H, W) depth image registered to ``image`` (float
        metres, or integer millimetres; 0/NaN/inf = no depth; another size with the same aspect
        ratio is resized), used by :mod:`depth_placement` to place each hand metrically (the hands
        say which source placed them). Returns a FrameResult whose hands are in the camera optical frame.
        """
        from hand_perception.core.mediapipe_hands import prepare_image

        t_start = time.perf_counter()
        warnings: list[str] = []
        stamp_ns = self._check_stamp(stamp_ns, warnings)
        if color_order not in ("rgb", "bgr"):
            raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
        if color_order == "bgr" and isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3:
            image = image[..., ::-1]
        rgb = prepare_image(image)
        height, width = rgb.shape[:2]
        intr = self._resolve_intrinsics(intrinsics, width, height, warnings)
        stages: dict[str, float] = {}

        t = time.perf_counter()
        detections = self.tracker.process(rgb, stamp_ns, still=still)
        stages["keypoints"] = time.perf_counter() - t

        t = time.perf_counter()
        lifted = [(kp, self._lift(kp, intr, warnings, still)) for kp in detections]
        lifted = [(kp, res) for kp, res in lifted if res is not None]
        placement_info = self._apply_depth(lifted, depth, width, height, warnings)  # RGB-D (depth_placement)
        stages["placement"] = time.perf_counter() - t

        t = time.perf_counter()
        if still:
            self._last_fit = {}
        hands = self._fit_and_build(lifted, intr, warnings)
        stages["mano_fit"] = time.perf_counter() - t

        t = time.perf_counter()
        if self.temporal is not None and not still:
            if hasattr(self.temporal, "set_camera"):
                self.temporal.set_camera(np.asarray(intr.K, dtype=np.float64), width, height)
            hands = self.temporal.update(stamp_ns, hands)
            warnings.extend(getattr(self.temporal, "last_warnings", []))
            self._agree(hands, intr)
        # one hand per side, at most max_hands, whatever the temporal model (issue 11 defect 3)
        hands = limit_hands(hands, self.config.max_hands)
        stages["temporal"] = time.perf_counter() - t
        live = {(h.side, int(h.track_id)) for h in hands} | set(self._frame_keypoints)
        self._sizes = {k: v for k, v in self._sizes.items() if k in live}
        self._attach_placement(hands, placement_info)

        return FrameResult(stamp_ns=stamp_ns, frame_id=frame_id, hands=hands,
                           intrinsics_default=intr.is_default, latency_s=time.perf_counter() - t_start,
                           stage_latency_s=stages, warnings=warnings)

    def _agree(self, hands: list[HandState], intr: CameraIntrinsics) -> None:
        """After the temporal stage: 2D/3D agreement and the documented wrist frame, in place.

        Observed hands publish this frame's keypoints (no filter lag in 2D: streaming is as
        accurate as stills) and their joints on those keypoints' rays at the filtered depths
        (the filter smooths the depth, the noisy part of a monocular hand); predicted hands
        publish the projection of their predicted joints. The wrist pose is recomputed from
        the published joints (``placement.wrist_frame``).
        """
        # the temporal stage may publish an older id for a re-acquired hand: map back to the input id
        input_id = {pub: inp for inp, pub in getattr(self.temporal, "last_id_map", {}).items()}
        for h in hands:
            key = (h.side, int(input_id.get(int(h.track_id), h.track_id)))
            joints = np.asarray(h.joints, dtype=np.float64)
            if h.is_observed and key in self._frame_keypoints and np.all(joints[:, 2] > 1e-3):
                h.keypoints_2d = self._frame_keypoints[key].copy()
                h.joints = on_rays(h.keypoints_2d, joints[:, 2], intr)
            elif np.all(joints[:, 2] > 1e-3):
                h.keypoints_2d = project(joints, intr)
            h.wrist_position, h.wrist_orientation_xyzw = wrist_pose(h.joints, h.side)
            h.depth = float(h.joints[0, 2])

    def _apply_depth(self, lifted, depth, width: int, height: int, warnings: list[str]) -> dict:
        """RGB-D placement: rescales each lifted hand in place by :func:`place_with_depth`.
        Returns {(side, track_id): (placement source, depth std m)} for every lifted hand."""
        from hand_perception.core.depth import prepare_depth
        from hand_perception.core.depth_placement import PLACEMENT_MONOCULAR, place_with_depth

        info = {}
        depth_m = None
        if depth is not None:
            depth_m, problem = prepare_depth(depth, width, height, depth_scale=0.001)
            if problem:
                warnings.append(f"depth not used ({problem}); hands placed monocular")
        for k, (kp, (placed, conf)) in enumerate(lifted):
            mono_std = getattr(placed, "depth_std", None)
            key = (kp.side, int(kp.track_id))
            if depth_m is None:
                info[key] = (PLACEMENT_MONOCULAR, float(mono_std) if mono_std is not None else float("nan"))
                continue
            res = place_with_depth(placed.joints, kp.keypoints, conf, depth_m, mono_std_m=mono_std)
            if res.reason:
                warnings.append(f"hand {kp.track_id}: depth not used ({res.reason})")
            lifted[k] = (kp, (dataclasses.replace(placed, joints=res.joints, depth=res.depth), conf))
            info[key] = (res.source, res.depth_std)
        return info

    def _attach_placement(self, hands: list[HandState], info: dict) -> None:
        """Set placement_source/depth_std of the output hands (bridged hands keep their track's last).

        ``info`` is keyed by the tracker's (input) ids; the temporal stage may publish a hand under
        an older id (``last_id_map``), so look it up through that map.
        """
        input_id = {pub: inp for inp, pub in getattr(self.temporal, "last_id_map", {}).items()}
        for h in hands:
            key = (h.side, int(h.track_id))
            source_key = (h.side, int(input_id.get(int(h.track_id), h.track_id)))
            if source_key in info:
                self._placement[key] = info[source_key]
            if key in self._placement:
                h.placement_source, h.depth_std = self._placement[key]
        live = {(h.side, int(h.track_id)) for h in hands}
        self._placement = {k: v for k, v in self._placement.items() if k in live}

    def _fit_and_build(self, lifted, intr: CameraIntrinsics, warnings: list[str]) -> list[HandState]:
        """MANO fit per side (batched) and HandState assembly.

        The fit matches the placed metric joints and, with ``ik_pixel_sigma`` > 0, also the 2D
        keypoints' undistorted rays, so the fitted hand projects onto what the image shows.
        """
        fits: dict[int, object] = {}
        for side, fitter in self.fitters.items():
            idx = [i for i, (kp, _) in enumerate(lifted) if kp.side == side]
            if not idx:
                continue
            joints = np.stack([lifted[i][1][0].joints for i in idx])
            conf = np.stack([lifted[i][1][1] for i in idx])
            keys = [(side, int(lifted[i][0].track_id)) for i in idx]
            warm = all(k in self._last_fit for k in keys) and self.config.ik_warm_iterations > 0
            init = ({name: np.stack([self._last_fit[k][name] for k in keys]) for name in
                     ("global_orient", "hand_pose", "betas", "transl")} if warm else None)
            rays = sigma = None
            if self.config.ik_pixel_sigma > 0:
                rays = np.stack([normalized_points(_placed_keypoints(*lifted[i]), intr) for i in idx])
                sigma = np.full(len(idx), self.config.ik_pixel_sigma / float(np.asarray(intr.K)[0, 0]))
            try:
                result = fitter.fit(joints, conf, init=init, rays=rays, ray_sigma=sigma,
                                    iterations=self.config.ik_warm_iterations if warm else None)
                if warm and np.any(result.error > self.config.ik_warm_max_error_m):
                    # the hand moved too far for a short warm-started fit: start afresh
                    result = fitter.fit(joints, conf, rays=rays, ray_sigma=sigma)
            except ValueError as exc:
                warnings.append(f"MANO fit of {side} hands failed ({exc}); published without MANO")
                continue
            for k, key in enumerate(keys):
                self._last_fit[key] = {name: getattr(result, name)[k] for name in
                                       ("global_orient", "hand_pose", "betas", "transl")}
            for k, i in enumerate(idx):
                fits[i] = (result, k, fitter.model_name)
        seen = {(kp.side, int(kp.track_id)) for kp, _ in lifted}
        self._last_fit = {k: v for k, v in self._last_fit.items() if k in seen}
        self._frame_keypoints = {}
        hands = []
        for i, (kp, (placed, conf)) in enumerate(lifted):
            mano, joints, model = None, placed.joints, ""
            if i in fits:
                result, k, model = fits[i]
                mano = ManoParams(global_orient=result.global_orient[k].copy(), hand_pose=result.hand_pose[k].copy(),
                                  betas=result.betas[k].copy(), transl=result.transl[k].copy())
                joints = result.joints[k].copy()
            # 2D/3D agreement: the joints move onto their keypoints' rays at their fitted depths, so
            # the published joints project exactly onto the published keypoints
            kp2d = _placed_keypoints(kp, (placed, conf))
            self._frame_keypoints[(kp.side, int(kp.track_id))] = kp2d
            joints = on_rays(kp2d, joints[:, 2], intr)
            position, quat = wrist_pose(joints, kp.side)
            hands.append(HandState(
                side=kp.side, track_id=int(kp.track_id), confidence=float(kp.score),
                keypoints_2d=kp2d.copy(), keypoint_confidence=np.asarray(conf),
                joints=joints, wrist_position=position, wrist_orientation_xyzw=quat, mano=mano,
                bbox=np.asarray(kp.bbox, dtype=np.float64), is_observed=True, depth=float(joints[0, 2]),
                model=model,
            ))
        return hands
