"""MediaPipe's own hand solution (``mediapipe.solutions.hands.Hands``) with our output format.

The accuracy and speed reference for ``mediapipe_hands.MediaPipeHandTracker`` (same models, our
pre/post-processing and tracking) in tests and benchmarks. Only the output is ours: ``Keypoints2D``
with keypoints (21, 2) px in the full image, handedness in our non-mirrored convention (MediaPipe
"Left" -> our ``"right"``, see ``mediapipe_hands``) and MediaPipe's world landmarks (21, 3) m as
``landmarks_3d``. Input checks as the tracker's (``image_input``).
"""

from __future__ import annotations

import warnings

import numpy as np

from hand_perception.core.types import Keypoints2D

from .image_input import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_IMAGE_SIDE, check_stamp, prepare_image
from .mediapipe_models import LANDMARK_MODEL, MEDIAPIPE_REQUIREMENT, PALM_MODEL, mediapipe_model_path

__all__ = ["MediaPipeHandsBaseline"]


class MediaPipeHandsBaseline:
    """``mediapipe.solutions.hands.Hands`` (model_complexity 1) on the same frames, same outputs.

    Only the output format is ours: handedness mapped to our non-mirrored convention, keypoints in
    px, world landmarks as ``landmarks_3d``. MediaPipe's solution API exposes neither the presence
    score nor track ids, so ``score`` and ``confidence`` are the handedness score of the hand's label
    (what MediaPipe reports as its confidence) and ``track_id`` is the hand's index in the list.
    ``still=True`` uses a separate ``static_image_mode`` instance.
    """

    def __init__(
        self,
        max_hands: int = 2,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
        model_complexity: int = 1,
        max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        # fail early with the same message as the tracker if the wheel lacks the models
        mediapipe_model_path(PALM_MODEL)
        mediapipe_model_path(LANDMARK_MODEL)
        try:
            from mediapipe.python.solutions import hands as mp_hands
        except Exception as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                f"mediapipe.solutions.hands is not available ({exc}): pip install {MEDIAPIPE_REQUIREMENT}"
            ) from exc
        self._mp_hands = mp_hands
        self.max_hands = int(max_hands)
        self.min_detection_score = float(min_detection_score)
        self.min_presence = float(min_presence)
        self.model_complexity = int(model_complexity)
        self.max_image_side = int(max_image_side)
        self.max_image_pixels = int(max_image_pixels)
        self._video = None
        self._still = None
        self._last_stamp: int | None = None

    def _make(self, static: bool):
        return self._mp_hands.Hands(
            static_image_mode=static,
            max_num_hands=self.max_hands,
            model_complexity=self.model_complexity,
            min_detection_confidence=self.min_detection_score,
            min_tracking_confidence=self.min_presence,
        )

    def reset(self) -> None:
        if self._video is not None:
            self._video.close()
        self._video = None
        self._last_stamp = None

    def close(self) -> None:
        self.reset()
        if self._still is not None:
            self._still.close()
            self._still = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def process(self, image_rgb: np.ndarray, stamp_ns: int, still: bool = False) -> list[Keypoints2D]:
        image = prepare_image(image_rgb, self.max_image_side, self.max_image_pixels)
        stamp = check_stamp(stamp_ns)
        if still:
            if self._still is None:
                self._still = self._make(True)
            solution = self._still
        else:
            if self._last_stamp is not None and stamp < self._last_stamp:
                warnings.warn("stamp went backwards: MediaPipe tracking reset", RuntimeWarning, stacklevel=2)
                self.reset()
            self._last_stamp = stamp
            if self._video is None:
                self._video = self._make(False)
            solution = self._video
        res = solution.process(image)
        h, w = image.shape[:2]
        hands: list[Keypoints2D] = []
        if not res.multi_hand_landmarks:
            return hands
        worlds = res.multi_hand_world_landmarks or [None] * len(res.multi_hand_landmarks)
        for i, (lms, handed, world) in enumerate(zip(res.multi_hand_landmarks, res.multi_handedness, worlds)):
            kp = np.array([[p.x * w, p.y * h] for p in lms.landmark], dtype=np.float64)
            cls = handed.classification[0]
            side = "right" if cls.label == "Left" else "left"  # MediaPipe assumes a mirrored image
            score = float(cls.score)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] <= w) & (kp[:, 1] >= 0) & (kp[:, 1] <= h)
            lo, hi = kp.min(0), kp.max(0)
            bbox = np.array([np.clip(lo[0], 0, w), np.clip(lo[1], 0, h), np.clip(hi[0], 0, w), np.clip(hi[1], 0, h)])
            l3 = None if world is None else np.array([[p.x, p.y, p.z] for p in world.landmark], dtype=np.float64)
            hands.append(
                Keypoints2D(
                    keypoints=kp,
                    confidence=np.where(inside, 1.0, 0.5) * score,
                    side=side,  # type: ignore[arg-type]
                    side_score=score,
                    score=score,
                    bbox=bbox,
                    landmarks_3d=l3,
                    track_id=i,
                )
            )
        return hands

    __call__ = process
