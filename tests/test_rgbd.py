"""RGB-D: rendered registered depth, the RealSense-like error model, depth decoding/pairing and the
robust depth placement fused with the monocular one (issue 12 items 1 and 2)."""

from __future__ import annotations

import numpy as np
import pytest

from hand_models.render import SyntheticSequence
from hand_models.render.depth_noise import (
    DepthNoiseConfig,
    depth_noise_std,
    depth_to_16uc1,
    realsense_depth,
    stereo_shadow,
)
from hand_perception.core.depth import (
    DepthBuffer,
    decode_depth,
    depth_msg_to_metres,
    encode_depth,
    match_depth_size,
    pair_depth,
    prepare_depth,
)
from hand_perception.core.depth_placement import (
    PLACEMENT_MONOCULAR,
    SURFACE_OFFSET_M,
    keypoint_depths,
    place_with_depth,
)
from hand_perception.core.types import CameraIntrinsics, Keypoints2D

F = 500.0
#: noise model without holes, flying pixels or quantisation: only the z^2 noise
PURE_NOISE = DepthNoiseConfig(correlated_fraction=0.0, depth_unit_m=0.0, shadow=False, edge_hole_prob=0.0,
                              flying_prob=0.0, dark_hole_prob=0.0, speckle_prob=0.0)


@pytest.fixture(scope="module")
def frame():
    """One rendered 320x240 two-hand frame with its exact depth."""
    return SyntheticSequence(2, 320, 240, seed=0)[1]


# --------------------------------------------------------------------------- error model


def test_noise_std_grows_with_z_squared():
    stds = []
    for z in (0.5, 1.0, 2.0):
        plane = np.full((200, 200), z, np.float32)
        noisy = realsense_depth(plane, F, seed=1, config=PURE_NOISE)
        stds.append(float(noisy.std()))
        assert noisy.mean() == pytest.approx(z, abs=3 * stds[-1] / 200 + 1e-4)
        assert stds[-1] == pytest.approx(float(depth_noise_std(z, F, PURE_NOISE)), rel=0.1)
    assert stds[1] / stds[0] == pytest.approx(4.0, rel=0.15)
    assert stds[2] / stds[1] == pytest.approx(4.0, rel=0.15)


def test_quantisation_and_16uc1():
    plane = np.full((50, 50), 0.8, np.float32)
    noisy = realsense_depth(plane, F, seed=2, config=DepthNoiseConfig(dark_hole_prob=0.0, speckle_prob=0.0))
    valid = noisy[noisy > 0]
    assert np.allclose(valid * 1000, np.round(valid * 1000), atol=1e-3)  # 1 mm steps
    mm = depth_to_16uc1(noisy)
    assert mm.dtype == np.uint16 and np.array_equal(mm[noisy > 0], np.round(valid * 1000).astype(np.uint16))
    assert (mm[noisy == 0] == 0).all()


def test_holes_on_dark_regions_and_determinism():
    plane = np.full((100, 100), 1.0, np.float32)
    image = np.full((100, 100, 3), 200, np.uint8)
    image[:, :50] = 0  # black left half
    cfg = DepthNoiseConfig(speckle_prob=0.0, dark_hole_prob=0.9)
    a = realsense_depth(plane, F, image, seed=5, config=cfg)
    assert (a[:, :50] == 0).mean() == pytest.approx(0.9, abs=0.03)
    assert (a[:, 50:] == 0).mean() == 0.0
    assert np.array_equal(a, realsense_depth(plane, F, image, seed=5, config=cfg))
    assert not np.array_equal(a, realsense_depth(plane, F, image, seed=6, config=cfg))


