"""Plain dataclasses passed between the streaming stages (no ROS, no torch).

Frames: everything 3D is in the camera optical frame of the image it came from
(x right, y down, z forward, metres). 2D keypoints are pixels in the original image.
Joint order is ``hand_models.joints.JOINT_NAMES`` (21 joints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Side = Literal["left", "right"]
SIDES: tuple[Side, Side] = ("left", "right")


@dataclass
class CameraIntrinsics:
    """Pinhole intrinsics with plumb-bob distortion, as in sensor_msgs/CameraInfo.

    ``K`` is (3, 3); ``dist`` is (k1, k2, p1, p2, k3) or empty; ``width``/``height`` in px.
    ``is_default`` is true when no intrinsics were given and a default focal length was assumed.
    """

    K: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    width: int = 0
    height: int = 0
    is_default: bool = False


@dataclass
class ManoParams:
    """MANO parameters of one hand, in that side's own MANO model (axis-angle, flat-hand mean).

    global_orient (3,), hand_pose (45,), betas (10,), transl (3,) metres (camera frame).
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray


@dataclass
class Keypoints2D:
    """One hand seen in one image, before 3D lifting.

    keypoints (21, 2) px; confidence (21,) in [0, 1]; landmarks_3d (21, 3) metric hand-centred
    coordinates from the landmark network (camera axes, origin arbitrary) or None; score is the
    hand presence score; side is in our (non-mirrored) convention; bbox (4,) px xyxy.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    side: Side
    side_score: float
    score: float
    bbox: np.ndarray
    landmarks_3d: np.ndarray | None = None
    track_id: int = -1


@dataclass
class HandState:
    """A hand in one frame, as published.

    joints (21, 3) metres, camera optical frame; keypoints_2d (21, 2) px; keypoint_confidence (21,);
    wrist_position (3,) metres and wrist_orientation_xyzw (4,) unit quaternion (camera frame);
    bbox (4,) px xyxy; depth is the wrist z in metres; is_observed is false when the temporal stage
    predicted this hand through a gap; model names the MANO model the parameters refer to;
    placement_source says what placed the hand metrically ("monocular", "depth" or "fused", see
    ``depth_placement``); depth_std is the 1-sigma uncertainty of ``depth`` in metres (NaN: unknown).
    """

    side: Side
    track_id: int
    confidence: float
    keypoints_2d: np.ndarray
    keypoint_confidence: np.ndarray
    joints: np.ndarray
    wrist_position: np.ndarray
    wrist_orientation_xyzw: np.ndarray
    mano: ManoParams | None
    bbox: np.ndarray
    is_observed: bool = True
    depth: float = float("nan")
    model: str = ""
    placement_source: str = "monocular"
    depth_std: float = float("nan")


@dataclass
class FrameResult:
    """Everything the estimator says about one image (stamp in ns of that image)."""

    stamp_ns: int
    frame_id: str
    hands: list[HandState]
    intrinsics_default: bool = False
    latency_s: float = 0.0
    stage_latency_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class HandTrajectory:
    """Forecast of one hand over T future steps.

    wrist_position (T, 3) m; wrist_orientation_xyzw (T, 4); joints (T, 21, 3) m; hand_pose (T, 45)
    axis-angle (MANO); all in the camera optical frame of the last observation.
    """

    side: Side
    wrist_position: np.ndarray
    wrist_orientation_xyzw: np.ndarray
    joints: np.ndarray
    hand_pose: np.ndarray


@dataclass
class ForecastSample:
    """One possible future of both hands; ``hands`` holds the sides that were observed."""

    probability: float
    hands: list[HandTrajectory]


@dataclass
class BimanualForecast:
    """K samples of the future of both hands plus their mean.

    stamp_ns is the time of the last observation; sample t is at stamp + (t + 1) * time_step_s.
    """

    stamp_ns: int
    frame_id: str
    time_step_s: float
    horizon_s: float
    samples: list[ForecastSample]
    mean: ForecastSample | None = None


@dataclass
class ActionHypothesis:
    label: str
    probability: float
    verb: str = ""
    noun: str = ""


@dataclass
class ActionEstimate:
    """Ranked action labels for one hand (or both when side is None) over a window of time."""

    stamp_ns: int
    frame_id: str
    taxonomy: str
    hypotheses: list[ActionHypothesis]
    window_start_ns: int
    window_end_ns: int
    side: Side | None = None
    is_forecast: bool = False
