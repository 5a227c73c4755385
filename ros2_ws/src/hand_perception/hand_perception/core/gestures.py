"""Rule-based static gesture classification from the 21 metric 3D joints of one hand.

Features (all invariant to the hand's position, orientation and size; the rules are mirror
symmetric, so left and right hands are treated alike):

* hand size ``s``: median distance from the wrist to the four finger MCPs;
* per finger (index..pinky) the **curl**: angle between the wrist->MCP and the MCP->tip
  directions (0 straight, ~150 deg in a fist; long baselines keep it robust to joint noise, unlike
  a sum of per-joint bends), and the **reach**: |tip - wrist| / |MCP - wrist|. Extension probability
  ``e = sigmoid(0.5 * ((curl_center - curl) / curl_scale + (reach - reach_center) / reach_scale))``;
* thumb: curl = angle between CMC->MCP and MCP->tip; **radial reach** ``r`` = offset of the thumb tip from the
  index MCP along the palm's radial axis (pinky MCP -> index MCP), divided by ``s`` (an extended
  thumb sticks out past the index side; a tucked one lies over the fingers or the palm).
  ``e_thumb = sqrt(sigmoid((r - r_center) / r_scale) * sigmoid((curl_center - curl) / curl_scale))``;
* touch: thumb tip to index tip distance / ``s`` -> ``sigmoid((touch_center - d) / touch_scale)``;
* up / down: cosine between the thumb direction (tip - thumb MCP) and "up". **Assumption**: with
  no gravity vector given, up is the camera's image up, i.e. ``-y`` of the optical frame
  (x right, y down, z forward), so a thumbs-up is recognised when the camera is held upright.
  Pass ``up`` (e.g. gravity from an IMU, negated, in the camera frame) when the camera is tilted.

Each label is one or more templates: required feature states with weights (``1`` feature true,
``0`` false; fingers not listed are free). A template's score is the weighted geometric mean of
its matched feature probabilities (so one clearly violated requirement sinks it), a label's score
the best of its templates. Probabilities are a softmax over label scores divided by
``temperature`` (default 0.08: a score lead of 0.2 is a ~12x probability ratio) together with the
fixed score ``none_score`` (0.7) of the label ``none``, which therefore wins when no template
matches well. Hypotheses carry only ``label`` and ``probability`` (verb and noun stay empty).

Labels: open_palm, fist, pinch, point, thumbs_up, thumbs_down, victory, ok, call, rock, three,
four, none. ``three`` accepts index+middle+ring or thumb+index+middle; ``point`` and ``rock``
ignore the thumb.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .types import SIDES, ActionHypothesis

__all__ = [
    "GESTURE_LABELS",
    "GestureConfig",
    "HandFeatures",
    "hand_features",
    "gesture_scores",
    "gesture_probabilities",
    "classify_gesture",
]

GESTURE_LABELS: tuple[str, ...] = (
    "open_palm", "fist", "pinch", "point", "thumbs_up", "thumbs_down",
    "victory", "ok", "call", "rock", "three", "four", "none",
)

_FINGERS = ("index", "middle", "ring", "pinky")
_FINGER_IDX = {"index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}

# feature -> (required state, weight); "thumb", "index", ... are extension; "touch", "up", "down"
_T = dict[str, tuple[int, float]]
TEMPLATES: dict[str, list[_T]] = {
    "open_palm": [{"thumb": (1, 1), "index": (1, 1), "middle": (1, 1), "ring": (1, 1), "pinky": (1, 1), "touch": (0, 0.5)}],
    "fist": [{"thumb": (0, 1), "index": (0, 1), "middle": (0, 1), "ring": (0, 1), "pinky": (0, 1), "touch": (0, 0.5)}],
    "pinch": [{"touch": (1, 2), "middle": (0, 0.5), "ring": (0, 0.5), "pinky": (0, 0.5)}],
    "point": [{"index": (1, 1), "middle": (0, 1), "ring": (0, 1), "pinky": (0, 1), "touch": (0, 1)}],
    "thumbs_up": [{"thumb": (1, 1), "index": (0, 1), "middle": (0, 1), "ring": (0, 1), "pinky": (0, 1), "up": (1, 2), "touch": (0, 1)}],
    "thumbs_down": [{"thumb": (1, 1), "index": (0, 1), "middle": (0, 1), "ring": (0, 1), "pinky": (0, 1), "down": (1, 2), "touch": (0, 1)}],
    "victory": [{"thumb": (0, 0.5), "index": (1, 1), "middle": (1, 1), "ring": (0, 1), "pinky": (0, 1), "touch": (0, 1)}],
    "ok": [{"touch": (1, 2), "middle": (1, 1), "ring": (1, 1), "pinky": (1, 1)}],
    "call": [{"thumb": (1, 1), "index": (0, 1), "middle": (0, 1), "ring": (0, 1), "pinky": (1, 1), "touch": (0, 1)}],
    "rock": [{"index": (1, 1), "middle": (0, 1), "ring": (0, 1), "pinky": (1, 1), "touch": (0, 1)}],
    "three": [
        {"thumb": (0, 0.5), "index": (1, 1), "middle": (1, 1), "ring": (1, 1), "pinky": (0, 1)},
        {"thumb": (1, 1), "index": (1, 1), "middle": (1, 1), "ring": (0, 1), "pinky": (0, 1)},
    ],
    "four": [{"thumb": (0, 1), "index": (1, 1), "middle": (1, 1), "ring": (1, 1), "pinky": (1, 1)}],
}


@dataclass(frozen=True)
class GestureConfig:
    """Thresholds (centre, scale of each sigmoid) and softmax settings; angles in degrees."""

    curl_center_deg: float = 75.0
    curl_scale_deg: float = 15.0
    reach_center: float = 1.45
    reach_scale: float = 0.12
    thumb_radial_center: float = 0.15
    thumb_radial_scale: float = 0.08
    thumb_curl_center_deg: float = 45.0
    thumb_curl_scale_deg: float = 12.0
    touch_center: float = 0.35
    touch_scale: float = 0.07
    up_center: float = 0.5
    up_scale: float = 0.12
    temperature: float = 0.08
    none_score: float = 0.7
    #: "up" in the camera optical frame (image up); replace by -gravity when it is known
    up: tuple[float, float, float] = (0.0, -1.0, 0.0)


@dataclass
class HandFeatures:
    """Per-hand features used by the rules (probabilities in [0, 1], angles in degrees)."""

    hand_size: float
    extension: dict[str, float] = field(default_factory=dict)  # thumb, index, middle, ring, pinky
    curl_deg: dict[str, float] = field(default_factory=dict)
    reach: dict[str, float] = field(default_factory=dict)
    thumb_radial: float = 0.0
    thumb_index_distance: float = 0.0  # relative to hand_size
    thumb_up_cos: float = 0.0
    touch: float = 0.0
    up: float = 0.0
    down: float = 0.0


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _bend_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between consecutive segment vectors (0 = straight continuation)."""
    c = float(np.clip(np.dot(_unit(a), _unit(b)), -1.0, 1.0))
    return math.degrees(math.acos(c))