def test_stereo_shadow_band_width_and_edge_holes_and_flying_pixels():
    z = np.full((40, 200), 2.0, np.float32)
    z[:, 100:150] = 0.5  # a near box
    shadow = stereo_shadow(z, F, 0.05)
    width = F * 0.05 * (1 / 0.5 - 1 / 2.0)  # 37.5 px left of the box
    row = np.flatnonzero(shadow[0])
    assert row.min() == pytest.approx(100 - width, abs=1.5) and row.max() == 99
    assert not shadow[:, 100:].any()
    cfg = DepthNoiseConfig(speckle_prob=0.0, shadow=False, subpixel_std=0.0, edge_hole_prob=0.5, flying_prob=1.0)
    noisy = realsense_depth(z, F, seed=0, config=cfg)
    edge_cols = noisy[:, [99, 100, 149, 150]]
    assert (edge_cols == 0).mean() == pytest.approx(0.5, abs=0.15)  # holes at depth edges
    flying = edge_cols[edge_cols > 0]
    assert ((flying > 0.55) & (flying < 1.95)).all()  # between the near and the far surface
    assert np.array_equal(noisy[:, :90], z[:, :90]) and np.array_equal(noisy[:, 110:140], z[:, 110:140])


# --------------------------------------------------------------------------- renderer


def test_rendered_depth_is_exact_and_registered(frame):
    d = frame.depth
    assert d.shape == frame.image.shape[:2] and d.dtype == np.float32 and np.isfinite(d).all()
    tip_err = []
    for h in frame.hands:
        uv = np.round(h.keypoints_2d).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 240)
        vis = h.visibility & inside
        assert vis.sum() >= 5
        surf = d[uv[vis, 1], uv[vis, 0]]
        z = h.joints_3d[vis, 2]
        # the skin the camera sees lies in front of each visible joint, by at most the flesh around it
        assert (surf <= z + 0.004).all() and (surf >= z - 0.036).all()
        tips = np.array([4, 8, 12, 16, 20])[vis[[4, 8, 12, 16, 20]]]
        tip_err.extend(np.abs(d[uv[tips, 1], uv[tips, 0]] - h.joints_3d[tips, 2]))
    assert len(tip_err) >= 3 and max(tip_err) < 0.008  # tip joints are on the skin


def test_rendered_background_depth_is_the_wall(frame):
    seq = SyntheticSequence(2, 320, 240, seed=0)
    bg = seq.background_depth()
    far = frame.depth >= bg - 1e-6
    assert far.mean() > 0.3
    assert (frame.depth <= bg + 1e-6).all()  # nothing behind the wall
    assert np.array_equal(frame.depth[far], bg[far])  # exact where only the wall is seen
    assert frame.depth.min() < seq.wall_z - 0.2  # hands well in front of it


def test_noisy_frame_depth_is_deterministic(frame):
    a, b = frame.noisy_depth(), frame.noisy_depth()
    assert np.array_equal(a, b) and (a == 0).any() and (a > 0).mean() > 0.7


# --------------------------------------------------------------------------- decoding, size, pairing


def test_decode_16uc1_32fc1_and_bad_encodings():
    z = np.array([[0.5, 0.0], [1.25, 2.0]])
    f16 = encode_depth(z, "16UC1")
    out = decode_depth(f16["height"], f16["width"], "16UC1", f16["step"], f16["data"])
    assert np.isnan(out[0, 1]) and np.allclose(out[~np.isnan(out)], [0.5, 1.25, 2.0])
    # depth_scale: 0.1 mm units
    f16s = encode_depth(z, "16UC1", depth_scale=1e-4)
    assert np.allclose(decode_depth(2, 2, "16UC1", 4, f16s["data"], depth_scale=1e-4)[1], [1.25, 2.0])
    # big-endian
    be = np.array([[500, 0], [1250, 2000]], ">u2").view(np.uint8).reshape(-1)
    assert np.allclose(decode_depth(2, 2, "16UC1", 4, be, is_bigendian=True)[1], [1.25, 2.0])
    raw = np.array([[0.5, np.inf], [-np.inf, np.nan]], "<f4").view(np.uint8).reshape(-1)
    out = decode_depth(2, 2, "32FC1", 8, raw, depth_scale=0.001)  # scale does not apply to metres
    assert out[0, 0] == pytest.approx(0.5) and np.isnan(out).sum() == 3
    with pytest.raises(ValueError, match="unsupported depth encoding 'rgb8'"):
        decode_depth(2, 2, "rgb8", 6, np.zeros(12, np.uint8))
    with pytest.raises(ValueError, match="truncated"):
        decode_depth(2, 2, "16UC1", 4, np.zeros(6, np.uint8))

    class Msg:  # a sensor_msgs/Image look-alike
        height, width, encoding, is_bigendian, step = 2, 2, "32FC1", 0, 8
        data = raw.tobytes()

    assert np.isnan(depth_msg_to_metres(Msg())).sum() == 3


