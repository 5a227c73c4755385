"""Track bookkeeping of ``MediaPipeHandTracker``: stable ids, lost-track memory, re-identification.

The tracker (``mediapipe_hands``) runs the models; this module decides which hand found in a frame
is which track. Per frame the tracker produces :class:`HandResult` s (one landmark-model output on
the ROI of a :class:`Candidate`, which carries the :class:`Track` it came from, or ``None`` for a
newly detected hand). Then:

* duplicates: two results whose keypoints nearly coincide (median distance below
  ``duplicate_distance`` x hand size) are one hand (:func:`is_duplicate`); a new hand lying mostly
  inside a hand already found is a false hand on its fingers (:func:`is_inside`);
* lost-track memory: a track that is not continued is kept for ``lost_track_memory_s`` of stream
  time (:func:`forget_lost`) with its last keypoint centre, size and smoothed centre velocity;
* re-identification: a new hand near a lost track's predicted centre (exponentially damped constant
  velocity), of similar size and not confidently of the other side, takes that track back, with its
  id and handedness evidence (:func:`revive_cost`, :func:`revive`); a tracked hand that the landmark
  model confidently calls the other side and that lies where a lost track of that side was heading
  is handed back to the lost track (:func:`swap_drifted`, hands that touched and separated);
* :func:`update_tracks` ends the frame: survivors keep their id, revived hands their old one, other
  new hands get fresh ids (never reused), and every track's handedness evidence, ROI and motion are
  updated.

Units: positions and sizes in image px (continuous coordinates, origin at the image's top-left
edge), keypoints (21, 2) px, keypoint boxes (4,) xyxy px, stamps in ns, velocities in px/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .handedness import HandednessEvidence, logit
from .mediapipe_models import LandmarkOutput
from .roi import RotatedRect, rect_from_landmarks

__all__ = [
    "Candidate",
    "HandResult",
    "Track",
    "box_iou",
    "forget_lost",
    "is_duplicate",
    "is_inside",
    "other_side",
    "overlap_weights",
    "prediction_error",
    "revive",
    "revive_cost",
    "swap_drifted",
    "update_tracks",
]


@dataclass
class Track:
    """One hand followed over frames: id, ROI for the next frame, handedness evidence, motion."""

    track_id: int
    rect: RotatedRect
    evidence: HandednessEvidence
    age: int = 0
    #: keypoint centre (2,) px and size (px) at the last frame the hand was seen, its stamp (ns), and
    #: the centre's velocity (2,) px/s (smoothed), for re-identification after a gap
    centre: np.ndarray | None = None
    size: float = 0.0
    stamp: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def observe(self, landmarks: np.ndarray, size: float, stamp: int) -> None:
        """Record the hand seen at ``stamp`` (ns): keypoints (21, 2) px, size px."""
        c = np.asarray(landmarks, dtype=np.float64).mean(axis=0)
        if self.centre is not None and stamp > self.stamp:
            v = (c - self.centre) / ((stamp - self.stamp) * 1e-9)
            self.velocity = v if self.age <= 1 else 0.5 * self.velocity + 0.5 * v
        self.centre, self.size, self.stamp = c, float(size), int(stamp)

    def predict_centre(self, stamp: int, damping: float = 12.0) -> np.ndarray:
        """Centre (2,) px at ``stamp`` by exponentially damped constant velocity."""
        dt = max(0.0, (stamp - self.stamp) * 1e-9)
        return self.centre + self.velocity * ((1.0 - np.exp(-damping * dt)) / damping)


@dataclass
class Candidate:
    """An ROI to run the landmark model on: a track's ROI (``track`` set) or a palm detection's."""

    rect: RotatedRect
    track: Track | None = None
    det_score: float = 0.0
    from_tiles: bool = False


@dataclass
class HandResult:
    """The landmark model's output on a candidate ROI, with its unclipped keypoint box (4,) xyxy px."""

    cand: Candidate
    out: LandmarkOutput
    box: np.ndarray = field(default_factory=lambda: np.zeros(4))  # unclipped keypoint box

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))


# --------------------------------------------------------------------------------------------------
# geometry and evidence of association (pure)


def other_side(tr: Track, r: HandResult) -> bool:
    """The landmark model is confident (> 0.9) that ``r`` is the other side than ``tr``'s clear
    evidence (mean log-odds beyond +-1) says."""
    mean = tr.evidence.mean_log_odds
    return abs(mean) > 1.0 and abs(logit(r.out.right_prob)) > logit(0.9) and (mean > 0) != (r.out.right_prob > 0.5)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes (4,) px."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def is_duplicate(r: HandResult, kept: list[HandResult], duplicate_distance: float) -> bool:
    """Same hand as a kept one: median keypoint distance below duplicate_distance x hand size."""
    for k in kept:
        d = float(np.median(np.linalg.norm(r.out.landmarks - k.out.landmarks, axis=1)))
        if d < duplicate_distance * min(r.size, k.size):
            return True
    return False


def is_inside(r: HandResult, kept: list[HandResult], max_inside: float) -> bool:
    """A new hand whose keypoint box lies mostly (more than ``max_inside``) inside a kept hand's box:
    typically a "hand" hallucinated on the fingers of a hand already found. Tracked hands are not
    subject to this (they were separate when found; hands that then interact stay tracked)."""
    area = max((r.box[2] - r.box[0]) * (r.box[3] - r.box[1]), 1e-6)
    for k in kept:
        ix = max(0.0, min(r.box[2], k.box[2]) - max(r.box[0], k.box[0]))
        iy = max(0.0, min(r.box[3], k.box[3]) - max(r.box[1], k.box[1]))
        if ix * iy / area > max_inside:
            return True
    return False


