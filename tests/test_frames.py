"""core.frames: hands, MANO parameters and forecasts moved into a target frame (issue 11, robot frames)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hand_perception.core import frames as fr
from hand_perception.core.types import BimanualForecast, ForecastSample, FrameResult, HandState, HandTrajectory, ManoParams

T0 = 1_700_000_000_000_000_000


def _tf(seed: int = 0, target: str = "base_link", source: str = "cam_optical", stamp: int = T0) -> fr.RigidTransform:
    rng = np.random.default_rng(seed)
    return fr.RigidTransform.from_quaternion(rng.normal(scale=0.5, size=3), Rotation.random(random_state=seed).as_quat(),
                                             target, source, stamp)


def test_rigid_transform_basics():
    tf = _tf(1)
    p = np.random.default_rng(2).normal(size=(5, 21, 3))
    out = tf.apply(p)
    assert out.shape == p.shape
    np.testing.assert_allclose(out[2, 3], tf.rotation @ p[2, 3] + tf.translation)
    # distances are kept (rigid)
    np.testing.assert_allclose(np.linalg.norm(out[:, 1] - out[:, 0], axis=-1), np.linalg.norm(p[:, 1] - p[:, 0], axis=-1))
    # quaternion in == rotation used; a non-normalised quaternion is normalised
    tf2 = fr.RigidTransform.from_quaternion([0, 0, 0], 3.0 * tf.quaternion)
    np.testing.assert_allclose(tf2.rotation, tf.rotation, atol=1e-12)
    for bad in ([np.nan, 0, 0, 1], [0, 0, 0, 0]):
        with pytest.raises(ValueError):
            fr.RigidTransform.from_quaternion([0, 0, 0], bad)
    with pytest.raises(ValueError):
        fr.RigidTransform.from_quaternion([0, 0, np.inf], [0, 0, 0, 1])


def test_orientations_follow_the_frame():
    tf = _tf(3)
    q = Rotation.random(4, random_state=4).as_quat()
    out = tf.rotate_quaternions(q)
    np.testing.assert_allclose(Rotation.from_quat(out).as_matrix(), tf.rotation @ Rotation.from_quat(q).as_matrix(),
                               atol=1e-12)
    assert np.isnan(tf.rotate_quaternions(np.full(4, np.nan))).all()
    rv = Rotation.random(3, random_state=5).as_rotvec()
    np.testing.assert_allclose(Rotation.from_rotvec(tf.rotate_rotvecs(rv)).as_matrix(),
                               tf.rotation @ Rotation.from_rotvec(rv).as_matrix(), atol=1e-12)


def test_transform_from_msg_reads_a_transform_stamped():
    rb = pytest.importorskip("rosbags")  # noqa: F841 - message classes from the typestore
    from hand_perception.core.conversions import RosbagsTypes
    from hand_perception.core.node_logic import TransformData, transform_to_msg

    tf = _tf(6)
    msg = transform_to_msg(TransformData("base_link", "cam_optical", T0 + 5, tf.translation, tf.quaternion), RosbagsTypes())
    back = fr.transform_from_msg(msg)
    assert (back.target_frame, back.source_frame, back.stamp_ns) == ("base_link", "cam_optical", T0 + 5)
    np.testing.assert_allclose(back.rotation, tf.rotation, atol=1e-12)
    np.testing.assert_allclose(back.translation, tf.translation)


# --------------------------------------------------------------------------- MANO with a root offset


@pytest.fixture(scope="module")
def mano_layers():
    """The procedural MANO-format model, moved so that its root joint is NOT at the origin and
    depends on betas (as in the licensed MANO files, J0 ~ (0.09, 0.006, 0.006) m): a transl that
    is merely rotated would then be wrong."""
    torch = pytest.importorskip("torch")
    from hand_models.mano import ManoLayer, load_mano_model

    layers = {}
    for side in ("left", "right"):
        data = load_mano_model(side, None)
        shapedirs = data.shapedirs.copy()
        shapedirs[:, :, 0] += np.array([0.004, -0.002, 0.003])  # beta 0 moves the whole hand (and J0)
        data = dataclasses.replace(data, v_template=data.v_template + np.array([0.095, 0.006, 0.006]),
                                   shapedirs=shapedirs)
        layers[side] = ManoLayer(side, data=data, dtype=torch.float64)
    return layers


def _mano_joints(layer, mano: ManoParams) -> np.ndarray:
    import torch

    out = layer(torch.as_tensor(mano.global_orient)[None], torch.as_tensor(mano.hand_pose)[None],
                torch.as_tensor(mano.betas)[None], torch.as_tensor(mano.transl)[None])
    return out.joints[0].numpy()


def test_mano_parameters_in_the_target_frame_reproduce_the_moved_hand(mano_layers):
    rng = np.random.default_rng(7)
    for side, layer in mano_layers.items():
        root = fr.RootJoint.from_model(layer.v_template.numpy(), layer.shapedirs.numpy(), layer.J_regressor.numpy())
        mano = ManoParams(global_orient=rng.normal(scale=0.8, size=3), hand_pose=rng.normal(scale=0.3, size=45),
                          betas=rng.normal(size=10), transl=np.array([0.05, -0.02, 0.6]))
        assert np.linalg.norm(root(mano.betas)) > 0.05  # the root joint is off the origin
        tf = _tf(8)
        joints = _mano_joints(layer, mano)
        moved = fr.transform_mano(mano, tf, root(mano.betas))
        np.testing.assert_allclose(_mano_joints(layer, moved), tf.apply(joints), atol=1e-9)
        np.testing.assert_array_equal(moved.hand_pose, mano.hand_pose)
        np.testing.assert_array_equal(moved.betas, mano.betas)
        # the naive transl (rotated like a point) misplaces the hand by centimetres
        naive = dataclasses.replace(moved, transl=tf.apply(mano.transl))
        assert np.abs(_mano_joints(layer, naive) - tf.apply(joints)).max() > 0.01


def test_transform_hand_and_frame(mano_layers):
    rng = np.random.default_rng(9)
    layer = mano_layers["right"]
    models = {s: fr.RootJoint.from_model(l.v_template.numpy(), l.shapedirs.numpy(), l.J_regressor.numpy())
              for s, l in mano_layers.items()}
    mano = ManoParams(rng.normal(size=3), rng.normal(scale=0.2, size=45), rng.normal(size=10), np.array([0.0, 0.1, 0.5]))
    joints = _mano_joints(layer, mano)
    quat = Rotation.from_rotvec(mano.global_orient).as_quat()
    hand = HandState(side="right", track_id=3, confidence=0.8, keypoints_2d=rng.uniform(0, 300, (21, 2)),
                     keypoint_confidence=np.ones(21), joints=joints, wrist_position=joints[0].copy(),
                     wrist_orientation_xyzw=quat, mano=mano, bbox=np.array([1.0, 2.0, 3.0, 4.0]), depth=0.5, model="m")
    frame = FrameResult(T0, "cam_optical", [hand, dataclasses.replace(hand, side="left", mano=None)], latency_s=0.01)
    tf = _tf(10)
    out = fr.transform_frame(frame, tf, fr.root_joint_fn(models))
    assert out.frame_id == "base_link" and out.stamp_ns == T0 and frame.frame_id == "cam_optical"
    r = out.hands[0]
    np.testing.assert_allclose(r.joints, tf.apply(joints))
    np.testing.assert_allclose(r.wrist_position, tf.apply(joints[0]))
    np.testing.assert_allclose(Rotation.from_quat(r.wrist_orientation_xyzw).as_matrix(),
                               tf.rotation @ Rotation.from_quat(quat).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(_mano_joints(layer, r.mano), r.joints, atol=1e-9)  # MANO and joints agree
    np.testing.assert_array_equal(r.keypoints_2d, hand.keypoints_2d)  # image quantities stay
    assert r.bbox is not hand.bbox or np.array_equal(r.bbox, hand.bbox)
    assert out.hands[1].mano is None
    np.testing.assert_array_equal(frame.hands[0].joints, joints)  # the input is not modified
    with pytest.raises(ValueError, match="root joint"):
        fr.transform_hand(hand, tf, None)


def test_transform_forecast():
    rng = np.random.default_rng(11)
    T = 6

    def traj(side):
        return HandTrajectory(side, rng.normal(size=(T, 3)), Rotation.random(T, random_state=1).as_quat(),
                              rng.normal(size=(T, 21, 3)), rng.normal(size=(T, 45)))

    fc = BimanualForecast(T0, "cam_optical", 0.1, 0.6, [ForecastSample(0.5, [traj("left"), traj("right")]),
                                                        ForecastSample(0.5, [traj("left"), traj("right")])],
                          ForecastSample(1.0, [traj("left"), traj("right")]))
    tf = _tf(12)
    out = fr.transform_forecast(fc, tf)
    assert out.frame_id == "base_link" and out.stamp_ns == T0 and len(out.samples) == 2
    for a, b in zip(fc.samples + [fc.mean], out.samples + [out.mean]):
        assert a.probability == b.probability
        for ha, hb in zip(a.hands, b.hands):
            np.testing.assert_allclose(hb.joints, tf.apply(ha.joints))
            np.testing.assert_allclose(hb.wrist_position, tf.apply(ha.wrist_position))
            np.testing.assert_array_equal(hb.hand_pose, ha.hand_pose)
            np.testing.assert_allclose(Rotation.from_quat(hb.wrist_orientation_xyzw).as_matrix(),
                                       tf.rotation @ Rotation.from_quat(ha.wrist_orientation_xyzw).as_matrix(), atol=1e-12)
    assert fr.transform_forecast(dataclasses.replace(fc, mean=None), tf).mean is None


# --------------------------------------------------------------------------- lookups, skips, counts


def _frame(frame_id="cam_optical", stamp=T0):
    j = np.zeros((21, 3)) + [0.0, 0.0, 0.5]
    hand = HandState("right", 1, 0.9, np.zeros((21, 2)), np.ones(21), j, j[0].copy(), np.array([0, 0, 0, 1.0]), None,
                     np.zeros(4))
    return FrameResult(stamp, frame_id, [hand])


def test_target_frame_transformer_skips_and_counts():
    tf = _tf(13)
    calls, waits = [], []
    outcome = {}

    def lookup(target, source, stamp, wait=True):
        calls.append((target, source, stamp))
        waits.append(wait)
        if "raise" in outcome:
            raise outcome["raise"]
        return dataclasses.replace(tf, stamp_ns=outcome.get("stamp", stamp))

    t = fr.TargetFrameTransformer("base_link", lookup, max_age_s=0.2)
    out = t.frame(_frame())
    assert out.frame_id == "base_link" and calls == [("base_link", "cam_optical", T0)]
    np.testing.assert_allclose(out.hands[0].joints, tf.apply(_frame().hands[0].joints))
    # already in the target frame: no lookup, unchanged
    same = t.frame(_frame("base_link"))
    assert len(calls) == 1 and same.frame_id == "base_link"
    np.testing.assert_allclose(same.hands[0].joints, _frame().hands[0].joints)

    for kind in ("missing", "loop", "no_path", "extrapolation"):
        outcome["raise"] = fr.TransformUnavailable(kind, f"{kind} happened")
        assert t.frame(_frame()) is None
    outcome.pop("raise")
    outcome["stamp"] = T0 - 10**9  # a transform 1 s older than the image: stale
    assert t.frame(_frame()) is None
    assert waits == [True, True, False, False, False, True]  # no waiting after missing/loop/no_path
    outcome["stamp"] = 0  # static transforms carry no stamp: accepted
    assert t.frame(_frame()) is not None
    assert t.skipped == {"missing": 1, "no_path": 1, "loop": 1, "stale": 1, "extrapolation": 1, "invalid": 0}
    values, problem = t.report()
    assert values["target_frame_skipped"] == 5 and values["target_frame_outputs"] == 3
    assert "stale" in values["target_frame_last_error"] and "5 of 8" in problem
    # the next report describes the current state: no new skips -> no problem
    assert t.frame(_frame()) is not None
    values, problem = t.report()
    assert problem is None and values["target_frame_skipped"] == 5
    # forecasts go the same way
    fc = BimanualForecast(T0, "cam_optical", 0.1, 0.1, [ForecastSample(1.0, [])])
    assert t.forecast(fc).frame_id == "base_link"
    outcome["raise"] = fr.TransformUnavailable("missing", "no base_link")
    assert t.forecast(fc) is None and t.skipped["missing"] == 2
    with pytest.raises(ValueError):
        fr.TargetFrameTransformer("", lookup)


def test_wrist_tf_per_side_and_per_track():
    from hand_perception.core import node_logic as nl

    a, b = _frame().hands[0], _frame().hands[0]
    b = dataclasses.replace(b, track_id=7, confidence=0.5, wrist_position=np.array([0.1, 0.0, 0.5]))
    c = dataclasses.replace(a, side="left", track_id=-1)
    frame = FrameResult(T0, "cam", [a, b, c])
    names = [t.child for t in nl.wrist_transforms(frame)]
    assert sorted(names) == ["hand_left_wrist", "hand_right_wrist"]
    tfs = {t.child: t for t in nl.wrist_transforms(frame, per_track=True)}
    assert set(tfs) == {"hand_left_wrist", "hand_right_wrist", "hand_track_1_wrist", "hand_track_7_wrist"}
    assert all(t.parent == "cam" and t.stamp_ns == T0 for t in tfs.values())
    np.testing.assert_allclose(tfs["hand_track_7_wrist"].translation, [0.1, 0.0, 0.5])
    np.testing.assert_allclose(tfs["hand_track_1_wrist"].translation, tfs["hand_right_wrist"].translation)


def test_tf2_error_kinds():
    assert fr.tf2_error_kind("LookupException", '"map" passed to lookupTransform argument target_frame does not exist. ') == "missing"
    assert fr.tf2_error_kind("LookupException", "The tf tree is invalid because it contains a loop.") == "loop"
    assert fr.tf2_error_kind("ConnectivityException", "Could not find a connection between 'a' and 'b'") == "no_path"
    assert fr.tf2_error_kind("ExtrapolationException", "Lookup would require extrapolation into the future.") == "stale"
    assert fr.tf2_error_kind("ExtrapolationException", "Lookup would require extrapolation into the past.") == "extrapolation"
    assert fr.tf2_error_kind("InvalidArgumentException", "quaternion is not normalized") == "invalid"
