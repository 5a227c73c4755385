"""Detection + 2D/3D keypoints + tracking from MediaPipe's hand models (ours) and MediaPipe alone.

Real-image tests read ``../shared/data/images`` (relative to the project root) and skip when it is
absent. Thresholds are the figures measured with mediapipe 0.10.21 / ai-edge-litert 2.3.0 on this
data, set a little below them (the comment at each assert gives the measurement and the margin).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from hand_perception.core import mediapipe_models
from hand_perception.core.handedness import HandednessEvidence, assign_sides
from hand_perception.core.mediapipe_hands import (
    MediaPipeHandsBaseline,
    MediaPipeHandTracker,
    prepare_image,
    tile_regions,
)
from hand_perception.core.mediapipe_models import (
    ModelFileError,
    PalmDetector,
    mediapipe_model_path,
)
from hand_perception.core.palm_anchors import (
    RawDetections,
    decode_detections,
    generate_anchors,
    weighted_nms,
)
from hand_perception.core.roi import (
    RotatedRect,
    crop_matrix,
    project_to_image,
    rect_from_landmarks,
    rect_from_palm,
    rotate_world,
)
from hand_perception.core.types import Keypoints2D

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA = PROJECT_ROOT.parent / "shared" / "data" / "images"
needs_data = pytest.mark.skipif(
    not (DATA / "uniform").is_dir(),
    reason=f"real hand images not found at {DATA} (the shared data folder is absent): real-image tests skipped",
)


# --------------------------------------------------------------------------------------------------
# helpers


def _load_items() -> list[tuple[str, str, np.ndarray, list[dict]]]:
    items = []
    for f in sorted((DATA / "uniform").glob("*.json")):
        d = json.loads(f.read_text())
        bgr = cv2.imread(str(DATA / d["image"]), cv2.IMREAD_COLOR)
        assert bgr is not None, f"cannot read {d['image']}"
        items.append((d["dataset"], f.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), d["hands"]))
    return items


def _match(gts: list[dict], preds: list[Keypoints2D]) -> dict[int, int]:
    """Greedy one-to-one GT -> prediction by mean visible-keypoint error / GT size (must be < 0.5)."""
    pairs = []
    for i, g in enumerate(gts):
        kp, vis, s = np.array(g["keypoints_2d"]), np.array(g["visible"], bool), max(g["bbox_xywh"][2:])
        for j, p in enumerate(preds):
            pairs.append((float(np.linalg.norm(p.keypoints - kp, axis=1)[vis].mean() / s), i, j))
    out: dict[int, int] = {}
    used: set[int] = set()
    for e, i, j in sorted(pairs):
        if e < 0.5 and i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def _evaluate(items, run) -> dict[str, dict[str, float]]:
    """Per dataset and 'all': recall, PCK@0.2 (over every visible GT joint; a missed hand scores 0),
    handedness accuracy over detected hands with a known GT side."""
    acc: dict[str, dict[str, int]] = {}
    for ds, _name, img, gts in items:
        preds = run(img)
        m = _match(gts, preds)
        for key in (ds, "all"):
            a = acc.setdefault(key, dict(n=0, det=0, hit=0, joints=0, side_n=0, side_ok=0))
            for i, g in enumerate(gts):
                kp, vis, s = np.array(g["keypoints_2d"]), np.array(g["visible"], bool), max(g["bbox_xywh"][2:])
                a["n"] += 1
                a["joints"] += int(vis.sum())
                if i in m:
                    p = preds[m[i]]
                    a["det"] += 1
                    a["hit"] += int((np.linalg.norm(p.keypoints - kp, axis=1)[vis] < 0.2 * s).sum())
                    if g["side"]:
                        a["side_n"] += 1
                        a["side_ok"] += int(p.side == g["side"])
    return {
        k: dict(
            recall=a["det"] / a["n"],
            pck=a["hit"] / a["joints"],
            side=a["side_ok"] / a["side_n"] if a["side_n"] else float("nan"),
            side_n=a["side_n"],
        )
        for k, a in acc.items()
    }


def _small_hand_set(items, sizes, seed=0, w=640, h=480):
    """Real hand images shrunk so the largest hand is S px, pasted at a random place on a 640x480
    background made from the (resized) COCO images: small hands with real hand pixels."""
    rng = np.random.default_rng(seed)
    bgs = [cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) for ds, _, img, _ in items if ds.startswith("coco")]
    out = []
    for ds, _name, img, gts in items:
        if ds.startswith("coco"):
            continue
        hand = max(max(g["bbox_xywh"][2:]) for g in gts)
        for size in sizes:
            f = size / hand
            small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            sh, sw = small.shape[:2]
            if sw > w or sh > h:
                continue
            canvas = bgs[int(rng.integers(len(bgs)))].copy()
            x0, y0 = int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sh + 1))
            canvas[y0 : y0 + sh, x0 : x0 + sw] = small
            new = []
            for g in gts:
                b = g["bbox_xywh"]
                new.append(
                    dict(
                        g,
                        keypoints_2d=(np.array(g["keypoints_2d"]) * f + [x0, y0]).tolist(),
                        bbox_xywh=[b[0] * f + x0, b[1] * f + y0, b[2] * f, b[3] * f],
                    )
                )
            out.append((f"S{size}", _name, canvas, new))
    return out


@pytest.fixture(scope="module")
def items():
    return _load_items()


@pytest.fixture(scope="module")
def tracker():
    return MediaPipeHandTracker(max_hands=2)


@pytest.fixture(scope="module")
def baseline():
    b = MediaPipeHandsBaseline(max_hands=2)
    yield b
    b.close()


def _by_name(items, name):
    return next(img for _, n, img, _ in items if n == name)


# --------------------------------------------------------------------------------------------------
# pre/post-processing units (no data needed)


def test_anchors_match_mediapipe_layout():
    a = generate_anchors()
    assert a.shape == (2016, 4)
    # stride 8: 24x24 cells x 2 anchors, then stride 16: 12x12 cells x 6 anchors; fixed size 1
    np.testing.assert_allclose(a[0], [0.5 / 24, 0.5 / 24, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[1152], [0.5 / 12, 0.5 / 12, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[1152 + 6], [1.5 / 12, 0.5 / 12, 1, 1], atol=1e-7)
    np.testing.assert_allclose(a[-1], [11.5 / 12, 11.5 / 12, 1, 1], atol=1e-7)


def test_decode_and_weighted_nms():
    anchors = generate_anchors()
    raw = np.zeros((2016, 18), np.float32)
    raw[:, 2:4] = 19.2  # w = h = 0.1
    raw[:, 4:] = 9.6  # keypoints at anchor + 0.05
    logits = np.full(2016, -10.0, np.float32)
    logits[[300, 301]] = [3.0, 1.0]  # the two anchors of one cell: same box, merged by NMS
    logits[1500] = 2.0
    dets = decode_detections(raw, logits, anchors)
    assert len(dets) == 3
    i = int(np.argmax(dets.scores))
    cx, cy = anchors[300, :2]
    np.testing.assert_allclose(dets.boxes[i], [cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05], atol=1e-6)
    np.testing.assert_allclose(dets.keypoints[i, 0], [cx + 0.05, cy + 0.05], atol=1e-6)
    merged = weighted_nms(dets, 0.3)
    assert len(merged) == 2
    np.testing.assert_allclose(merged.scores[0], 1 / (1 + np.exp(-3.0)), rtol=1e-6)
    # weighted mean of two boxes shifted by 0.02: weights sigmoid(3), sigmoid(1)
    two = RawDetections(
        np.array([[0, 0, 1, 1], [0.02, 0, 1.02, 1]], np.float32),
        np.zeros((2, 7, 2), np.float32),
        np.array([0.9, 0.6], np.float32),
    )
    out = weighted_nms(two)
    assert len(out) == 1
    np.testing.assert_allclose(out.boxes[0, 0], 0.02 * 0.6 / 1.5, atol=1e-6)
    assert out.scores[0] == pytest.approx(0.9)


def test_roi_geometry_round_trip():
    # an upright palm (wrist below the middle MCP) gives rotation 0, MediaPipe's 2.6 scale and shift
    box = np.array([100.0, 100.0, 140.0, 140.0])
    kps = np.zeros((7, 2))
    kps[0] = [120, 140]
    kps[2] = [120, 100]
    r = rect_from_palm(box, kps)
    assert r.rotation == pytest.approx(0.0)
    assert r.width == pytest.approx(104.0) and r.height == pytest.approx(104.0)
    assert r.cy == pytest.approx(120.0 - 20.0)  # shift_y -0.5 of the 40 px box, towards the fingers
    # fingers pointing right: rotation +90 deg (clockwise on screen)
    kps[0], kps[2] = [100, 120], [140, 120]
    assert rect_from_palm(box, kps).rotation == pytest.approx(np.pi / 2)
    # crop matrix and projection are inverse of each other (edge coordinates <-> OpenCV centres)
    rect = RotatedRect(200.3, 150.7, 90.0, 90.0, 0.7)
    pts_norm = np.array([[0.1, 0.2], [0.5, 0.5], [0.9, 0.4]])
    img_pts = project_to_image(rect, pts_norm)
    m = crop_matrix(rect, 224, 224)
    back = (img_pts - 0.5) @ m[:, :2].T + m[:, 2] + 0.5  # OpenCV maps pixel centres
    np.testing.assert_allclose(back / 224, pts_norm, atol=1e-9)
    # landmarks -> next ROI: square, centred on the hand's base, rotation of the hand
    lm = np.zeros((21, 2))
    lm[:, 0] = 300
    lm[:, 1] = np.linspace(400, 300, 21)
    lm[[5, 9, 13, 17], 0] = [280, 293, 307, 320]
    r2 = rect_from_landmarks(lm)
    assert r2.width == pytest.approx(r2.height)
    assert abs(r2.rotation) < 0.2
    # world landmarks rotate with the ROI about the optical axis
    w = rotate_world(RotatedRect(0, 0, 1, 1, np.pi / 2), np.array([[1.0, 0.0, 0.3]]))
    np.testing.assert_allclose(w, [[0.0, 1.0, 0.3]], atol=1e-12)


def test_tile_grid_covers_image():
    tiles = tile_regions(640, 480, 2, 2, 0.25)
    assert len(tiles) == 4
    side = tiles[0][2]
    assert side == pytest.approx(640 / 1.75)
    xs = {t[0] for t in tiles}
    ys = {t[1] for t in tiles}
    assert min(xs) == 0 and max(xs) + side == pytest.approx(640)
    assert min(ys) == 0 and max(ys) + side == pytest.approx(480)
    with pytest.raises(ValueError):
        tile_regions(640, 480, 0, 2)


def test_handedness_evidence_and_exclusive_assignment():
    ev = HandednessEvidence(decay=0.9)
    for _ in range(20):
        ev.update(0.9)  # right
    for _ in range(3):
        ev.update(0.1)  # a few confused frames (crossed hands) do not flip the side
    assert ev.log_odds > 0
    for _ in range(30):
        ev.update(0.1)  # sustained contrary evidence does
    assert ev.log_odds < 0
    # two hands of one person both look "right": the one with more right-evidence keeps it
    wr = np.array([[100.0, 100.0], [200.0, 100.0]])
    sizes = np.array([80.0, 80.0])
    sides = assign_sides([5.0, 1.0], [1.0, 0.3], wr, sizes)
    assert [s for s, _ in sides] == ["right", "left"]
    assert sides[1][1] < 0.5  # forced against its own (weak) evidence: probability says so
    sides = assign_sides([1.0, 5.0], [0.3, 1.0], wr, sizes)
    assert [s for s, _ in sides] == ["left", "right"]
    # far apart (two people): no constraint
    far = np.array([[0.0, 0.0], [5000.0, 0.0]])
    assert [s for s, _ in assign_sides([5.0, 1.0], [1.0, 0.3], far, sizes)] == ["right", "right"]
    assert [s for s, _ in assign_sides([5.0, 1.0], [1.0, 0.3], wr, sizes, exclusive=False)] == ["right", "right"]


# --------------------------------------------------------------------------------------------------
# bad input


def test_prepare_image_errors_and_conversions():
    ok = np.zeros((48, 64, 3), np.uint8)
    assert prepare_image(ok) is ok
    with pytest.raises(TypeError, match="numpy.ndarray"):
        prepare_image([[0, 0, 0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="uint8"):
        prepare_image(ok.astype(np.float32))
    with pytest.raises(ValueError, match="3 channels"):
        prepare_image(np.zeros((48, 64, 4), np.uint8))
    with pytest.raises(ValueError, match="3 channels"):
        prepare_image(np.zeros((48, 64, 2), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        prepare_image(np.zeros((2, 48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        prepare_image(np.zeros((0, 64, 3), np.uint8))
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (9000, 9000, 3))  # no memory used
    with pytest.raises(ValueError, match="larger than allowed"):
        prepare_image(huge)
    gray = np.arange(48 * 64, dtype=np.uint8).reshape(48, 64)
    rgb = prepare_image(gray)
    assert rgb.shape == (48, 64, 3) and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb[..., 1], gray)
    np.testing.assert_array_equal(prepare_image(gray[:, :, None]), rgb)
    strided = np.zeros((96, 128, 3), np.uint8)[::2, ::-2]
    out = prepare_image(strided)
    assert out.flags.c_contiguous and out.shape == (48, 64, 3)


def test_tracker_bad_input(tracker):
    with pytest.raises(TypeError, match="uint8"):
        tracker.process(np.zeros((48, 64, 3), np.float64), 0)
    with pytest.raises(ValueError, match="3 channels"):
        tracker.process(np.zeros((48, 64, 4), np.uint8), 0)
    with pytest.raises(TypeError, match="stamp_ns"):
        tracker.process(np.zeros((48, 64, 3), np.uint8), 0.5)  # type: ignore[arg-type]
    # tiny and blank frames are valid and simply have no hands
    assert tracker.process(np.zeros((1, 1, 3), np.uint8), 0, still=True) == []
    assert tracker.process(np.full((480, 640), 128, np.uint8), 0, still=True) == []


def test_missing_model_files_name_the_file(monkeypatch, tmp_path):
    with pytest.raises(ModelFileError, match=r"nope\.tflite.*mediapipe==0\.10\.21"):
        PalmDetector(model_path=tmp_path / "nope.tflite")
    palm = mediapipe_model_path(mediapipe_models.PALM_MODEL)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        mediapipe_models.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mediapipe" else real_find_spec(name, *a),
    )
    with pytest.raises(ModelFileError, match=r"palm_detection_full\.tflite.*pip install mediapipe==0\.10\.21"):
        mediapipe_model_path(mediapipe_models.PALM_MODEL)
    with pytest.raises(ModelFileError, match="palm_detection_full.tflite"):
        MediaPipeHandTracker()
    with pytest.raises(ModelFileError, match="hand_landmark_full.tflite"):
        MediaPipeHandTracker(palm_model_path=palm)


def test_missing_interpreter_says_what_to_install(monkeypatch):
    real_import = mediapipe_models.importlib.import_module

    def fake_import(name, *a):
        if name.split(".")[0] in ("ai_edge_litert", "tflite_runtime", "tensorflow"):
            raise ImportError(name)
        return real_import(name, *a)

    monkeypatch.setattr(mediapipe_models.importlib, "import_module", fake_import)
    with pytest.raises(ImportError, match=r"pip install ai-edge-litert==2\.3\.0"):
        PalmDetector()


# --------------------------------------------------------------------------------------------------
# real images


@needs_data
def test_real_images_accuracy_ours_vs_mediapipe(items, tracker, baseline):
    ours = _evaluate(items, lambda im: tracker.process(im, 0, still=True))
    ref = _evaluate(items, lambda im: baseline.process(im, 0, still=True))
    for name, res in (("ours", ours), ("mediapipe", ref)):
        print(name, json.dumps({k: {m: round(v, 3) for m, v in r.items()} for k, r in res.items()}))
    a, b = ours["all"], ref["all"]
    # Measured (18 images, 19 hands, 13 with a known side): ours recall 17/19 = 0.895, PCK@0.2 0.778,
    # handedness 13/13; MediaPipe alone recall 15/19 = 0.789, PCK@0.2 0.717, handedness 11/11.
    # Both miss the two COCO-WholeBody hands (a 28 px gloved fist on a ski pole, a 16 px hand in a
    # grayscale street scene: the landmark model gives them presence < 0.5 even on the GT box).
    # Margins: one hand of recall, ~0.04 of PCK (about one hand's joints), one handedness error.
    assert a["recall"] >= 16 / 19 - 1e-9
    assert a["pck"] >= 0.74
    assert a["side"] >= 12 / 13 - 1e-9
    assert b["recall"] >= 14 / 19 - 1e-9
    assert b["pck"] >= 0.67
    assert b["side"] >= 10 / 11 - 1e-9
    # ours is at least as good as MediaPipe alone (the small-hand pass finds one more FreiHAND hand;
    # on that hand MediaPipe's own detector misses at this threshold too)
    assert a["recall"] >= b["recall"]
    assert a["pck"] >= b["pck"] - 0.01
    # per dataset: the easy sets are solved by both
    for ds in ("onehand10k", "rhd", "panoptic_handdb"):
        assert ours[ds]["recall"] == 1.0, ds
        assert ours[ds]["pck"] >= 0.9, ds  # measured 1.0, 1.0, 0.929
    assert ours["freihand"]["recall"] >= 7 / 8  # measured 8/8 (MediaPipe alone 6/8)


@needs_data
def test_small_hand_pass_gain(items):
    """Hands of 32-64 px in 640x480 frames: the tiled second pass finds most; the full-image pass few."""
    sset = _small_hand_set(items, sizes=(32, 48, 64))
    full = MediaPipeHandTracker(max_hands=2, small_hand_pass=False)
    tiled = MediaPipeHandTracker(max_hands=2, small_hand_pass=True)
    r_full = _evaluate(sset, lambda im: full.process(im, 0, still=True))
    r_tiled = _evaluate(sset, lambda im: tiled.process(im, 0, still=True))
    print("small hands full-only", r_full, "\nsmall hands tiled", r_tiled)
    # Measured (17 hands per size): full-image pass recall 1/17, 7/17, 5/17 at 32, 48, 64 px
    # (MediaPipe alone 1/17, 6/17, 5/17); with the 2x2 tile pass 9/17, 12/17, 14/17. All sizes:
    # recall 13/51 = 0.25 -> 35/51 = 0.69, PCK@0.2 0.23 -> 0.63 (a 3x3 grid: 0.84 / 0.79, at 9
    # instead of 4 extra detector calls). Margins of about two hands (one at 48 px).
    assert r_full["all"]["recall"] <= 15 / 51 + 1e-9
    assert r_tiled["all"]["recall"] >= 33 / 51 - 1e-9
    assert r_tiled["all"]["pck"] >= 0.58
    assert r_tiled["S48"]["recall"] >= r_full["S48"]["recall"] + 4 / 17 - 1e-9


@needs_data
def test_handedness_convention_follows_the_image(items, tracker):
    """Our side names the person's hand in a non-mirrored image: mirroring the image flips it."""
    img = _by_name(items, "freihand__00017620.json")  # a right hand (FreiHAND: right hands only)
    (h,) = tracker.process(img, 0, still=True)
    assert h.side == "right" and h.side_score > 0.9
    (m,) = tracker.process(img[:, ::-1], 0, still=True)  # non-contiguous view on purpose
    assert m.side == "left" and m.side_score > 0.9
    # the mirrored hand's keypoints mirror the original's (within 8 px = 8 % of this hand's size)
    np.testing.assert_allclose(m.keypoints[:, 0], img.shape[1] - h.keypoints[:, 0], atol=8.0)
    # world landmarks: metric (a hand spans ~0.1-0.2 m)
    span = np.ptp(h.landmarks_3d, axis=0).max()
    assert 0.05 < span < 0.3
    assert h.keypoints.shape == (21, 2) and h.confidence.shape == (21,) and h.bbox.shape == (4,)