def hand_features(joints: np.ndarray, config: GestureConfig | None = None) -> HandFeatures | None:
    """Features of one hand from its (21, 3) joints; ``None`` if non-finite or degenerate."""
    cfg = config or GestureConfig()
    j = np.asarray(joints, dtype=np.float64)
    if j.shape != (21, 3):
        raise ValueError(f"joints must be shaped (21, 3), got {j.shape}")
    if not np.all(np.isfinite(j)):
        return None
    wrist = j[0]
    s = float(np.median(np.linalg.norm(j[[5, 9, 13, 17]] - wrist, axis=-1)))
    if not s > 1e-6:
        return None
    f = HandFeatures(hand_size=s)
    for name in _FINGERS:
        m, p, d, t = (j[i] for i in _FINGER_IDX[name])
        curl = _bend_deg(m - wrist, t - m)
        reach = float(np.linalg.norm(t - wrist) / max(np.linalg.norm(m - wrist), 1e-12))
        logit = 0.5 * ((cfg.curl_center_deg - curl) / cfg.curl_scale_deg + (reach - cfg.reach_center) / cfg.reach_scale)
        f.curl_deg[name], f.reach[name], f.extension[name] = curl, reach, _sigmoid(logit)
    cmc, mcp, ip, tip = j[1], j[2], j[3], j[4]
    t_curl = _bend_deg(mcp - cmc, tip - mcp)
    radial_axis = _unit(j[5] - j[17])
    f.thumb_radial = float(np.dot(tip - j[5], radial_axis) / s)
    e_r = _sigmoid((f.thumb_radial - cfg.thumb_radial_center) / cfg.thumb_radial_scale)
    e_c = _sigmoid((cfg.thumb_curl_center_deg - t_curl) / cfg.thumb_curl_scale_deg)
    f.curl_deg["thumb"] = t_curl
    f.reach["thumb"] = f.thumb_radial
    f.extension["thumb"] = math.sqrt(e_r * e_c)
    f.thumb_index_distance = float(np.linalg.norm(tip - j[8]) / s)
    f.touch = _sigmoid((cfg.touch_center - f.thumb_index_distance) / cfg.touch_scale)
    up = _unit(np.asarray(cfg.up, dtype=np.float64))
    f.thumb_up_cos = float(np.dot(_unit(tip - mcp), up))
    f.up = _sigmoid((f.thumb_up_cos - cfg.up_center) / cfg.up_scale)
    f.down = _sigmoid((-f.thumb_up_cos - cfg.up_center) / cfg.up_scale)
    return f