def prediction_error(tr: Track, r: HandResult, stamp: int) -> float:
    """Distance of ``r``'s keypoint centre from ``tr``'s predicted centre, in hand sizes."""
    if tr.centre is None:
        return 0.0
    c = r.out.landmarks.mean(axis=0)
    return float(np.linalg.norm(c - tr.predict_centre(stamp))) / max(tr.size, 1.0)


def revive_cost(tr: Track, r: HandResult, stamp: int, revive_distance: float) -> float | None:
    """Distance of hand ``r`` from lost track ``tr``'s predicted centre relative to the gate
    (< 1), or None when ``r`` cannot be that hand (too far, size, confidently the other side).
    The gate is ``revive_distance`` hand sizes plus half the predicted travel."""
    if tr.centre is None or not 0.5 <= r.size / max(tr.size, 1.0) <= 2.0 or other_side(tr, r):
        return None
    pred = tr.predict_centre(stamp)
    travel = float(np.linalg.norm(pred - tr.centre))
    c = r.out.landmarks.mean(axis=0)
    d = float(np.linalg.norm(c - pred)) / (revive_distance * max(tr.size, r.size) + 0.5 * travel)
    return d if d < 1.0 else None


def overlap_weights(results: list[HandResult]) -> list[float]:
    """Evidence weight per hand: presence x (1 - largest keypoint-box IoU with another hand)."""
    ws = []
    for i, r in enumerate(results):
        ov = max((box_iou(r.box, o.box) for j, o in enumerate(results) if j != i), default=0.0)
        ws.append(max(r.out.presence * (1.0 - ov), 1e-3))
    return ws


# --------------------------------------------------------------------------------------------------
# lost-track memory and re-identification


def forget_lost(lost: list[Track], stamp: int, memory_s: float) -> list[Track]:
    """The lost tracks last seen within ``memory_s`` seconds before ``stamp`` (ns), in order."""
    return [tr for tr in lost if stamp - tr.stamp <= memory_s * 1e9]


def swap_drifted(results: list[HandResult], lost: list[Track], stamp: int, revive_distance: float) -> bool:
    """A tracked hand that the landmark model confidently calls the other side, lying where a
    recently lost track of that side was heading, is that lost hand: its track drifted onto it
    (hands that touched and separated). The lost track takes the hand back (``r.cand.track`` is
    replaced and the track is removed from ``lost``, in place); the drifted track is lost in turn.
    Returns True when a hand changed track (the caller should run the detector to find the drifted
    track's hand)."""
    swapped = False
    for r in results:
        tr = r.cand.track
        if tr is None or not lost or not other_side(tr, r):
            continue
        costs = [(revive_cost(old, r, stamp, revive_distance), j) for j, old in enumerate(lost)]
        costs = [(c, j) for c, j in costs if c is not None]
        if costs:
            _, j = min(costs)
            r.cand.track = lost.pop(j)
            swapped = True
    return swapped


def revive(
    new: list[HandResult], lost: list[Track], stamp: int, revive_distance: float, memory_s: float
) -> list[Track]:
    """Give new hands the lost track whose predicted centre they are near (closest pairs first; sets
    ``r.cand.track``). Returns the lost tracks nobody took back (``lost`` itself when nothing can be
    revived: no new hand, no lost track, or ``memory_s <= 0``)."""
    if not new or not lost or memory_s <= 0:
        return lost
    pairs = []
    for i, r in enumerate(new):
        for j, tr in enumerate(lost):
            d = revive_cost(tr, r, stamp, revive_distance)
            if d is not None:
                pairs.append((d, i, j))
    used_new: set[int] = set()
    used_lost: set[int] = set()
    for _, i, j in sorted(pairs):
        if i in used_new or j in used_lost:
            continue
        used_new.add(i)
        used_lost.add(j)
        new[i].cand.track = lost[j]
    return [tr for j, tr in enumerate(lost) if j not in used_lost]


def update_tracks(
    results: list[HandResult],
    tracks: list[Track],
    lost: list[Track],
    stamp: int,
    next_id: int,
    handedness_decay: float,
    memory_s: float,
    revive_distance: float,
) -> tuple[list[Track], list[Track], int]:
    """End of a tracking frame: which track each of this frame's hands belongs to.

    Survivors keep their track; tracks of the previous frame that were not continued join ``lost``
    (remembered ``memory_s``); a new hand near a lost track's prediction takes that track back (id
    and handedness evidence); other new hands get a fresh id (``next_id`` on, never reused). Every
    hand's track then accumulates this frame's handedness evidence (weighted by
    :func:`overlap_weights`), gets the ROI for the next frame from its keypoints and records its
    motion; a track whose ROI is invalid ends. Sets ``r.cand.track`` for every result.

    Returns (tracks for the next frame, lost tracks, next free id).
    """
    survivors = {id(r.cand.track) for r in results if r.cand.track is not None}
    lost = lost + [tr for tr in tracks if id(tr) not in survivors and tr.centre is not None]
    lost = forget_lost(lost, stamp, memory_s)
    lost = revive([r for r in results if r.cand.track is None], lost, stamp, revive_distance, memory_s)
    kept_tracks = []
    for r, wgt in zip(results, overlap_weights(results)):
        tr = r.cand.track
        if tr is None:
            tr = Track(next_id, r.cand.rect, HandednessEvidence(handedness_decay))
            next_id += 1
            r.cand.track = tr
        tr.evidence.update(r.out.right_prob, wgt)
        tr.rect = rect_from_landmarks(r.out.landmarks)
        tr.age += 1
        tr.observe(r.out.landmarks, r.size, stamp)
        if tr.rect.is_valid():
            kept_tracks.append(tr)
    return kept_tracks, lost, next_id
