"""Rendered sequences for track continuity, and an id-switch counter.

Scenes (two hands of one person, static camera, exact ground truth from :mod:`.scene`):

* :func:`crossing_scene`: the hands move across the image and pass each other, the right hand in
  front (``touch=True``: they approach until they overlap, fingers touching, and move apart).
* :func:`gap_scene`: both hands move slowly; in frames ``gap`` one hand is covered by a flat
  occluder (a card held in front of the camera), so the detector loses it for those frames and
  finds it again near where it was heading.

:func:`count_id_switches` matches published hands to the ground-truth hands per frame (median
keypoint distance below ``match_fraction`` of the ground-truth hand's box side, one-to-one, closest
first) and counts, MOT-style, an id switch whenever a ground-truth hand is matched to an id other
than the one it was last matched to (gaps in between do not reset it), plus side errors, misses,
false positives and frames with two hands of one side.

Ground-truth hands are anything with ``side`` and ``keypoints_2d`` (21, 2) px (``HandGroundTruth``);
published hands anything with ``track_id``, ``side`` and ``keypoints_2d`` (``HandState``) or
``keypoints`` (``Keypoints2D``). Hands are identified by side in the ground truth (one person).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hand_models.render.motion import GESTURES, CameraDrift, HandTrack, MotionConfig
from hand_models.render.scene import SceneConfig, SyntheticFrame, SyntheticSequence

__all__ = ["TrackingScene", "TrackingStats", "crossing_scene", "gap_scene", "count_id_switches"]


@dataclass
class TrackingScene:
    """A rendered sequence for tracking tests: ``frames`` (images and ground truth, occluders already
    drawn), ``occluded`` frame index -> sides hidden in that frame, ``fps``."""

    name: str
    frames: list[SyntheticFrame]
    fps: float
    occluded: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def K(self) -> np.ndarray:
        return self.frames[0].K


def _static_sequence(num_frames: int, width: int, height: int, fps: float, seed: int) -> SyntheticSequence:
    cfg = SceneConfig(camera_moving_prob=0.0, motion=MotionConfig(cross_prob=0.0), depth=False)
    seq = SyntheticSequence(num_frames, width, height, fps, seed, config=cfg)
    seq.drift = CameraDrift(np.zeros(3), np.zeros(3), np.ones(6), np.zeros(6))
    return seq


def _set_paths(seq: SyntheticSequence, paths: dict[str, Any], gesture: str = "open_palm") -> None:
    """Replace the sequence's random motion by wrist paths ``paths[side](t) -> (u, v, z)`` (image px
    and depth m), palm towards the camera, fingers up, leaning outwards a little, fixed gesture."""
    K = seq.K
    duration = seq.num_frames / seq.fps
    times = np.arange(-0.5, duration + 1.0, 1.0 / 15.0)
    for side in seq.sides:
        uvz = np.array([paths[side](float(t)) for t in times], dtype=np.float64)
        z = uvz[:, 2]
        pos = np.stack([(uvz[:, 0] - K[0, 2]) * z / K[0, 0], (uvz[:, 1] - K[1, 2]) * z / K[1, 1], z], axis=1)
        roll = -0.15 if side == "right" else 0.15
        euler = np.tile([0.0, -0.1, roll], (len(times), 1))
        angles = np.repeat(GESTURES[gesture][None], len(times), axis=0)
        seq.tracks[side] = HandTrack(side, seq._models[side].base, times, pos, euler, angles,
                                     [gesture] * len(times))
    seq._depth_offsets = seq._separate_in_depth(duration)


def _hand_px(seq: SyntheticSequence, z: float) -> float:
    """Length (px) of a 19 cm hand at depth z."""
    return 0.19 * float(seq.K[1, 1]) / z


def crossing_scene(num_frames: int = 40, width: int = 320, height: int = 240, fps: float = 30.0, seed: int = 0,
                   touch: bool = False) -> TrackingScene:
    """Two hands that cross (or, with ``touch``, meet and overlap) in the middle of the sequence.

    The right hand starts on the image's left (the person faces the camera) at 0.45 m, the left
    hand on the right at 0.55 m; crossing, each ends where the other started, passing in front of
    (right) or behind (left) the other mid-way; touching, they meet with overlapping fingers at
    the centre and go back. Wrists sit at 80 % of the image height.
    """
    seq = _static_sequence(num_frames, width, height, fps, seed)
    duration = num_frames / fps
    z = {"right": 0.45, "left": 0.55 if not touch else 0.47}
    v = 0.8 * height

    def path(side: str):
        sign = -1.0 if side == "right" else 1.0  # right hand on the image's left
        start = 0.5 * width + sign * 0.3 * width
        if touch:
            # meet at the centre (centres a third of a hand width apart), then go back
            end = 0.5 * width + sign * 0.06 * _hand_px(seq, z[side])
        else:
            end = 0.5 * width - sign * 0.3 * width

        def f(t: float) -> tuple[float, float, float]:
            s = np.clip(t / duration, 0.0, 1.0)
            a = np.sin(np.pi * s) if touch else 0.5 - 0.5 * np.cos(np.pi * s)
            return (start + (end - start) * a, v, z[side])

        return f

    _set_paths(seq, {s: path(s) for s in seq.sides})
    return TrackingScene("touch" if touch else "crossing", [seq[i] for i in range(num_frames)], fps)


def gap_scene(num_frames: int = 30, width: int = 320, height: int = 240, fps: float = 30.0, seed: int = 0,
              gap: tuple[int, int] = (12, 17), side: str = "right", speed_px_s: float = 60.0) -> TrackingScene:
    """Both hands apart, moving sideways (``speed_px_s``, the occluded one away from the other); in
    frames ``gap[0] <= i < gap[1]`` the ``side`` hand is covered by a flat grey card (its box grown
    by 20 %), so the detector cannot see it. Default: 5 frames (0.17 s at 30 fps)."""
    seq = _static_sequence(num_frames, width, height, fps, seed)
    v = 0.8 * height
    z = {"right": 0.5, "left": 0.52}

    def path(s: str):
        sign = -1.0 if s == "right" else 1.0
        u0 = 0.5 * width + sign * 0.2 * width
        return lambda t: (u0 + sign * speed_px_s * t, v, z[s])

    _set_paths(seq, {s: path(s) for s in seq.sides})
    frames = [seq[i] for i in range(num_frames)]
    occluded: dict[int, tuple[str, ...]] = {}
    for i in range(max(0, gap[0]), min(num_frames, gap[1])):
        fr = frames[i]
        gt = fr.hand(side)
        x0, y0, x1, y1 = gt.bbox
        gx, gy = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        xa, ya = int(max(0, np.floor(x0 - gx))), int(max(0, np.floor(y0 - gy)))
        xb, yb = int(min(width, np.ceil(x1 + gx) + 1)), int(min(height, np.ceil(y1 + gy) + 1))
        img = fr.image.copy()
        img[ya:yb, xa:xb] = (128, 128, 128)
        fr.image = img
        fr.hand(side).visibility = np.zeros(21, dtype=bool)
        occluded[i] = (side,)
    return TrackingScene("gap", frames, fps, occluded)


# --------------------------------------------------------------------------------------------------
# id switches


@dataclass
class TrackingStats:
    """Counts of :func:`count_id_switches`; ``ids`` lists the ids each ground-truth hand was matched
    to, in order of first use."""

    frames: int = 0
    gt_hands: int = 0
    matched: int = 0
    missed: int = 0
    false_positives: int = 0
    id_switches: int = 0
    side_errors: int = 0
    duplicate_side_frames: int = 0
    ids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def id_switches_per_100_frames(self) -> float:
        return 100.0 * self.id_switches / max(self.frames, 1)

    def as_dict(self) -> dict:
        return {"frames": self.frames, "gt_hands": self.gt_hands, "matched": self.matched, "missed": self.missed,
                "false_positives": self.false_positives, "id_switches": self.id_switches,
                "id_switches_per_100_frames": round(self.id_switches_per_100_frames, 3),
                "side_errors": self.side_errors, "duplicate_side_frames": self.duplicate_side_frames,
                "ids": {k: list(v) for k, v in self.ids.items()}}


def _kp(hand: Any) -> np.ndarray:
    kp = getattr(hand, "keypoints_2d", None)
    if kp is None:
        kp = hand.keypoints
    return np.asarray(kp, dtype=np.float64).reshape(-1, 2)


def count_id_switches(ground_truth: Sequence[Sequence[Any]], published: Sequence[Sequence[Any]],
                      match_fraction: float = 0.5) -> TrackingStats:
    """Id switches and side errors of published hands against ground-truth hands, frame by frame.

    ground_truth[i]: the ground-truth hands of frame i (``side``, ``keypoints_2d`` (21, 2) px), e.g.
    ``SyntheticFrame.hands``; published[i]: the hands published for frame i (``track_id``, ``side``,
    ``keypoints_2d`` or ``keypoints``), e.g. ``FrameResult.hands`` (bridged hands count: a predicted
    hand that keeps its id is what a consumer sees). A pair matches when the median keypoint distance
    is below ``match_fraction`` x the ground-truth hand's size (longest side of its keypoint box).
    """
    if len(ground_truth) != len(published):
        raise ValueError(f"{len(ground_truth)} ground-truth frames but {len(published)} published frames")
    stats = TrackingStats()
    last_id: dict[str, int] = {}
    for gts, pubs in zip(ground_truth, published):
        stats.frames += 1
        stats.gt_hands += len(gts)
        sides = [p.side for p in pubs]
        if len(sides) != len(set(sides)):
            stats.duplicate_side_frames += 1
        pairs = []
        for i, g in enumerate(gts):
            gk = _kp(g)
            size = float(max(np.ptp(gk[:, 0]), np.ptp(gk[:, 1]), 1.0))
            for j, p in enumerate(pubs):
                d = float(np.median(np.linalg.norm(_kp(p) - gk, axis=1))) / size
                if d < match_fraction:
                    pairs.append((d, i, j))
        used_g: set[int] = set()
        used_p: set[int] = set()
        for _, i, j in sorted(pairs):
            if i in used_g or j in used_p:
                continue
            used_g.add(i)
            used_p.add(j)
            g, p = gts[i], pubs[j]
            key, tid = str(g.side), int(p.track_id)
            stats.matched += 1
            if p.side != g.side:
                stats.side_errors += 1
            if key in last_id and last_id[key] != tid:
                stats.id_switches += 1
            last_id[key] = tid
            ids = stats.ids.setdefault(key, [])
            if tid not in ids:
                ids.append(tid)
        stats.missed += len(gts) - len(used_g)
        stats.false_positives += len(pubs) - len(used_p)
    return stats