def test_size_checks_and_invalid_images():
    z = np.full((240, 320), 0.7, np.float32)
    up = match_depth_size(z, 640, 480)
    assert up.shape == (480, 640) and np.allclose(up, 0.7)
    with pytest.raises(ValueError, match="aspect ratio"):
        match_depth_size(np.ones((480, 848), np.float32), 640, 480)
    d, problem = prepare_depth(np.ones((480, 848), np.float32), 640, 480)
    assert d is None and "refused" in problem
    for bad in (np.zeros((480, 640), np.uint16), np.full((480, 640), np.nan, np.float32),
                np.full((480, 640), np.inf, np.float32)):
        d, problem = prepare_depth(bad, 640, 480)
        assert d is None and "no valid pixel" in problem
    d, problem = prepare_depth(np.full((480, 640), 700, np.uint16), 640, 480)  # integer mm
    assert problem is None and np.allclose(d, 0.7)
    half = np.full((480, 640), np.inf, np.float32)
    half[:, :320] = 0.9
    d, _ = prepare_depth(half, 640, 480)
    assert np.isnan(d[:, 320:]).all() and np.allclose(d[:, :320], 0.9)  # inf in 32FC1 = no depth


def test_pairing_rule():
    stamps = [1_000_000_000, 1_033_000_000, 1_066_000_000]
    assert pair_depth(1_034_000_000, stamps, 0.02) == 1
    assert pair_depth(1_016_500_000, stamps, 0.02) == 0  # a tie goes to the earlier depth
    assert pair_depth(1_200_000_000, stamps, 0.02) is None
    assert pair_depth(1_000_000_000, [], 0.02) is None
    buf = DepthBuffer(max_age_s=0.02, capacity=2)
    assert buf.take(5)[1] == "no depth image received"
    for s in stamps:
        buf.add(s, f"d{s}")
    assert len(buf) == 2 and buf.take(1_067_000_000) == (f"d{stamps[2]}", None)
    payload, reason = buf.take(2_000_000_000)
    assert payload is None and "0.934 s from the colour image" in reason


# --------------------------------------------------------------------------- placement


def _visible_hand(frame):
    return max(frame.hands, key=lambda h: h.visibility.sum())


def test_depth_placement_fixes_a_wrong_hand_size(frame):
    h = _visible_hand(frame)
    mono = h.joints_3d * 1.15  # monocular placement of a hand assumed 15 % too large
    res = place_with_depth(mono, h.keypoints_2d, np.ones(21), frame.depth)
    assert res.source in ("depth", "fused") and res.reason == ""
    assert abs(res.depth - h.joints_3d[0, 2]) < 0.006
    assert np.linalg.norm(res.joints - h.joints_3d, axis=1).mean() < 0.008
    # the scale moves joints along their rays: projections unchanged
    uv = res.joints[:, :2] / res.joints[:, 2:] * F
    assert np.allclose(uv, mono[:, :2] / mono[:, 2:] * F)
    assert 0.001 < res.depth_std < 0.02
    # realistic noise, holes and flying pixels
    res = place_with_depth(mono, h.keypoints_2d, np.ones(21), frame.noisy_depth())
    assert abs(res.depth - h.joints_3d[0, 2]) < 0.012 and res.inliers.sum() >= 8