@needs_data
def test_world_landmarks_in_camera_axes(items, tracker):
    """World landmarks are rotated by the ROI rotation into camera axes: the image-plane direction of
    each bone agrees with the x, y of the same bone in 3D, whatever the hand's in-plane rotation."""
    img = _by_name(items, "onehand10k__1402.json")
    h, w = img.shape[:2]
    for angle in (0, 60, 135, -100):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        hands = tracker.process(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE), 0, still=True)
        assert len(hands) >= 1, angle
        hand = max(hands, key=lambda x: x.score)
        cos = []
        for a, b in ((0, 9), (0, 5), (0, 17), (9, 12), (5, 8)):
            v2 = hand.keypoints[b] - hand.keypoints[a]
            v3 = hand.landmarks_3d[b, :2] - hand.landmarks_3d[a, :2]
            cos.append(float(v2 @ v3 / (np.linalg.norm(v2) * np.linalg.norm(v3) + 1e-12)))
        assert np.mean(cos) > 0.9, (angle, cos)  # measured >= 0.98 at every angle


# --------------------------------------------------------------------------------------------------
# tracking on sequences made from real images


def _two_hand_frame(items, k: int) -> np.ndarray:
    """640x480 frame with a real right hand (FreiHAND) and a real left hand (RHD) moving and rotating
    a few pixels / one degree per frame."""
    right = _by_name(items, "freihand__00017620.json")
    left = _by_name(items, "rhd__00111.json")
    canvas = np.full((480, 640, 3), 90, np.uint8)
    m = cv2.getRotationMatrix2D((112, 112), 1.0 * k, 1.0)
    m[:, 2] += (40 + 3 * k, 100 + 2 * k)
    cv2.warpAffine(right, m, (640, 480), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
    m = cv2.getRotationMatrix2D((160, 160), -1.0 * k, 1.0)
    m[:, 2] += (300 - 2 * k, 80 + k)
    cv2.warpAffine(left, m, (640, 480), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
    return canvas


@needs_data
def test_tracking_ids_stable_and_detector_not_rerun(items):
    tr = MediaPipeHandTracker(max_hands=2)
    n = 20
    sides_by_id: dict[int, set[str]] = {}
    for k in range(n):
        hands = tr.process(_two_hand_frame(items, k), k * 33_333_333)
        assert len(hands) == 2, k
        for h in hands:
            sides_by_id.setdefault(h.track_id, set()).add(h.side)
    assert sorted(sides_by_id) == [0, 1]  # the same two ids throughout
    assert {frozenset(v) for v in sides_by_id.values()} == {frozenset({"right"}), frozenset({"left"})}
    # both hands tracked from frame 1 on: the detector ran on the first frame only (the full-image
    # pass finds the RHD hand, the one tile that the tile pass runs per frame finds the FreiHAND one)
    assert tr.stats["detector_runs"] == 1
    assert tr.stats["palm_calls"] <= 2
    assert tr.stats["landmark_calls"] == 2 * n
    # a tracked image right hand is on the image's left (FreiHAND hand placed left, RHD left hand right)
    h = {x.side: x for x in hands}
    assert h["right"].keypoints[:, 0].mean() < h["left"].keypoints[:, 0].mean()


@needs_data
def test_tracking_detector_schedule_one_hand(items):
    right = _by_name(items, "freihand__00017620.json")

    def frame(k):  # the 224x224 image on a 640x480 canvas, moving 3 px right and 2 px down per frame
        m = np.float32([[1, 0, 100 + 3 * k], [0, 1, 120 + 2 * k]])
        return cv2.warpAffine(right, m, (640, 480), borderValue=(90, 90, 90))

    # max_hands=1: the hand is tracked after the first frame, the detector never runs again
    tr = MediaPipeHandTracker(max_hands=1)
    ids = [tuple(h.track_id for h in tr.process(frame(k), k)) for k in range(12)]
    assert ids == [(0,)] * 12
    assert tr.stats["detector_runs"] == 1
    # max_hands=2 with one hand: MediaPipe re-runs the detector every frame; with redetect_interval 4
    # ours runs it on frames 1, 5, 9 (tile pass rotating one tile per run)
    tr = MediaPipeHandTracker(max_hands=2, redetect_interval=4)
    ids = [tuple(h.track_id for h in tr.process(frame(k), k)) for k in range(12)]
    assert ids == [(0,)] * 12
    assert tr.stats["detector_runs"] == 3
    assert tr.stats["small_hand_runs"] == 3 and tr.stats["palm_calls"] == 6
    # detect_every_n with all hands tracked: detections of tracked hands are de-duplicated
    tr = MediaPipeHandTracker(max_hands=1, detect_every_n=2)
    ids = [tuple(h.track_id for h in tr.process(frame(k), k)) for k in range(6)]
    assert ids == [(0,)] * 6 and tr.stats["detector_runs"] == 3


@needs_data
def test_tracking_still_mode_and_stamps(items):
    tr = MediaPipeHandTracker(max_hands=2)
    f0 = _two_hand_frame(items, 0)
    a = tr.process(f0, 1_000)
    assert sorted(h.track_id for h in a) == [0, 1]
    runs = tr.stats["detector_runs"]
    # still frames neither use nor change the tracks
    s = tr.process(_by_name(items, "onehand10k__784.json"), 2_000, still=True)
    assert [h.track_id for h in s] == [0]
    assert tr.num_tracks == 2
    b = tr.process(_two_hand_frame(items, 1), 3_000)
    assert sorted(h.track_id for h in b) == [0, 1] and tr.stats["detector_runs"] == runs + 1  # +1: still
    # a stamp going backwards resets the tracks (with a warning): new ids, never reused ones
    with pytest.warns(RuntimeWarning, match="backwards"):
        c = tr.process(_two_hand_frame(items, 2), 2_500)
    assert sorted(h.track_id for h in c) == [2, 3]
    tr.process(_two_hand_frame(items, 3), 4_000)
    tr.reset()
    assert tr.num_tracks == 0


@needs_data
def test_tracking_keeps_sides_through_confused_frames(items, monkeypatch):
    """Crossed/interacting hands make the per-frame classifier flip; the accumulated evidence and the
    one-left-one-right rule keep the sides. Simulated by inverting the classifier for 4 frames."""
    tr = MediaPipeHandTracker(max_hands=2)
    real_run = tr.landmarker.run
    state = {"flip": False}

    def run(image, rect):
        out = real_run(image, rect)
        if state["flip"]:
            out.right_prob = 1.0 - out.right_prob
        return out

    monkeypatch.setattr(tr.landmarker, "run", run)
    first = {}
    for k in range(16):
        state["flip"] = 8 <= k < 12
        hands = tr.process(_two_hand_frame(items, k), k)
        assert len(hands) == 2
        for h in hands:
            first.setdefault(h.track_id, h.side)
            assert h.side == first[h.track_id], (k, h.track_id)
    assert sorted(first.values()) == ["left", "right"]


@needs_data
def test_baseline_tracks_in_video_mode(items, baseline):
    baseline.reset()
    for k in range(5):
        hands = baseline.process(_two_hand_frame(items, k), k)
        assert all(isinstance(h, Keypoints2D) and h.keypoints.shape == (21, 2) for h in hands)
        assert all(h.landmarks_3d is not None and h.landmarks_3d.shape == (21, 3) for h in hands)
    assert {h.side for h in hands} <= {"left", "right"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline.process(_two_hand_frame(items, 0), 0)  # stamps backwards: reset, no crash
