"""Hand detection, 21 keypoints (2D px + metric 3D) and tracking from MediaPipe's hand models.

``MediaPipeHandTracker`` runs the palm detector and the hand landmark model that ship inside the
``mediapipe==0.10.21`` wheel (``mediapipe_models``) with our own re-implementation of MediaPipe's
pre/post-processing (``palm_anchors``: SSD anchors, decoding, weighted NMS; ``roi``: rotated square
ROIs with MediaPipe's scale/shift, affine crops, projection back to the image). Owning that code lets
us own tracking, the small-hand pass and handedness. ``MediaPipeHandsBaseline`` (``mediapipe_baseline``,
re-exported here) runs ``mediapipe.solutions.hands.Hands`` unchanged, for the benchmark and as the
accuracy reference. This module runs the models and composes the tracker; which hand found in a
frame is which track (ids, lost-track memory, re-identification, duplicates) is ``hand_tracking``.

Handedness convention
    Our images are NOT mirrored: a camera looks at the person, and ``side`` names the person's own
    hand ("right" = the person's right hand, which usually appears on the image's left when they
    face the camera). MediaPipe's handedness classifier assumes a mirrored selfie image, so its
    label is swapped: MediaPipe "Left" -> our ``"right"``, MediaPipe "Right" -> our ``"left"``
    (checked on FreiHAND, RHD and CMU Panoptic images with ground-truth sides). Per track the
    classifier's evidence is accumulated over time and two hands of one person never get the same
    side (see ``handedness``).

Tracking (as MediaPipe's hand tracking graph, plus stable ids)
    Each frame the landmark model runs on the ROI computed from the previous frame's landmarks
    (scale 2.0, shift -0.1); a hand whose presence score falls below ``min_presence`` ends its track,
    and two tracks that converge on the same hand (median keypoint distance below
    ``duplicate_distance`` x hand size) are merged into the older one. Then the palm detector runs
    only if fewer than ``max_hands`` hands are still tracked (at most every ``redetect_interval``
    frames, but at once in a frame where a track was lost), or every ``detect_every_n`` frames if that
    is > 0. Palm ROIs (scale 2.6, shift -0.5) that overlap a tracked ROI (IoU > ``association_iou``,
    rotation ignored, as MediaPipe) are dropped; the rest are verified by the landmark model in score
    order (up to ``extra_candidates`` more than needed), and a new hand that duplicates or lies inside
    a hand already found is rejected. Track ids are never reused by one tracker, not even after
    ``reset()`` (so a consumer keyed by id never mixes an old and a new hand). ``still=True`` treats
    the image on its own: the tracking state is neither used nor changed, and ``track_id`` is then
    the hand's index in the returned list. The track bookkeeping is in ``hand_tracking``.

Small hands
    The full-image detector letterboxes the frame into 192x192, so at 640x480 it finds hands down to
    about 80-100 px. With ``small_hand_pass`` the detector also runs on an overlapping grid of square
    tiles (``small_hand_grid``, default 2x2 with 25 % overlap: each tile resampled to 192x192 sees
    the hands 1.75x larger than the full-image pass at 640x480; a 3x3 grid, 2.5x) whenever the
    full-image pass found fewer hands than it needed. In still mode every tile runs; while tracking,
    ``small_hand_tiles_per_frame`` tiles run per detector frame in rotation, which bounds the
    per-frame cost. ``stats`` and ``last_timing_ms`` give call counts and per-stage times.

Cost (2-core CPU, 640x480, ai-edge-litert 2.3.0 with XNNPACK, 2 threads; measured with other jobs on
the machine, so +-20 %)
    palm detector ~8 ms per call (crop, inference, decoding, NMS); landmark model ~7 ms per hand;
    two tracked hands ~14 ms per frame (MediaPipe's own solution ~23 ms on the same frames); the 2x2
    small-hand pass 4 detector calls, ~30 ms (3x3: 9 calls, ~70 ms).

Input
    ``image_rgb``: ``numpy.ndarray`` (H, W, 3) ``uint8`` RGB. Grayscale (H, W) or (H, W, 1) is accepted
    and replicated to three channels (MediaPipe's models are RGB-only; accuracy on gray images is
    lower). Non-contiguous arrays (crops, flips, strided views) are copied to a contiguous array.
    Anything else raises ``TypeError`` (not an array, wrong dtype) or ``ValueError`` (wrong shape or
    channel count, empty image, larger than ``max_image_side`` / ``max_image_pixels``).
    ``stamp_ns`` must be an int; a stamp earlier than the previous one resets the tracks (warning).
    (Checks: ``image_input.prepare_image`` / ``check_stamp``.)

Outputs (``Keypoints2D``): keypoints (21, 2) px in the full image (continuous coordinates, origin at
the image's top-left edge, as MediaPipe's normalised landmarks times the size); confidence (21,) =
the presence score, halved for joints projected outside the image; side/side_score in our
convention; score = presence; bbox = keypoint box clipped to the image (xyxy px); landmarks_3d =
MediaPipe's metric world landmarks (21, 3) in metres, rotated by the ROI rotation into camera axes
(x right, y down, z forward), origin near the hand's centre as MediaPipe gives them; track_id.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from hand_perception.core.types import Keypoints2D

from .hand_tracking import (
    Candidate,
    HandResult,
    Track,
    box_iou,
    forget_lost,
    is_duplicate,
    is_inside,
    other_side,
    overlap_weights,
    prediction_error,
    swap_drifted,
    update_tracks,
)
from .handedness import HandednessEvidence, assign_sides, logit  # noqa: F401 - logit: old import path
from .image_input import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_IMAGE_SIDE, check_stamp, prepare_image
from .mediapipe_baseline import MediaPipeHandsBaseline  # noqa: F401 - re-exported
from .mediapipe_models import (  # noqa: F401 - re-exported (old import paths)
    MEDIAPIPE_REQUIREMENT,
    HandLandmarkModel,
    LandmarkOutput,
    ModelFileError,
    PalmDetector,
    mediapipe_model_path,
    LANDMARK_MODEL,
    PALM_MODEL,
)
from .roi import RotatedRect, rect_from_landmarks, rect_from_palm, rect_iou

# private names defined here before the track bookkeeping and input checks moved out (old paths)
_Track, _Candidate, _Result = Track, Candidate, HandResult
_other_side, _box_iou, _check_stamp = other_side, box_iou, check_stamp

__all__ = [
    "MediaPipeHandTracker",
    "MediaPipeHandsBaseline",
    "ModelFileError",
    "prepare_image",
    "tile_regions",
]

NUM_JOINTS = 21


# --------------------------------------------------------------------------------------------------
# small-hand tiles


def tile_regions(
    width: int, height: int, rows: int = 2, cols: int = 2, overlap: float = 0.25
) -> list[tuple[float, float, float]]:
    """Square tiles ``(x0, y0, side)`` of an overlapping rows x cols grid covering the image.

    Tiles are as large as needed for ``cols`` tiles overlapping by ``overlap`` (fraction of the side)
    to span the width, and ``rows`` tiles to span the height; they are evenly spaced, and a tile
    larger than the image along an axis is centred on it (the detector pads with zeros).
    """
    if rows < 1 or cols < 1 or not 0.0 <= overlap < 1.0:
        raise ValueError("tile grid needs rows, cols >= 1 and 0 <= overlap < 1")
    side = max(width / (cols - (cols - 1) * overlap), height / (rows - (rows - 1) * overlap))

    def starts(extent: float, n: int) -> list[float]:
        if n == 1 or side >= extent:
            return [(extent - side) / 2.0] * (1 if side >= extent else n)
        return [i * (extent - side) / (n - 1) for i in range(n)]

    return [(x, y, side) for y in starts(height, rows) for x in starts(width, cols)]


# --------------------------------------------------------------------------------------------------
# tracker


class MediaPipeHandTracker:
    """Palm detection + hand landmarks + tracking on RGB frames (see the module docstring).

    Parameters (defaults in brackets):
        max_hands [2]: most hands returned per frame.
        min_detection_score [0.5]: palm detector score threshold (MediaPipe's min_detection_confidence).
        min_presence [0.5]: hand presence threshold of the landmark model (min_tracking_confidence).
        small_hand_pass [True]: run the tiled second detector pass when the first finds too few hands.
        small_hand_grid [(2, 2)]: rows, cols of the tile grid; small_hand_overlap [0.25].
        small_hand_tiles_per_frame [1]: tiles per detector frame while tracking (0 = all).
        redetect_interval [2]: while some but fewer than max_hands hands are tracked, run the detector
            every this many frames (1 = every frame, as MediaPipe; 2 halves the detector cost when one
            hand is in view, and a new hand is found at most one frame later).
        detect_every_n [0]: also run the detector every n frames when all hands are tracked (0 = never);
            a new hand whose presence beats the weakest tracked hand's by ``replace_margin`` [0.1]
            replaces it (recovery from a track that drifted off the hand).
        association_iou [0.5]: a palm ROI overlapping a tracked ROI by more than this is dropped.
        duplicate_distance [0.2]: two hands whose median keypoint distance is below this fraction of
            the hand size are the same hand.
        extra_candidates [1]: palm candidates tried beyond the number of hands still needed, when the
            landmark model rejects some (each try costs one landmark-model call).
        new_hand_max_inside [0.7]: a newly detected hand whose keypoint box lies more than this fraction
            inside the box of a hand already found is rejected (false hands on curled fingers).
        reject_memory [5]: while tracking, a palm ROI that the landmark model rejected is not retried
            for this many frames (a static false palm would otherwise cost a landmark call per frame).
        handedness_decay [0.9], exclusive_sides [True], same_person_max_distance [10.0]: see
            ``handedness``.
        lost_track_memory_s [1.0]: a lost track is remembered this long (stream time); a new hand
            found near its prediction takes its id and handedness evidence back (0 = off). The
            estimator uses at least ``temporal.max_gap_s``. (A hand hidden behind the other one is
            often not re-detected for ~0.3 s: MediaPipe drops palm ROIs that overlap a tracked hand.)
        revive_distance [0.75]: "near": the new hand's keypoint centre within this many hand sizes
            (plus half the predicted travel) of the lost track's predicted centre, its size within a
            factor 2 of the lost hand's, and its handedness not confidently the other side's
            (per-frame probability > 0.9 against a track whose evidence is clear).
        num_threads [2]: CPU threads per model for LiteRT and ONNX Runtime (the torch backend runs one
            thread unless asked with 'torch+threads=N': its spinning workers slow it down ~10x on a busy CPU).
        palm_model_path, landmark_model_path [None]: override the models from the mediapipe wheel.
        max_image_side [8192], max_image_pixels [40e6]: larger frames are rejected.
        backend [None]: where the two networks run: None/'tflite' = LiteRT on the wheel's .tflite
            files; 'torch', 'onnxruntime[:cuda]', 'tensorrt' = our torch port of the same networks
            (``hand_models.inference``).
    """

    def __init__(
        self,
        max_hands: int = 2,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
        small_hand_pass: bool = True,
        small_hand_grid: tuple[int, int] = (2, 2),
        small_hand_overlap: float = 0.25,
        small_hand_tiles_per_frame: int = 1,
        redetect_interval: int = 2,
        detect_every_n: int = 0,
        association_iou: float = 0.5,
        duplicate_distance: float = 0.2,
        extra_candidates: int = 1,
        new_hand_max_inside: float = 0.7,
        replace_margin: float = 0.1,
        reject_memory: int = 5,
        handedness_decay: float = 0.9,
        exclusive_sides: bool = True,
        same_person_max_distance: float = 10.0,
        lost_track_memory_s: float = 1.0,
        revive_distance: float = 0.75,
        num_threads: int = 2,
        palm_model_path: str | os.PathLike | None = None,
        landmark_model_path: str | os.PathLike | None = None,
        max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        backend: str | None = None,
    ) -> None:
        if max_hands < 1:
            raise ValueError("max_hands must be >= 1")
        for name, v in (("min_detection_score", min_detection_score), ("min_presence", min_presence)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if redetect_interval < 1 or detect_every_n < 0 or small_hand_tiles_per_frame < 0:
            raise ValueError("redetect_interval >= 1, detect_every_n >= 0, small_hand_tiles_per_frame >= 0")
        if not 0.0 < handedness_decay <= 1.0:
            raise ValueError("handedness_decay must be in (0, 1]")
        if not (lost_track_memory_s >= 0 and revive_distance >= 0):
            raise ValueError("lost_track_memory_s and revive_distance must be >= 0")
        tile_regions(640, 480, *small_hand_grid, small_hand_overlap)  # validates the grid
        self.max_hands = int(max_hands)
        self.min_detection_score = float(min_detection_score)
        self.min_presence = float(min_presence)
        self.small_hand_pass = bool(small_hand_pass)
        self.small_hand_grid = (int(small_hand_grid[0]), int(small_hand_grid[1]))
        self.small_hand_overlap = float(small_hand_overlap)
        self.small_hand_tiles_per_frame = int(small_hand_tiles_per_frame)
        self.redetect_interval = int(redetect_interval)
        self.detect_every_n = int(detect_every_n)
        self.association_iou = float(association_iou)
        self.duplicate_distance = float(duplicate_distance)
        self.extra_candidates = max(0, int(extra_candidates))
        self.new_hand_max_inside = float(new_hand_max_inside)
        self.replace_margin = float(replace_margin)
        self.reject_memory = max(0, int(reject_memory))
        self.handedness_decay = float(handedness_decay)
        self.exclusive_sides = bool(exclusive_sides)
        self.same_person_max_distance = float(same_person_max_distance)
        self.lost_track_memory_s = float(lost_track_memory_s)
        self.revive_distance = float(revive_distance)
        self.max_image_side = int(max_image_side)
        self.max_image_pixels = int(max_image_pixels)

        self.backend = backend
        self.palm = PalmDetector(palm_model_path, min_score=min_detection_score, num_threads=num_threads,
                                 backend=backend)
        self.landmarker = HandLandmarkModel(landmark_model_path, num_threads=num_threads, backend=backend)

        #: counters since construction (``reset`` keeps them): frames, detector_runs (full-image
        #: passes), small_hand_runs (tile passes), palm_calls / landmark_calls (model invocations).
        self.stats: dict[str, int] = {}
        #: per-stage wall time of the last ``process`` call, ms.
        self.last_timing_ms: dict[str, float] = {}
        self._reset_stats()
        self.reset()

    # ---- state

    def reset(self) -> None:
        """Forget all tracks and the last stamp (new hands get ids never used before)."""
        self._tracks: list[Track] = []
        self._lost: list[Track] = []  # tracks lost within lost_track_memory_s, newest last
        self._next_id = getattr(self, "_next_id", 0)
        self._frame = 0
        self._last_detect_frame = -(10**9)
        self._force_detect = True
        self._last_stamp: int | None = None
        self._tile_cursor = 0
        self._rejected: list[tuple[RotatedRect, int]] = []  # (palm ROI, frame) the landmark model rejected
        self._rejected_now: list[RotatedRect] = []

    def _reset_stats(self) -> None:
        self.stats = {"frames": 0, "detector_runs": 0, "small_hand_runs": 0, "palm_calls": 0, "landmark_calls": 0}

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    # ---- public API

    def process(self, image_rgb: np.ndarray, stamp_ns: int, still: bool = False) -> list[Keypoints2D]:
        """Hands in one RGB frame (see the module docstring for conventions and errors)."""
        t0 = time.perf_counter()
        image = prepare_image(image_rgb, self.max_image_side, self.max_image_pixels)
        stamp = check_stamp(stamp_ns)
        self.last_timing_ms = {"detect": 0.0, "small_hands": 0.0, "landmarks": 0.0}
        palm0, lm0 = self.palm.calls, self.landmarker.calls
        self._rejected_now = []
        if still:
            hands = self._process_still(image)
        else:
            hands = self._process_tracking(image, stamp)
        self.stats["frames"] += 1
        self.stats["palm_calls"] += self.palm.calls - palm0
        self.stats["landmark_calls"] += self.landmarker.calls - lm0
        self.last_timing_ms["total"] = (time.perf_counter() - t0) * 1e3
        return hands

    __call__ = process

    # ---- stages

    def _tiles(self, width: int, height: int) -> list[tuple[float, float, float]]:
        return tile_regions(width, height, *self.small_hand_grid, self.small_hand_overlap)

    def _landmark(self, image: np.ndarray, cand: Candidate) -> HandResult | None:
        """Landmark model on one ROI; None when the presence score is below ``min_presence``."""
        t = time.perf_counter()
        out = self.landmarker.run(image, cand.rect)
        self.last_timing_ms["landmarks"] += (time.perf_counter() - t) * 1e3
        if out.presence < self.min_presence or not np.all(np.isfinite(out.landmarks)):
            return None
        lo, hi = out.landmarks.min(0), out.landmarks.max(0)
        return HandResult(cand, out, np.array([lo[0], lo[1], hi[0], hi[1]]))

    def _candidates(self, dets, taken: list[RotatedRect], from_tiles: bool) -> list[Candidate]:
        """Palm detections -> hand ROIs, minus those overlapping an ROI already taken (tracked or tried)."""
        out = []
        for d in dets:
            rect = rect_from_palm(d.box, d.keypoints)
            if rect.is_valid() and not any(rect_iou(rect, r) > self.association_iou for r in taken):
                out.append(Candidate(rect, None, d.score, from_tiles))
        return out

    def _verify(
        self, image: np.ndarray, cands: list[Candidate], need: int, kept: list[HandResult], taken: list[RotatedRect]
    ) -> list[HandResult]:
        """Landmarks on candidates in score order until ``need`` new hands are found (at most
        ``need + extra_candidates`` tries; tried ROIs are added to ``taken``); duplicates of hands
        already kept are skipped."""
        found: list[HandResult] = []
        for c in cands[: need + self.extra_candidates]:
            if len(found) >= need:
                break
            taken.append(c.rect)
            r = self._landmark(image, c)
            if (r is not None and not is_duplicate(r, kept + found, self.duplicate_distance)
                    and not is_inside(r, kept + found, self.new_hand_max_inside)):
                found.append(r)
            else:
                self._rejected_now.append(c.rect)
        return found

    def _find_new_hands(
        self,
        image: np.ndarray,
        taken: list[RotatedRect],
        kept: list[HandResult],
        need: int,
        tiles: list[tuple[float, float, float]],
    ) -> list[HandResult]:
        """Detector on the full image, then (if it found fewer than ``need`` hands) on the tiles."""
        taken = list(taken)
        t = time.perf_counter()
        dets = self.palm.detect(image)
        self.stats["detector_runs"] += 1
        self.last_timing_ms["detect"] += (time.perf_counter() - t) * 1e3
        found = self._verify(image, self._candidates(dets, taken, False), need, kept, taken)
        if tiles and len(found) < need:
            t = time.perf_counter()
            dets = self.palm.detect(image, tiles)
            self.stats["small_hand_runs"] += 1
            self.last_timing_ms["small_hands"] += (time.perf_counter() - t) * 1e3
            found += self._verify(image, self._candidates(dets, taken, True), need - len(found), kept + found, taken)
        return found

    def _to_keypoints(
        self, r: HandResult, side: str, side_score: float, track_id: int, width: int, height: int
    ) -> Keypoints2D:
        kp = r.out.landmarks.astype(np.float64)
        inside = (kp[:, 0] >= 0) & (kp[:, 0] <= width) & (kp[:, 1] >= 0) & (kp[:, 1] <= height)
        conf = np.where(inside, 1.0, 0.5) * r.out.presence
        bbox = np.clip(r.box, 0, [width, height, width, height]).astype(np.float64)
        return Keypoints2D(
            keypoints=kp,
            confidence=conf.astype(np.float64),
            side=side,  # type: ignore[arg-type]
            side_score=float(side_score),
            score=float(r.out.presence),
            bbox=bbox,
            landmarks_3d=r.out.world.astype(np.float64),
            track_id=int(track_id),
        )

    def _sides(self, results: list[HandResult], evidences: list[HandednessEvidence]) -> list[tuple[str, float]]:
        if not results:
            return []
        return assign_sides(
            [e.log_odds for e in evidences],
            [e.mean_log_odds for e in evidences],
            np.array([r.out.landmarks[0] for r in results]),
            np.array([r.size for r in results]),
            exclusive=self.exclusive_sides,
            same_person_max_distance=self.same_person_max_distance,
        )

    def _process_still(self, image: np.ndarray) -> list[Keypoints2D]:
        h, w = image.shape[:2]
        tiles = self._tiles(w, h) if self.small_hand_pass else []
        results = self._find_new_hands(image, [], [], self.max_hands, tiles)
        evidences = []
        for r, wgt in zip(results, overlap_weights(results)):
            ev = HandednessEvidence(self.handedness_decay)
            ev.update(r.out.right_prob, wgt)
            evidences.append(ev)
        sides = self._sides(results, evidences)
        return [self._to_keypoints(r, s, p, i, w, h) for i, (r, (s, p)) in enumerate(zip(results, sides))]

    def _process_tracking(self, image: np.ndarray, stamp: int) -> list[Keypoints2D]:
        h, w = image.shape[:2]
        if self._last_stamp is not None and stamp < self._last_stamp:
            warnings.warn(
                f"stamp went backwards ({stamp} < {self._last_stamp} ns): hand tracks reset",
                RuntimeWarning,
                stacklevel=3,
            )
            self.reset()
        self._last_stamp = stamp
        self._frame += 1

        # 1. tracked hands: landmarks on the ROIs from the previous frame. When two tracks converge on
        # one hand (hands that touch or cross), the hand stays with the track whose handedness and
        # prediction it matches best (then the older one): the other track drifted onto it
        n_prev = len(self._tracks)
        tracked: list[tuple[float, int, HandResult]] = []
        for tr in self._tracks:
            r = self._landmark(image, Candidate(tr.rect, tr, 1.0))
            if r is not None:
                cost = prediction_error(tr, r, stamp) + (1.0 if other_side(tr, r) else 0.0)
                tracked.append((cost, -tr.age, r))
        results: list[HandResult] = []
        for _, _, r in sorted(tracked, key=lambda x: (x[0], x[1])):
            if not is_duplicate(r, results, self.duplicate_distance):
                results.append(r)
        results = results[: self.max_hands]
        if len(results) < n_prev:
            self._force_detect = True  # a track was lost: look for hands now
        self._lost = forget_lost(self._lost, stamp, self.lost_track_memory_s)
        if swap_drifted(results, self._lost, stamp, self.revive_distance):
            self._force_detect = True  # the drifted track's hand is to be found again

        # 2. detector when hands are missing (MediaPipe), on schedule, or every detect_every_n frames
        n = len(results)
        since = self._frame - self._last_detect_frame
        run_det = n < self.max_hands and (n == 0 or self._force_detect or since >= self.redetect_interval)
        if self.detect_every_n > 0 and since >= self.detect_every_n:
            run_det = True
        if run_det:
            self._last_detect_frame = self._frame
            self._force_detect = False
            tiles: list[tuple[float, float, float]] = []
            if self.small_hand_pass:
                all_tiles = self._tiles(w, h)
                k = min(self.small_hand_tiles_per_frame or len(all_tiles), len(all_tiles))
                tiles = [all_tiles[(self._tile_cursor + i) % len(all_tiles)] for i in range(k)]
            need = self.max_hands - n
            taken = [t.rect for t in self._tracks] + [rect_from_landmarks(r.out.landmarks) for r in results]
            # palm ROIs the landmark model rejected in the last reject_memory frames are not retried
            self._rejected = [(rc, f) for rc, f in self._rejected if self._frame - f <= self.reject_memory]
            taken += [rc for rc, _ in self._rejected]
            if need > 0:
                runs = self.stats["small_hand_runs"]
                results += self._find_new_hands(image, taken, results, need, tiles)
                if self.stats["small_hand_runs"] > runs:
                    self._tile_cursor += len(tiles)
            else:
                # periodic check with all hands tracked: a clearly better new hand replaces the weakest
                # tracked one (recovers from a track that drifted onto something that is not a hand)
                new = self._find_new_hands(image, taken, results, 1, [])
                weakest = min(range(n), key=lambda i: results[i].out.presence)
                if new and new[0].out.presence > results[weakest].out.presence + self.replace_margin:
                    results[weakest] = new[0]

        self._rejected += [(rc, self._frame) for rc in self._rejected_now]
        self._rejected_now = []

        # 3. tracks: survivors keep their id; a new hand near the prediction of a recently lost track
        # takes that track back (id and handedness evidence); other new hands get fresh ids (never
        # reused); the rest are lost (remembered for lost_track_memory_s)
        self._tracks, self._lost, self._next_id = update_tracks(
            results, self._tracks, self._lost, stamp, self._next_id,
            self.handedness_decay, self.lost_track_memory_s, self.revive_distance,
        )

        results.sort(key=lambda r: r.cand.track.track_id)  # stable output order: older tracks first
        sides = self._sides(results, [r.cand.track.evidence for r in results])
        return [self._to_keypoints(r, s, p, r.cand.track.track_id, w, h) for r, (s, p) in zip(results, sides)]