def test_depth_placement_rejects_occluders_and_bad_depth(frame):
    h = _visible_hand(frame)
    mono = h.joints_3d * 0.9
    d = frame.depth.copy()
    # an occluder 6 cm in front of the hand over 5 keypoints (e.g. an object held at the fingertips)
    occluded = [7, 8, 11, 12, 16]
    for j in occluded:
        u, v = np.round(h.keypoints_2d[j]).astype(int)
        d[max(v - 3, 0):v + 4, max(u - 3, 0):u + 4] = h.joints_3d[j, 2] - 0.06
    res = place_with_depth(mono, h.keypoints_2d, np.ones(21), d)
    assert not res.inliers[occluded].any() and res.inliers.sum() >= 10
    assert abs(res.depth - h.joints_3d[0, 2]) < 0.008
    # depth that disagrees with the hand's shape everywhere (all-NaN, all zero, inf) -> monocular
    for bad in (np.full_like(d, np.nan), np.zeros_like(d), np.full_like(d, np.inf)):
        res = place_with_depth(mono, h.keypoints_2d, np.ones(21), bad)
        assert res.source == PLACEMENT_MONOCULAR and "depth at only 0 keypoints" in res.reason
        assert np.array_equal(res.joints, mono) and res.depth_std == pytest.approx(0.1 * mono[0, 2])


def test_keypoint_depths_take_the_near_side_of_a_silhouette():
    z = np.full((20, 20), 1.5)
    z[:, :10] = 0.5
    z[:, 10] = 1.0  # flying pixel column
    d, edge = keypoint_depths(z, np.array([[9.0, 10.0], [3.0, 10.0], [-5.0, 3.0]]))
    assert d[0] == pytest.approx(0.5) and edge[0]
    assert d[1] == pytest.approx(0.5) and not edge[1]
    assert np.isnan(d[2])
    assert SURFACE_OFFSET_M.shape == (21,) and (SURFACE_OFFSET_M >= 0).all()


class _GroundTruthTracker:
    """Stands in for MediaPipe: the frame's true 2D keypoints and a metric shape 12 % too large."""

    def __init__(self, frame):
        self.frame = frame

    def reset(self):
        pass

    def process(self, image, stamp_ns, still=False):
        out = []
        for k, h in enumerate(self.frame.hands):
            out.append(Keypoints2D(keypoints=h.keypoints_2d, confidence=np.ones(21), side=h.side, side_score=0.99,
                                   score=0.95, bbox=h.bbox, landmarks_3d=(h.joints_3d - h.joints_3d.mean(0)) * 1.12,
                                   track_id=k))
        return out


def test_estimator_uses_depth_and_falls_back(frame):
    from hand_perception.core.config import EstimatorConfig
    from hand_perception.core.estimator import HandEstimator

    intr = CameraIntrinsics(K=frame.K, dist=frame.dist, width=320, height=240)
    def estimator():
        return HandEstimator(EstimatorConfig(fit_mano=False), tracker=_GroundTruthTracker(frame))

    mono = estimator().process(frame.image, 1, intr)
    est = estimator()
    rgbd = est.process(frame.image, 2, intr, depth=frame.noisy_depth())
    for hm, hd, g in zip(mono.hands, rgbd.hands, frame.hands):
        assert hm.placement_source == "monocular" and hd.placement_source in ("depth", "fused")
        assert abs(hd.depth - g.joints_3d[0, 2]) < 0.012 < abs(hm.depth - g.joints_3d[0, 2])
        assert hd.depth_std < 0.02
    # millimetre depth at half resolution works too; a depth image of another aspect ratio does not
    mm = depth_to_16uc1(frame.depth[::2, ::2])
    r = est.process(frame.image, 3, intr, depth=mm)
    assert all(h.placement_source != "monocular" for h in r.hands)
    r = est.process(frame.image, 4, intr, depth=np.ones((240, 400), np.float32))
    assert all(h.placement_source == "monocular" for h in r.hands)
    assert any("depth not used" in w and "aspect ratio" in w for w in r.warnings)
    r = est.process(frame.image, 5, intr, depth=np.zeros((240, 320), np.uint16))
    assert any("no valid pixel" in w for w in r.warnings)