def _feature_prob(f: HandFeatures, name: str) -> float:
    if name in f.extension:
        return f.extension[name]
    return float(getattr(f, name))


def gesture_scores(features: HandFeatures) -> dict[str, float]:
    """Score in [0, 1] of every label except ``none`` (best template, weighted geometric mean)."""
    scores: dict[str, float] = {}
    for label, templates in TEMPLATES.items():
        best = 0.0
        for tpl in templates:
            num = den = 0.0
            for feat, (state, w) in tpl.items():
                p = _feature_prob(features, feat)
                m = p if state else 1.0 - p
                num += w * math.log(min(max(m, 1e-3), 1.0))
                den += w
            best = max(best, math.exp(num / den))
        scores[label] = best
    return scores


def gesture_probabilities(features: HandFeatures | None, config: GestureConfig | None = None) -> dict[str, float]:
    """Softmax over label scores and ``none`` (``{"none": 1, others 0}`` without features)."""
    cfg = config or GestureConfig()
    if features is None:
        return {label: float(label == "none") for label in GESTURE_LABELS}
    scores = gesture_scores(features)
    scores["none"] = cfg.none_score
    labels = list(GESTURE_LABELS)
    z = np.array([scores[k] for k in labels]) / cfg.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    return {k: float(v) for k, v in zip(labels, p)}


def classify_gesture(
    joints: np.ndarray,
    side: str,
    config: GestureConfig | None = None,
    up: np.ndarray | None = None,
) -> list[ActionHypothesis]:
    """Gesture hypotheses for one hand, all 13 labels sorted by probability (highest first).

    ``joints`` (21, 3) metres in the camera optical frame (our joint order); ``side`` "left" or
    "right" (validated; the rules are mirror symmetric); ``up`` optionally overrides
    ``config.up``. Raises ``ValueError`` for a wrong shape or side; NaN/inf or degenerate joints
    give ``none`` with probability 1.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    cfg = config or GestureConfig()
    if up is not None:
        u = np.asarray(up, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(u)) and np.linalg.norm(u) > 1e-9):
            raise ValueError("up must be a finite non-zero 3-vector")
        cfg = dataclasses.replace(cfg, up=tuple(float(x) for x in u))
    probs = gesture_probabilities(hand_features(joints, cfg), cfg)
    hyps = [ActionHypothesis(label=k, probability=v) for k, v in probs.items()]
    hyps.sort(key=lambda h: (-h.probability, GESTURE_LABELS.index(h.label)))
    return hyps
