"""The nodes' decisions, tested without ROS (hand_perception.core.node_logic): QoS and parameter
declarations as data, the parameter file, Image/CameraInfo pairing, backpressure, statistics,
stamp order, diagnostics, markers, TF and their messages (CDR round trips with rosbags)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hand_perception.core import node_logic as nl
from hand_perception.core.config import PipelineConfig
from hand_perception.core.conversions import RosbagsTypes, stamp_to_time
from hand_perception.core.image_codec import camera_info_to_intrinsics, encode_image
from hand_perception.core.types import CameraIntrinsics, FrameResult, HandState

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "ros2_ws" / "src" / "hand_perception"
PARAMS_FILE = PKG / "config" / "hand_perception.yaml"
EXECUTABLES = ("hand_estimator", "hand_forecaster", "hand_perception_node")
K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def rb() -> RosbagsTypes:
    return RosbagsTypes()


def make_hand(side: str = "right", track_id: int = 1, confidence: float = 0.9, offset: float = 0.0,
              observed: bool = True) -> HandState:
    rng = np.random.default_rng(track_id)
    joints = rng.normal(scale=0.03, size=(21, 3)) + [offset, 0.0, 0.5]
    return HandState(
        side=side, track_id=track_id, confidence=confidence,
        keypoints_2d=rng.uniform(0, 400, (21, 2)), keypoint_confidence=np.ones(21),
        joints=joints, wrist_position=joints[0].copy(), wrist_orientation_xyzw=np.array([0.0, 0.0, 0.0, 2.0]),
        mano=None, bbox=np.array([0.0, 0.0, 10.0, 10.0]), is_observed=observed,
    )


# =========================================================================== QoS


def test_qos_inputs_sensor_data_outputs_reliable():
    assert nl.SENSOR_DATA_QOS == nl.QosSpec("best_effort", "volatile", "keep_last", 5)
    for exe, topics in nl.TOPICS.items():
        for t in topics:
            if t.direction == "in":
                assert t.qos == nl.SENSOR_DATA_QOS, (exe, t.name)
            else:
                assert t.qos.reliability == "reliable", (exe, t.name)
    # sensor-data subscriptions accept every publisher; our reliable outputs satisfy reliable readers
    assert nl.qos_compatible(nl.OUTPUT_QOS, nl.SENSOR_DATA_QOS)
    assert nl.qos_compatible(nl.SENSOR_DATA_QOS, nl.SENSOR_DATA_QOS)
    assert not nl.qos_compatible(nl.SENSOR_DATA_QOS, nl.OUTPUT_QOS)
    assert nl.qos_compatible(nl.OUTPUT_QOS, nl.OUTPUT_QOS)
    with pytest.raises(ValueError):
        nl.QosSpec("sometimes", "volatile", "keep_last", 1)


def test_topics_per_executable():
    names = {exe: {t.name for t in topics} for exe, topics in nl.TOPICS.items()}
    assert {"image", "camera_info", "hands", "hands/markers", "/tf", "/diagnostics"} <= names["hand_estimator"]
    assert {"hands", "hands/forecast", "hands/forecast/target", "hands/action", "/diagnostics"} == names["hand_forecaster"]
    for topic, copy in nl.TARGET_FRAME_TOPICS.items():  # target_frame copies next to their outputs
        assert any(topic in n and copy in n for n in names.values())
    combined = {(t.name, t.direction) for t in nl.TOPICS["hand_perception_node"]}
    assert ("hands", "in") not in combined  # no serialization between the stages
    assert {("hands", "out"), ("hands/forecast", "out"), ("hands/action", "out")} <= combined
    assert nl.topic("hand_estimator", "image").msg_type == "sensor_msgs/msg/Image"
    with pytest.raises(KeyError):
        nl.topic("hand_forecaster", "image")


# =========================================================================== parameters


def test_parameter_specs_have_descriptions_and_consistent_ranges():
    for exe in EXECUTABLES:
        specs = nl.node_parameters(exe)
        names = [s.name for s in specs]
        assert len(names) == len(set(names))
        for s in specs:
            assert len(s.description) > 15, s.name
            assert s.check(s.default) is None, s.name
            if s.min is not None:
                assert s.type in ("integer", "double") and s.min <= s.default <= s.max


def test_param_check_is_strict_like_rclpy():
    spec = nl.ParamSpec("x", 1.0, "a double parameter", min=0.0, max=2.0)
    assert spec.check(1.5) is None
    assert "expected double" in spec.check(1)
    assert "maximum" in spec.check(3.0)
    assert "not finite" in nl.ParamSpec("y", 1.0, "a double", ).check(float("nan"))
    choice = nl.ParamSpec("m", "raw", "choice", choices=("raw", "compressed"))
    assert "not one of" in choice.check("theora")
    assert nl.param_type([1.0, 2.0]) == "double_array" and nl.param_type(True) == "bool"


@pytest.mark.parametrize("exe", EXECUTABLES)
def test_params_file_matches_declarations(exe):
    values = nl.load_ros_params_file(PARAMS_FILE, nl.NODE_NAMES[exe])
    specs = nl.node_parameters(exe) + nl.pipeline_parameter_specs()
    # every key is declared by some node and valid for the nodes that declare it
    all_specs = {s.name: s for e in EXECUTABLES for s in nl.node_parameters(e)} | {
        s.name: s for s in nl.pipeline_parameter_specs()}
    assert not [k for k in values if k not in all_specs]
    mine = {k: v for k, v in values.items() if k in {s.name for s in specs}}
    assert nl.validate_parameters(mine, specs) == []
    # the inline pipeline keys build a valid PipelineConfig
    cfg = nl.pipeline_config_from_parameters(values)
    assert cfg.forecast.rate_hz == values["pipeline.forecast.rate_hz"]


def test_params_file_format():
    import yaml

    data = yaml.safe_load(PARAMS_FILE.read_text())
    assert list(data) == ["/**"] and "ros__parameters" in data["/**"]
    flat = nl.load_ros_params_file(PARAMS_FILE, "anything")
    assert flat["autostart"] is True and flat["queue_size"] == 2
    assert isinstance(flat["diagnostics_period_s"], float)


def test_load_ros_params_file_section_matching(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    a: 1\n    nested:\n      b: 2\n"
        "hand_estimator:\n  ros__parameters:\n    a: 10\n"
        "/robot/hand_forecaster:\n  ros__parameters:\n    a: 20\n"
        "/robot/*:\n  ros__parameters:\n    c: 3\n"
    )
    assert nl.load_ros_params_file(f, "hand_estimator") == {"a": 10, "nested.b": 2}
    assert nl.load_ros_params_file(f, "hand_forecaster") == {"a": 1, "nested.b": 2}
    assert nl.load_ros_params_file(f, "hand_forecaster", "robot") == {"a": 20, "nested.b": 2, "c": 3}
    bad = tmp_path / "bad.yaml"
    bad.write_text("node:\n  params:\n    a: 1\n")
    with pytest.raises(ValueError, match="ros__parameters"):
        nl.load_ros_params_file(bad, "node")


def test_validate_parameters_reports_problems():
    specs = nl.node_parameters("hand_estimator")
    problems = nl.validate_parameters(
        {"queue_size": 0, "marker_lifetime_s": 1, "image_transport": "theora", "nope": 1, "pipeline.x": 1}, specs)
    text = "\n".join(problems)
    assert "queue_size" in text and "minimum" in text
    assert "marker_lifetime_s: expected double" in text
    assert "theora" in text and "nope: not a parameter" in text
    assert "pipeline.x" not in text


def test_pipeline_parameters_round_trip():
    base = PipelineConfig()
    specs = nl.pipeline_parameter_specs(base)
    values = {s.name: s.default for s in specs}
    assert values["pipeline.estimator.mano_dir"] == ""  # None as an empty string
    assert values["pipeline.forecast.velocity_scales"] == [1.0, 0.5, 1.5]
    assert nl.pipeline_config_from_parameters(values).to_dict() == base.to_dict()
    values.update({"pipeline.estimator.max_hands": 1, "pipeline.forecast.horizon_s": 0.5,
                   "pipeline.estimator.mano_dir": "/opt/mano", "backend": "tflite"})
    cfg = nl.pipeline_config_from_parameters(values)
    assert cfg.estimator.max_hands == 1 and cfg.forecast.horizon_s == 0.5
    assert cfg.estimator.mano_dir == "/opt/mano" and cfg.estimator.backend == "tflite"
    assert isinstance(cfg.forecast.velocity_scales, tuple)
    with pytest.raises(ValueError, match="unknown pipeline parameter"):
        nl.pipeline_config_from_parameters({"pipeline.estimator.nope": 1})
    with pytest.raises(ValueError):
        nl.pipeline_config_from_parameters({"pipeline.temporal.model": "unscented"})
    # device is ignored while the estimator has no device setting
    nl.pipeline_config_from_parameters({"device": "cuda:0"})
    # a loaded file's values become the parameter defaults, with the declared types (a YAML 1 for
    # a float field stays a double parameter, or the ROS parameter file's 1.0 would be rejected)
    from hand_perception.core.config import pipeline_config_from_dict

    custom = pipeline_config_from_dict({"temporal": {"max_gap_s": 1}, "forecast": {"velocity_scales": [1, 2, 3]}})
    defaults = {s.name: s.default for s in nl.pipeline_parameter_specs(custom)}
    assert defaults["pipeline.temporal.max_gap_s"] == 1.0 and isinstance(defaults["pipeline.temporal.max_gap_s"], float)
    assert defaults["pipeline.forecast.velocity_scales"] == [1.0, 2.0, 3.0]
    assert all(isinstance(v, float) for v in defaults["pipeline.forecast.velocity_scales"])


def test_resolve_config_path(tmp_path):
    (tmp_path / "pipe.yaml").write_text("{}")
    assert nl.resolve_config_path("", [tmp_path]) is None
    assert nl.resolve_config_path("pipe.yaml", [tmp_path]) == str((tmp_path / "pipe.yaml").resolve())
    with pytest.raises(FileNotFoundError):
        nl.resolve_config_path("missing.yaml", [tmp_path])
    assert Path(nl.default_params_file()).name == "hand_perception.yaml"


# =========================================================================== camera info pairing


def _intr(fx: float = 500.0) -> CameraIntrinsics:
    return camera_info_to_intrinsics([fx] + K[1:4] + [fx] + K[5:], [], 640, 480, "plumb_bob")


def test_pairer_cache_mode():
    p = nl.CameraInfoPairer("cache")
    assert p.match(0, "cam") == (None, "no camera_info received")
    p.add(100, "cam", _intr(400))
    p.add(200, "cam", _intr(500))
    intr, problem = p.match(50, "cam")
    assert problem is None and intr.K[0, 0] == 500  # the latest, whatever the image stamp
    # a camera publishing one frame_id that differs from the image's: used, with a note
    intr, problem = p.match(50, "other")
    assert intr is not None and "differs" in problem
    p.add(300, "second", _intr(600))
    assert p.match(50, "other")[0] is None


def test_pairer_sync_mode_and_invalid_info():
    p = nl.CameraInfoPairer("sync", slop_s=0.01)
    p.add(1_000_000_000, "cam", _intr(400))
    p.add(1_100_000_000, "cam", _intr(500))
    assert p.match(1_095_000_000, "cam")[0].K[0, 0] == 500
    assert p.match(1_003_000_000, "cam")[0].K[0, 0] == 400
    intr, problem = p.match(1_050_000_000, "cam")
    assert intr is None and "within" in problem
    p.add(1_200_000_000, "cam", None, "invalid camera_info: NaN")
    intr, problem = p.match(1_200_000_000, "cam")
    assert intr is None and "NaN" in problem and p.invalid == 1
    p.add(10, "cam", _intr(700))  # looped bag: history restarts
    assert p.match(10, "cam")[0].K[0, 0] == 700
    with pytest.raises(ValueError):
        nl.CameraInfoPairer("exact")


def test_pairer_add_msg_converts(rb):
    msg = SimpleNamespace(header=SimpleNamespace(stamp=stamp_to_time(5, rb), frame_id="cam"), k=K,
                          d=[0.0] * 5, p=[0.0] * 12, width=640, height=480, distortion_model="plumb_bob",
                          binning_x=0, binning_y=0)
    p = nl.CameraInfoPairer()
    assert p.add_msg(msg) is None
    bad = SimpleNamespace(**{**msg.__dict__, "k": [float("nan")] * 9})
    assert "invalid camera_info" in p.add_msg(bad)


# =========================================================================== backpressure


def test_frame_queue_drops_oldest_and_counts():
    q = nl.FrameQueue(2)
    assert q.put(1) is None and q.put(2) is None
    assert q.put(3) == 1 and q.put(4) == 2
    assert q.dropped == 2 and q.pushed == 4 and len(q) == 2
    assert q.get(0) == 3 and q.get(0) == 4 and q.get(0.01) is None
    q.close()
    assert q.get(None) is None  # closed: never blocks
    with pytest.raises(ValueError):
        nl.FrameQueue(0)


def test_slow_worker_drops_frames_never_queues_unbounded():
    q = nl.FrameQueue(2)
    done: list[int] = []

    def slow(item: int) -> None:
        time.sleep(0.05)
        done.append(item)

    w = nl.QueueWorker(q, slow)
    w.start()
    for i in range(50):
        q.put(i)
        time.sleep(0.002)
    deadline = time.time() + 2.0  # let the worker finish what is left (at most the queue size)
    while (len(q) or not done or done[-1] != 49) and time.time() < deadline:
        time.sleep(0.01)
    assert w.stop(timeout=2.0)
    assert len(q) == 0 or len(q) <= 2
    assert q.dropped > 20 and len(done) + q.dropped + len(q) == 50
    assert done == sorted(done) and done[-1] == 49  # newest frames win


def test_worker_survives_handler_errors():
    q = nl.FrameQueue(10)
    errors, ok = [], []

    def handler(item):
        if item % 2:
            raise ValueError(f"bad {item}")
        ok.append(item)

    w = nl.QueueWorker(q, handler, on_error=lambda exc, item: errors.append((str(exc), item)))
    w.start()
    for i in range(6):
        q.put(i)
    deadline = time.time() + 2
    while len(ok) + len(errors) < 6 and time.time() < deadline:
        time.sleep(0.01)
    assert w.running and w.stop()
    assert ok == [0, 2, 4] and [e[1] for e in errors] == [1, 3, 5] and w.errors == 3
    w.start()  # restartable (deactivate/activate)
    q.put(8)
    deadline = time.time() + 2
    while 8 not in ok and time.time() < deadline:
        time.sleep(0.01)
    assert 8 in ok and w.stop()


# =========================================================================== statistics


def test_running_stats_rates_and_percentiles():
    s = nl.RunningStats(window=100)
    for i in range(31):
        s.on_input(now=i / 30)
        s.on_output(0.010 + 0.001 * (i % 10), now=i / 30 + 0.01)
    d = s.as_dict(now=1.0)
    assert d["input_rate_hz"] == pytest.approx(30.0)
    assert d["output_rate_hz"] == pytest.approx(30.0)
    lat = [0.010 + 0.001 * (i % 10) for i in range(31)]
    assert d["latency_p50_ms"] == pytest.approx(np.percentile(lat, 50) * 1e3)
    assert d["latency_p99_ms"] == pytest.approx(np.percentile(lat, 99) * 1e3)
    assert d["frames_received"] == 31 and d["frames_processed"] == 31
    # a stream that stopped: its rate decays instead of freezing
    assert s.as_dict(now=10.0)["input_rate_hz"] < 5
    empty = nl.RunningStats().as_dict()
    assert empty["input_rate_hz"] == 0.0 and np.isnan(empty["latency_p50_ms"])


def test_running_stats_window_is_bounded():
    s = nl.RunningStats(window=10)
    for i in range(1000):
        s.on_output(float(i), now=float(i))
    assert len(s.latencies()) == 10 and min(s.latencies()) == 990.0


def test_stamp_monitor_and_rate_limiter():
    m = nl.StampMonitor()
    assert [m.check(s) for s in (10, 20, 20, 5, 6)] == ["first", "ok", "repeat", "backwards", "ok"]
    assert m.resets == 1 and m.repeats == 1
    r = nl.StreamRateLimiter(10.0)
    due = [r.due(int(i * 1e9 / 30)) for i in range(10)]
    assert due == [True, False, False, True, False, False, True, False, False, True]
    assert r.due(0)  # backwards restarts
    assert all(nl.StreamRateLimiter(0).due(i) for i in range(3))


def test_throttled_log():
    out = []
    t = nl.ThrottledLog(out.append, period_s=1.0)
    assert t("k", "a", now=0.0) and not t("k", "b", now=0.5) and not t("k", "c", now=0.7)
    assert t("other", "d", now=0.8)
    assert t("k", "e", now=1.1)
    assert out == ["a", "d", "e (+2 similar)"]


# =========================================================================== diagnostics


def test_diagnostic_status_levels():
    s = nl.RunningStats()
    for i in range(10):
        s.on_input(now=i * 0.1)
        s.on_output(0.02, now=i * 0.1)
    info = {"backend": "tflite", "detector": "mediapipe"}
    ok = nl.diagnostic_status("est", "/est", s.as_dict(now=1.0), info)
    assert ok.level == nl.DIAG_OK and "Hz" in ok.message
    values = dict(ok.values)
    for key in ("input_rate_hz", "latency_p50_ms", "latency_p99_ms", "frames_dropped", "backend", "detector"):
        assert key in values
    s.dropped = 5
    warn = nl.diagnostic_status("est", "/est", s.as_dict(now=1.0), info)
    assert warn.level == nl.DIAG_WARN and "dropped" in warn.message
    assert nl.diagnostic_status("est", "/est", s.as_dict(), info, state="inactive").level == nl.DIAG_ERROR
    stale = nl.diagnostic_status("est", "/est", s.as_dict(), info, stale_after_s=2.0, seconds_since_input=5.0)
    assert stale.level == nl.DIAG_STALE
    fresh = nl.diagnostic_status("est", "/est", nl.RunningStats().as_dict(), info)
    assert fresh.level == nl.DIAG_OK and fresh.message == "waiting for input"


def test_diagnostics_message_round_trip(rb):
    status = nl.DiagnosticData(nl.DIAG_WARN, "n", "m", "hw", [("a", "1"), ("b", "x")])
    msg = nl.diagnostics_to_msg([status], 123, rb)
    back = rb.deserialize(rb.serialize(msg), nl.DIAGNOSTIC_ARRAY_TYPE)
    assert back.status[0].level == 1 and back.status[0].values[1].value == "x"
    assert back.header.stamp.nanosec == 123


def test_byte_fields_for_rclpy_style_providers():
    """rclpy wants ``bytes`` of length 1 for ``byte`` fields (DiagnosticStatus.level)."""

    class Strict:
        def __init__(self, name):
            self.name = name

        def __call__(self, **kw):
            return SimpleNamespace(_type=self.name, **kw)

    class FakeRclpy(nl.MessageTypes):
        def _load(self, name):
            return Strict(name)

    msg = nl.diagnostics_to_msg([nl.DiagnosticData(2, "n", "m", "h", [])], 5, FakeRclpy())
    assert msg.status[0].level == b"\x02"


# =========================================================================== markers and TF


def test_hand_markers():
    frame = FrameResult(7, "cam", [make_hand("right", 1, 0.9), make_hand("left", 2, 0.8),
                                   make_hand("right", 3, 0.5, observed=False)])
    markers = nl.hand_markers(frame, lifetime_s=0.3, joint_diameter_m=0.01, line_width_m=0.003)
    assert markers[0].action == nl.MARKER_DELETEALL
    adds = markers[1:]
    assert len(adds) == 6
    lines = [m for m in adds if m.type == nl.MARKER_LINE_LIST]
    spheres = [m for m in adds if m.type == nl.MARKER_SPHERE_LIST]
    assert all(m.points.shape == (40, 3) for m in lines)  # 20 bones, two points each
    assert all(m.points.shape == (21, 3) for m in spheres)
    assert {(m.ns, m.id) for m in adds} == {("left_skeleton", 0), ("left_joints", 0), ("right_skeleton", 0),
                                          ("right_joints", 0), ("right_skeleton", 1), ("right_joints", 1)}
    colours = {m.ns.split("_")[0]: m.color[:3] for m in adds}
    assert colours["left"] != colours["right"]
    bridged = [m for m in adds if m.ns == "right_joints" and m.id == 1][0]
    assert bridged.color[3] == nl.UNOBSERVED_ALPHA
    assert all(m.lifetime_s == 0.3 and m.frame_id == "cam" and m.stamp_ns == 7 for m in adds)
    bad = make_hand("left")
    bad.joints[3, 0] = np.nan
    assert len(nl.hand_markers(FrameResult(1, "cam", [bad]))) == 1  # only the DELETEALL


def test_marker_array_round_trip(rb):
    frame = FrameResult(1_500_000_000, "cam", [make_hand("left"), make_hand("right", 2)])
    msg = nl.markers_to_msg(nl.hand_markers(frame, lifetime_s=0.25), rb)
    back = rb.deserialize(rb.serialize(msg), nl.MARKER_ARRAY_TYPE)
    assert len(back.markers) == 5
    m = back.markers[1]
    assert m.type in (nl.MARKER_LINE_LIST, nl.MARKER_SPHERE_LIST) and m.pose.orientation.w == 1.0
    assert (m.lifetime.sec, m.lifetime.nanosec) == (0, 250_000_000)
    assert m.header.stamp.sec == 1 and m.header.stamp.nanosec == 500_000_000
    assert len(m.points) in (21, 40)


def test_wrist_transforms(rb):
    frame = FrameResult(9, "cam", [make_hand("right", 1, 0.5), make_hand("right", 2, 0.9, offset=0.2),
                                   make_hand("left", 3, observed=False)])
    tfs = nl.wrist_transforms(frame, prefix="h_")
    assert [t.child for t in tfs] == ["h_left_wrist", "h_right_wrist"]
    right = tfs[1]
    np.testing.assert_allclose(right.translation, frame.hands[1].wrist_position)  # the most confident
    np.testing.assert_allclose(np.linalg.norm(right.rotation_xyzw), 1.0)
    assert right.parent == "cam" and right.stamp_ns == 9
    assert [t.child for t in nl.wrist_transforms(frame, only_observed=True)] == ["hand_right_wrist"]
    msg = nl.transforms_to_tf_msg(tfs, rb)
    back = rb.deserialize(rb.serialize(msg), nl.TF_MESSAGE_TYPE)
    assert back.transforms[1].child_frame_id == "h_right_wrist" and back.transforms[1].header.frame_id == "cam"
    nan = make_hand("left")
    nan.wrist_orientation_xyzw = np.zeros(4)
    assert nl.wrist_transforms(FrameResult(1, "c", [nan])) == []


def test_make_message_defaults(rb):
    img = nl.make_message(rb, "sensor_msgs/msg/Image", height=2, width=2, encoding="rgb8", step=6,
                          data=np.zeros(12, np.uint8))
    back = rb.deserialize(rb.serialize(img), "sensor_msgs/msg/Image")
    assert back.header.frame_id == "" and back.step == 6
    info = nl.make_message(rb, "sensor_msgs/msg/CameraInfo")
    assert info.k.shape == (9,) and info.d.size == 0
    with pytest.raises(ValueError, match="no fields"):
        nl.make_message(rb, "std_msgs/msg/Header", nope=1)


# =========================================================================== per-frame decisions


def _image_msg(stamp: int, rgb: np.ndarray, **change) -> SimpleNamespace:
    return SimpleNamespace(**{**encode_image(rgb, "rgb8"), **change})


def test_prepare_frame_paths():
    from hand_perception.core.image_codec import image_to_rgb

    rgb = np.zeros((48, 64, 3), np.uint8)
    pairer = nl.CameraInfoPairer()
    stamps = nl.StampMonitor()
    stats = nl.RunningStats()
    ok_msg = _image_msg(1, rgb)

    def prep(stamp, msg=ok_msg, require=False, frame_id="cam"):
        return nl.prepare_frame(lambda: image_to_rgb(msg), stamp, frame_id, pairer, stamps, stats, require)

    # no camera_info: default intrinsics with a warning, or dropped when required
    f = prep(10)
    assert f.skip_reason is None and f.intrinsics is None and "default focal" in f.warnings[0]
    assert prep(11, require=True).skip_reason.endswith("(require_camera_info)")
    # camera_info for a 2x larger image: scaled to this one
    pairer.add(0, "cam", camera_info_to_intrinsics(K, [], 128, 96, "plumb_bob"))
    f = prep(12)
    assert f.intrinsics.K[0, 0] == pytest.approx(250.0) and any("scaled" in w for w in f.warnings)
    # duplicate stamp: skipped; stamp going back: processed with a reset warning
    assert prep(12).skip_reason.startswith("duplicate")
    f = prep(5)
    assert f.skip_reason is None and "went backwards" in f.warnings[0]
    # bad image: skipped and counted
    bad = _image_msg(1, rgb, step=10)
    f = prep(20, msg=bad)
    assert f.image is None and "bad image" in f.skip_reason and stats.bad == 1
    # empty frame id falls back
    assert prep(30, frame_id="").frame_id == "camera"
    assert stats.duplicates == 1 and stats.stamp_resets == 1 and stats.default_intrinsics == 1


def test_build_forecaster():
    f = nl.build_forecaster(PipelineConfig())
    assert hasattr(f, "observe") and f.forecast() is None


def test_concurrent_pairer_access():
    p = nl.CameraInfoPairer("sync", slop_s=1.0)
    errors = []

    def writer():
        for i in range(500):
            p.add(i, "cam", _intr())

    def reader():
        try:
            for i in range(500):
                p.match(i, "cam")
        except Exception as exc:  # pragma: no cover - failure path
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