def test_hand_message_round_trip_with_placement():
    from hand_perception.core import conversions as cv
    from hand_perception.core.types import HandState

    types = cv.RosbagsTypes()
    text = (cv.msg_dir() / "Hand.msg").read_text()
    for name, value in (("MONOCULAR", cv.PLACEMENT_MONOCULAR), ("DEPTH", cv.PLACEMENT_DEPTH),
                        ("FUSED", cv.PLACEMENT_FUSED)):
        assert f"uint8 {name}={value}" in text
    for source, std in (("monocular", float("nan")), ("depth", 0.003), ("fused", 0.0125)):
        h = HandState(side="right", track_id=1, confidence=0.9, keypoints_2d=np.zeros((21, 2)),
                      keypoint_confidence=np.ones(21), joints=np.ones((21, 3)), wrist_position=np.ones(3),
                      wrist_orientation_xyzw=np.array([0, 0, 0, 1.0]), mano=None, bbox=np.zeros(4), depth=0.5,
                      placement_source=source, depth_std=std)
        msg = types.deserialize(types.serialize(cv.hand_to_msg(h, 7, "cam", types)), cv.HAND)
        back = cv.msg_to_hand(msg)
        assert back.placement_source == source
        assert (np.isnan(back.depth_std) if np.isnan(std) else back.depth_std == pytest.approx(std))
    h.placement_source = "lidar"
    with pytest.raises(ValueError, match="placement_source"):
        cv.hand_to_msg(h, 7, "cam", types)


def test_per_joint_depth_keeps_bone_lengths(frame):
    from hand_perception.core.depth_placement import DepthPlacementConfig

    h = _visible_hand(frame)
    tip = next(j for j in (8, 12, 16, 20, 4) if h.visibility[j] and h.visibility[j - 1])
    d = frame.depth.copy()
    u, v = np.round(h.keypoints_2d[tip]).astype(int)
    d[v - 2:v + 3, u - 2:u + 3] += 0.03  # the depth beside the fingertip (e.g. a 2D miss): 3 cm behind it
    # by default the shape-agreement gate rejects it: it neither moves nor bounds the tip
    res = place_with_depth(h.joints_3d, h.keypoints_2d, np.ones(21), d)
    assert not res.inliers[tip] and abs(res.joints[tip, 2] - h.joints_3d[tip, 2]) < 0.01
    # with a wide shape gate it gets through, and the bone check alone rejects it (surface bound off)
    wide = DepthPlacementConfig(min_spread_m=0.05, surface_bound=False)
    res = place_with_depth(h.joints_3d, h.keypoints_2d, np.ones(21), d, config=wide)
    assert res.inliers[tip]
    assert abs(res.joints[tip, 2] - h.joints_3d[tip, 2]) < 0.01  # rejected: it would stretch the last bone
    free = place_with_depth(h.joints_3d, h.keypoints_2d, np.ones(21), d,
                            config=DepthPlacementConfig(min_spread_m=0.05, bone_tolerance=0, surface_bound=False))
    assert free.joints[tip, 2] - h.joints_3d[tip, 2] > 0.015


def test_wrist_uses_its_own_depth_when_the_shape_puts_it_off(frame):
    """The monocular shape's wrist depth relative to the fingers can be centimetres off; its scale
    vote is then rejected, but the wrist (what a robot reaches for) must still take its own depth
    (it was left at the shape's depth: 5 cm off here)."""
    h = _visible_hand(frame)
    g = h.joints_3d
    mono = g.copy()
    mono[0] = g[0] * (g[0, 2] - 0.05) / g[0, 2]  # the wrist 5 cm too near, on its ray
    for depth in (frame.depth, frame.noisy_depth()):
        res = place_with_depth(mono, h.keypoints_2d, np.ones(21), depth)
        assert not res.inliers[0]  # the scale vote disagrees with the hand's (wrong) shape ...
        assert abs(res.depth - g[0, 2]) < 0.01  # ... its own depth places it
        assert np.linalg.norm(res.joints - g, axis=1).mean() < 0.006
        assert np.allclose(res.joints[0, :2] / res.joints[0, 2], g[0, :2] / g[0, 2])  # on its ray


