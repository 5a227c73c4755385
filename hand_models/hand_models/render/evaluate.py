"""How well a 2D hand detector finds the rendered hands (used by the detection benchmark and test).

Protocol (per frame, per ground-truth hand):

* a GT hand is *evaluated* when at least ``min_inside`` of its 21 keypoints project inside the
  image (hands mostly out of frame are not counted);
* PCK@0.2 of a detection against a GT hand: fraction of the 21 keypoints within
  ``0.2 * max(w, h)`` of the GT, ``w, h`` the size of the GT keypoints' bounding box;
* detections and GT hands are matched one to one, best PCK first; a GT hand is *detected* when
  its match has PCK@0.2 > 0.5;
* handedness: MediaPipe's solution labels assume a mirrored (selfie) image, so on our
  non-mirrored renders its "Left" means our right hand; both the raw and the flipped agreement
  are reported.

MediaPipe is imported only when :class:`MediaPipeHands` is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np


@dataclass
class Detection:
    """A detected hand: keypoints (21, 2) px in our joint order, label as the detector says it."""

    keypoints: np.ndarray
    label: str
    score: float = 1.0


class MediaPipeHands:
    """``mediapipe.solutions.hands.Hands`` (static images, two hands) as a callable on RGB frames."""

    def __init__(self, max_num_hands: int = 2, min_detection_confidence: float = 0.5, model_complexity: int = 1):
        import mediapipe as mp  # optional dependency

        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=max_num_hands,
                                               min_detection_confidence=min_detection_confidence,
                                               model_complexity=model_complexity)

    def __call__(self, image_rgb: np.ndarray) -> list[Detection]:
        h, w = image_rgb.shape[:2]
        res = self._hands.process(np.ascontiguousarray(image_rgb))
        out = []
        for lm, hd in zip(res.multi_hand_landmarks or [], res.multi_handedness or []):
            kp = np.array([[p.x * w, p.y * h] for p in lm.landmark])  # MediaPipe order == ours
            c = hd.classification[0]
            out.append(Detection(kp, c.label.lower(), float(c.score)))
        return out

    def close(self) -> None:
        self._hands.close()


def pck(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.2) -> float:
    """PCK@alpha of (21, 2) keypoints, threshold relative to the GT keypoints' box size."""
    size = max(float(np.ptp(gt[:, 0])), float(np.ptp(gt[:, 1])), 1.0)
    return float((np.linalg.norm(pred - gt, axis=1) <= alpha * size).mean())


@dataclass
class DetectionStats:
    """Accumulated figures (see the module docstring)."""

    gt_hands: int = 0
    detected: int = 0
    pck_matched: list[float] = field(default_factory=list)
    handedness_raw: int = 0
    handedness_flipped: int = 0
    false_positives: int = 0
    frames: int = 0
    detector_ms: list[float] = field(default_factory=list)
    per_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [gt, detected, flipped label right]

    def summary(self) -> dict:
        n = max(self.gt_hands, 1)
        d = max(self.detected, 1)
        out = {
            "frames": self.frames,
            "gt_hands": self.gt_hands,
            "detected": self.detected,
            "detection_rate": self.detected / n,
            "pck02_detected": float(np.mean(self.pck_matched)) if self.pck_matched else 0.0,
            "pck02_all": float(np.sum(self.pck_matched)) / n,
            "handedness_raw": self.handedness_raw / d,
            "handedness_flipped": self.handedness_flipped / d,
            "false_positives": self.false_positives,
            "detector_ms_mean": float(np.mean(self.detector_ms)) if self.detector_ms else 0.0,
        }
        out["groups"] = {
            k: {"gt": v[0], "detection_rate": v[1] / max(v[0], 1), "handedness_flipped": v[2] / max(v[1], 1)}
            for k, v in sorted(self.per_group.items())
        }
        return out


def evaluate_frame(stats: DetectionStats, frame, detections: list[Detection], min_inside: int = 15,
                   groups: Iterable[str] = ()) -> list[tuple]:
    """Match ``detections`` to ``frame.hands``, update ``stats``; returns (gt, detection, pck) matches."""
    W, H = frame.image.shape[1], frame.image.shape[0]
    stats.frames += 1
    gts = []
    for h in frame.hands:
        kp = h.keypoints_2d
        inside = (kp[:, 0] >= 0) & (kp[:, 0] < W) & (kp[:, 1] >= 0) & (kp[:, 1] < H) & (h.joints_3d[:, 2] > 0)
        if inside.sum() >= min_inside:
            gts.append(h)
    scores = np.array([[pck(d.keypoints, g.keypoints_2d) for d in detections] for g in gts])
    scores = scores.reshape(len(gts), len(detections))
    matches = []
    used_g, used_d = set(), set()
    for flat in np.argsort(-scores, axis=None):
        gi, di = np.unravel_index(flat, scores.shape)
        if gi in used_g or di in used_d or scores[gi, di] <= 0.5:
            continue
        used_g.add(gi)
        used_d.add(di)
        matches.append((gts[gi], detections[di], float(scores[gi, di])))
    stats.gt_hands += len(gts)
    stats.detected += len(matches)
    stats.false_positives += len(detections) - len(matches)
    for g, d, p in matches:
        stats.pck_matched.append(p)
        stats.handedness_raw += d.label == g.side
        stats.handedness_flipped += d.label != g.side
    label_of = {id(g): d.label for g, d, _ in matches}
    for key in groups:
        for g in gts:
            k = f"{key}={_group_value(key, g)}"
            entry = stats.per_group.setdefault(k, [0, 0, 0])
            entry[0] += 1
            if id(g) in label_of:
                entry[1] += 1
                entry[2] += label_of[id(g)] != g.side
    return matches


def _group_value(key: str, hand) -> str:
    if key == "side":
        return hand.side
    if key == "gesture":
        return hand.gesture
    if key == "facing":
        # palm normal vs. the direction to the camera, from the joints: normal of (index MCP -
        # wrist) x (pinky MCP - wrist), towards the palm for a right hand
        j = hand.joints_3d
        n = np.cross(j[5] - j[0], j[17] - j[0]) * (1.0 if hand.side == "right" else -1.0)
        n /= np.linalg.norm(n) + 1e-12
        to_cam = -j[9] / np.linalg.norm(j[9])
        c = float(n @ to_cam)
        return "palm" if c > 0.5 else "back" if c < -0.5 else "side"
    if key == "size":
        kp = hand.keypoints_2d
        s = max(np.ptp(kp[:, 0]), np.ptp(kp[:, 1]))
        return "small(<100px)" if s < 100 else "medium(<200px)" if s < 200 else "large"
    raise KeyError(key)


def run_detection(frames: Iterable, detector=None,
                  groups: Iterable[str] = ("side", "facing", "size")) -> DetectionStats:
    """Run ``detector`` (default :class:`MediaPipeHands`) on frames and accumulate the figures."""
    own = detector is None
    detector = detector or MediaPipeHands()
    stats = DetectionStats()
    try:
        for frame in frames:
            t = time.perf_counter()
            dets = detector(frame.image)
            stats.detector_ms.append((time.perf_counter() - t) * 1e3)
            evaluate_frame(stats, frame, dets, groups=tuple(groups))
    finally:
        if own:
            detector.close()
    return stats