def test_joint_without_its_own_depth_stays_behind_the_seen_surface(frame):
    """A joint whose own depth the per-joint checks reject is not left in front of the surface the
    camera sees at its keypoint (the surface is the first thing on the ray)."""
    from hand_perception.core.depth_placement import DepthPlacementConfig

    h = _visible_hand(frame)
    g = h.joints_3d
    tip = next(j for j in (8, 12, 16, 20, 4) if h.visibility[j] and h.visibility[j - 1])
    mono = g.copy()
    mono[tip] = g[tip] * (g[tip, 2] - 0.04) / g[tip, 2]  # the shape puts the tip 4 cm in front
    cfg = DepthPlacementConfig(min_spread_m=0.1)  # a shape-agreement gate wide enough to keep the tip
    res = place_with_depth(mono, h.keypoints_2d, np.ones(21), frame.depth, config=cfg)
    assert res.inliers[tip]
    seen = keypoint_depths(frame.depth, h.keypoints_2d[tip:tip + 1])[0][0]
    assert res.joints[tip, 2] >= seen and abs(res.joints[tip, 2] - g[tip, 2]) < 0.01
    off = place_with_depth(mono, h.keypoints_2d, np.ones(21), frame.depth,
                           config=DepthPlacementConfig(min_spread_m=0.1, surface_bound=False))
    assert off.inliers[tip] and off.joints[tip, 2] < seen - 0.02  # without the bound the bone check leaves it in front


def test_depth_gate_waits_only_while_pairs_come_and_keeps_order():
    from hand_perception.core.depth import DepthGate

    g = DepthGate(live_s=0.5, wait_s=0.1)
    assert g.on_image(1, 0.0) == [1] and g.status.last_problem == "no depth image received yet"
    assert g.on_pair(1, 0.01) == ([], False)  # that frame already went on without depth
    g.on_depth(0.02)
    assert g.on_pair(2, 0.03) == ([], True) and g.on_image(2, 0.03) == []  # paired on arrival
    assert g.on_image(3, 0.05) == [] and g.on_pair(3, 0.06) == ([], True)  # waited for its depth
    assert g.on_image(4, 0.07) == [] and g.on_image(5, 0.2) == [4]  # 4 waited too long
    assert "no depth paired within 0.1 s" in g.status.last_problem
    assert g.on_image(6, 0.21) == [] and g.on_pair(7, 0.22) == ([5, 6], True)  # older ones first
    assert g.on_image(8, 1.0) == [8] and g.status.last_problem == "depth topic silent for 1.0 s"
    g.on_depth(1.05)
    assert g.on_image(9, 1.1) == [9] and "too far from the colour stamps" in g.status.last_problem
    assert g.status.missing == 6


def test_placement_source_follows_a_hand_published_under_an_older_id():
    """The temporal stage may publish a re-associated hand under its older track id
    (``last_id_map``: input id -> published id); the depth placement, keyed by the tracker's input
    id, must still reach that hand."""
    from types import SimpleNamespace

    from hand_perception.core.estimator import HandEstimator
    from hand_perception.core.types import HandState

    est = HandEstimator.__new__(HandEstimator)  # only the bookkeeping of _attach_placement is exercised
    est.temporal = SimpleNamespace(last_id_map={7: 3})
    est._placement = {}
    z = np.zeros
    hand = HandState(side="right", track_id=3, confidence=1.0, keypoints_2d=z((21, 2)),
                     keypoint_confidence=np.ones(21), joints=z((21, 3)), wrist_position=z(3),
                     wrist_orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]), mano=None, bbox=z(4))
    est._attach_placement([hand], {("right", 7): ("fused", 0.004)})
    assert (hand.placement_source, hand.depth_std) == ("fused", 0.004)
    # a bridged frame afterwards keeps the track's last placement
    bridged = HandState(**{**hand.__dict__, "placement_source": "monocular", "depth_std": float("nan")})
    est._attach_placement([bridged], {})
    assert (bridged.placement_source, bridged.depth_std) == ("fused", 0.004)
