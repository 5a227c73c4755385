"""hand_perception_msgs and the conversion layer, checked against the .msg files themselves.

No ROS needed: the .msg files are parsed with ``rosbags``; messages are built by
``hand_perception.core.conversions`` both as rosbags dataclasses (CDR round trips, an mcap
rosbag2) and as instances of strict keyword-only classes that behave like rclpy's generated
classes in ROS 2 Jazzy (same code path the nodes take with ``RclpyTypes``).
"""

from __future__ import annotations

import array
import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rosbags = pytest.importorskip("rosbags")

from rosbags.rosbag2 import Reader, StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore, get_types_from_msg  # noqa: E402
from rosbags.typesys.base import Nodetype  # noqa: E402

from hand_perception.core import conversions as conv  # noqa: E402
from hand_perception.core.types import BimanualForecast, ForecastSample, FrameResult  # noqa: E402
from message_cases import (  # noqa: E402,F401 - rb, fielddefs: fixtures used by name
    CASES,
    COMPARE,
    EXPECTED_MSGS,
    NOT_FROM_CORE,
    PKG,
    FakeRclpyTypes,
    _differs,
    _FakeRclpyMessage,
    _full,
    _pattern,
    assert_core_equal,
    assert_forecast_close,
    assert_hand_forecast_close,
    check_against_defs,
    field_patterns,
    fielddefs,
    leaves,
    make_action,
    make_forecast,
    make_frame_result,
    make_hand,
    make_hand_forecast,
    make_trajectory,
    rb,
)


# --------------------------------------------------------------------------- the package itself


SOURCE_MSG_DIR = Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / PKG / "msg"


def _assert_msg_dir_is_this_package(found: Path) -> None:
    """``conv.msg_dir()`` is the source ``msg/`` folder or, with the workspace sourced (its
    non-symlinked install first on the path), the installed ``share/<PKG>/msg`` holding the same
    files."""
    if found == SOURCE_MSG_DIR:
        return
    assert found.parts[-3:] == ("share", PKG, "msg"), f"{found} is neither {SOURCE_MSG_DIR} nor an installed share folder"
    source = {p.name: p.read_text() for p in SOURCE_MSG_DIR.glob("*.msg")}
    installed = {p.name: p.read_text() for p in found.glob("*.msg")}
    assert installed == source, f"{found} differs from {SOURCE_MSG_DIR}: rebuild the workspace (colcon build)"


def test_msg_dir_check_accepts_an_installed_share_folder(tmp_path: Path) -> None:
    share = tmp_path / "install" / PKG / "share" / PKG / "msg"
    share.mkdir(parents=True)
    for p in SOURCE_MSG_DIR.glob("*.msg"):
        (share / p.name).write_text(p.read_text())
    _assert_msg_dir_is_this_package(share)  # what ament_index finds with ROS sourced
    first = sorted(share.glob("*.msg"))[0]
    first.write_text(first.read_text() + "\nint32 stale_field\n")
    with pytest.raises(AssertionError, match="rebuild the workspace"):
        _assert_msg_dir_is_this_package(share)
    with pytest.raises(AssertionError, match="neither"):
        _assert_msg_dir_is_this_package(tmp_path)


def test_every_msg_parses_and_package_lists_them(rb: conv.RosbagsTypes) -> None:
    files = conv.msg_files()
    assert {Path(p).stem for p in files.values()} == EXPECTED_MSGS
    _assert_msg_dir_is_this_package(conv.msg_dir())
    for name, path in files.items():
        parsed = get_types_from_msg(path.read_text(), name)
        assert name in parsed
        assert name in rb.typestore.types
    pkg_dir = SOURCE_MSG_DIR.parent  # CMakeLists.txt is not installed

    # CMakeLists.txt lists exactly the msg files and the foreign packages they use.
    cmake = (pkg_dir / "CMakeLists.txt").read_text()
    listed = set(re.findall(r'"msg/(\w+)\.msg"', cmake))
    assert listed == EXPECTED_MSGS
    used = {
        typ.split("/")[0]
        for _, fields in rb.definitions.values()
        for _, (kind, spec) in fields
        for typ in _named_types(kind, spec)
    } - {PKG}
    assert used == {"std_msgs", "geometry_msgs", "builtin_interfaces"}
    deps = re.search(r"DEPENDENCIES([^)]*)\)", cmake)
    assert deps is not None and set(deps.group(1).split()) == used
    for pkg in used:
        assert f"find_package({pkg} REQUIRED)" in cmake
    assert "rosidl_generate_interfaces(${PROJECT_NAME}" in cmake

    # package.xml: format 3, ament_cmake, rosidl group, depends on every used package.
    root = ET.parse(pkg_dir / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == PKG
    assert root.findtext("export/build_type") == "ament_cmake"
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    build = {e.text for e in root.findall("buildtool_depend")} | {e.text for e in root.findall("build_depend")}
    assert {"ament_cmake", "rosidl_default_generators"} <= build
    assert "rosidl_default_runtime" in {e.text for e in root.findall("exec_depend")}
    assert used <= {e.text for e in root.findall("depend")}


def _named_types(kind: Nodetype, spec: Any) -> list[str]:
    if kind == Nodetype.NAME:
        return [spec]
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        (sub_kind, sub_spec), _ = spec
        return _named_types(sub_kind, sub_spec)
    return []


def test_names_follow_rosidl_rules(rb: conv.RosbagsTypes) -> None:
    """Field, constant and type names that rosidl (Jazzy) accepts and that collide with nothing."""
    field_re = re.compile(r"^(?!.*__)(?!.*_$)[a-z][a-z0-9_]*$")
    const_re = re.compile(r"^[A-Z]([A-Z0-9_]?[A-Z0-9]+)*$")
    type_re = re.compile(r"^[A-Z][A-Za-z0-9]*$")
    reserved = {  # Python, C++ and IDL keywords that could appear as field names
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
        "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
        "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "self",
        "default", "delete", "new", "operator", "private", "public", "struct", "switch", "union",
        "module", "sequence", "string", "boolean", "octet", "enum", "const", "typedef", "interface",
        "float", "double", "long", "short", "char", "int", "unsigned", "void", "case", "out", "inout",
    }
    for path in conv.msg_files().values():
        text = path.read_text(encoding="utf-8")
        # rosidl_adapter turns comments into IDL string literals through 'unicode_escape':
        # keep them ASCII, without backslashes or tabs.
        assert text.isascii() and "\\" not in text and "\t" not in text, path.name
    for name, (consts, fields) in rb.definitions.items():
        assert type_re.match(name.split("/")[-1]), name
        for const, _, _ in consts:
            assert const_re.match(const), f"{name}: constant {const}"
        for field, _ in fields:
            assert field_re.match(field), f"{name}: field {field}"
            assert field not in reserved, f"{name}: field {field}"


def test_constants_match_conversions(rb: conv.RosbagsTypes) -> None:
    for name in ("Hand", "HandTrajectory", "ActionEstimate"):
        consts = {c: v for c, _, v in rb.definitions[_full(name)][0]}
        assert consts["LEFT"] == conv.SIDE_LEFT and consts["RIGHT"] == conv.SIDE_RIGHT
        cls = rb[_full(name)]
        assert cls.LEFT == conv.SIDE_LEFT and cls.RIGHT == conv.SIDE_RIGHT
    consts = {c: v for c, _, v in rb.definitions[_full("ActionEstimate")][0]}
    assert consts["BOTH"] == conv.SIDE_BOTH
    from hand_perception.core.forecast_packing import CODE_NAN

    assert {c: v for c, _, v in rb.definitions[_full("HandTrajectory")][0]}["CODE_NAN"] == CODE_NAN
    assert len({conv.SIDE_LEFT, conv.SIDE_RIGHT, conv.SIDE_BOTH}) == 3


# --------------------------------------------------------------------------- structure vs .msg


@pytest.mark.parametrize("name", sorted(CASES))
def test_messages_match_msg_definitions(name: str, rb: conv.RosbagsTypes, fielddefs: dict[str, Any]) -> None:
    to_msg, _, factory = CASES[name]
    msg = to_msg(factory(np.random.default_rng(1), 0), rb)
    assert msg.__msgtype__ == _full(name)
    check_against_defs(msg, _full(name), fielddefs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_field_is_filled_from_the_core_type(
    name: str, rb: conv.RosbagsTypes, fielddefs: dict[str, Any]
) -> None:
    """Two different core objects give messages that differ in every leaf field of the .msg."""
    to_msg, _, factory = CASES[name]
    a = leaves(to_msg(factory(np.random.default_rng(2), 0), rb), _full(name), fielddefs)
    b = leaves(to_msg(factory(np.random.default_rng(3), 1), rb), _full(name), fielddefs)
    differing = {_pattern(p) for p in a.keys() & b.keys() if _differs(a[p], b[p])}
    differing |= {_pattern(p) for p in a.keys() ^ b.keys()}
    expected = field_patterns(_full(name), fielddefs) - NOT_FROM_CORE.get(name, set())
    assert expected - differing == set(), "fields not filled from the core type"


# --------------------------------------------------------------------------- CDR round trips


@pytest.mark.parametrize("name", sorted(CASES))
def test_cdr_round_trip(name: str, rb: conv.RosbagsTypes) -> None:
    to_msg, from_msg, factory = CASES[name]
    for variant in (0, 1):
        core = factory(np.random.default_rng(10 + variant), variant)
        data = rb.serialize(to_msg(core, rb))
        decoded = rb.deserialize(data, _full(name))
        assert rb.serialize(decoded) == data
        COMPARE.get(name, assert_core_equal)(core, from_msg(decoded))


def test_round_trip_special_values(rb: conv.RosbagsTypes) -> None:
    rng = np.random.default_rng(4)
    # A hand without MANO fit and unknown depth; an untracked hand.
    result = make_frame_result(rng)
    result.hands[0] = dataclasses.replace(result.hands[0], mano=None, depth=float("nan"), track_id=-1)
    result.stage_latency_s = {"detect": 0.01}
    result.warnings = ["x"]
    msg = rb.deserialize(rb.serialize(conv.frame_result_to_hand_array(result, rb)), conv.HAND_ARRAY)
    assert np.isnan(msg.hands[0].global_orient).all() and np.isnan(msg.hands[0].hand_pose).all()
    back = conv.hand_array_to_frame_result(msg)
    assert back.hands[0].mano is None and math.isnan(back.hands[0].depth) and back.hands[0].track_id == -1
    assert back.stage_latency_s == {} and back.warnings == []  # not carried (diagnostics)
    result.stage_latency_s, result.warnings = {}, []
    assert_core_equal(result, back)

    # No hands at all.
    empty = FrameResult(stamp_ns=5, frame_id="cam", hands=[])
    assert_core_equal(empty, conv.hand_array_to_frame_result(
        rb.deserialize(rb.serialize(conv.frame_result_to_hand_array(empty, rb)), conv.HAND_ARRAY)))

    # Forecast without mean, with a single hand; zero-step trajectories allowed; no hands at all.
    fc = make_forecast(rng, with_mean=False)
    for sample in fc.samples:
        sample.hands = sample.hands[:1]
    out = conv.msg_to_forecast(rb.deserialize(rb.serialize(conv.forecast_to_msg(fc, rb)), conv.BIMANUAL_FORECAST))
    assert out.mean is None
    assert_forecast_close(fc, out)
    mean, samples = make_hand_forecast(rng, "left", 0, 2)
    msg = rb.deserialize(rb.serialize(conv.hand_forecast_to_msg("left", mean, samples, 0, rb)), conv.HAND_TRAJECTORY)
    assert_hand_forecast_close((mean, samples), conv.msg_to_hand_forecast(msg, 2, 0))
    empty_fc = BimanualForecast(stamp_ns=3, frame_id="cam", time_step_s=0.1, horizon_s=1.0,
                                samples=[ForecastSample(1.0, [])], mean=ForecastSample(1.0, []))
    out = conv.msg_to_forecast(rb.deserialize(rb.serialize(conv.forecast_to_msg(empty_fc, rb)), conv.BIMANUAL_FORECAST))
    assert_core_equal(empty_fc, out)

    # Bimanual action (side None <-> BOTH); hypotheses come out sorted, most likely first.
    act = make_action(rng, side=None)
    act.hypotheses = act.hypotheses[::-1]
    msg = conv.action_to_msg(act, rb)
    assert msg.side == rb[conv.ACTION_ESTIMATE].BOTH
    probs = [h.probability for h in msg.hypotheses]
    assert probs == sorted(probs, reverse=True)
    out = conv.msg_to_action(rb.deserialize(rb.serialize(msg), conv.ACTION_ESTIMATE))
    assert out.side is None
    act.hypotheses = act.hypotheses[::-1]
    assert_core_equal(act, out)


@pytest.mark.parametrize(
    "ns", [0, 1, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, -1, -1_500_000_000, 2**31 * 10**9 - 1]
)
def test_time_round_trip(ns: int, rb: conv.RosbagsTypes) -> None:
    t = conv.stamp_to_time(ns, rb)
    assert 0 <= t.nanosec < 10**9
    assert conv.time_to_ns(t) == ns
    assert conv.time_to_ns(rb.deserialize(rb.serialize(t), conv.TIME)) == ns


def test_time_out_of_range(rb: conv.RosbagsTypes) -> None:
    with pytest.raises(ValueError, match="builtin_interfaces/Time"):
        conv.stamp_to_time(2**31 * 10**9, rb)


# --------------------------------------------------------------------------- bad input


def _bad_hand(field: str, value: Any):
    def build(rng: np.random.Generator) -> FrameResult:
        result = make_frame_result(rng)
        hand = result.hands[1]
        if field.startswith("mano."):
            hand.mano = dataclasses.replace(hand.mano, **{field[5:]: value})
        else:
            setattr(hand, field, value)
        return result

    return build


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("joints", np.zeros((20, 3)), "joints"),
        ("joints", np.zeros(63), "joints"),
        ("keypoints_2d", np.zeros((21, 3)), "keypoints_2d"),
        ("keypoint_confidence", np.zeros(20), "keypoint_confidence"),
        ("bbox", np.zeros(3), "bbox"),
        ("wrist_position", np.zeros(2), "wrist_position"),
        ("wrist_orientation_xyzw", np.zeros(3), "wrist_orientation_xyzw"),
        ("mano.global_orient", np.zeros(2), "global_orient"),
        ("mano.hand_pose", np.zeros(44), "hand_pose"),
        ("mano.hand_pose", np.zeros((15, 3)), "hand_pose"),
        ("mano.betas", np.zeros(11), "betas"),
        ("mano.transl", np.zeros(4), "transl"),
        ("side", "middle", "side"),
        ("track_id", 2**31, "track_id"),
    ],
)
def test_wrong_sizes_rejected_before_serialization(field: str, value: Any, match: str, rb: conv.RosbagsTypes) -> None:
    result = _bad_hand(field, value)(np.random.default_rng(5))
    with pytest.raises(ValueError, match=match):
        conv.frame_result_to_hand_array(result, rb)


@pytest.mark.parametrize(
    "field, shape_or_value",
    [("wrist_orientation_xyzw", (4, 3)), ("joints", (4, 20, 3)), ("hand_pose", (3, 45)), ("wrist_position", (4,))],
)
def test_inconsistent_trajectory_rejected(field: str, shape_or_value: Any, rb: conv.RosbagsTypes) -> None:
    fc = make_forecast(np.random.default_rng(6))
    setattr(fc.samples[1].hands[0], field, np.zeros(shape_or_value))
    with pytest.raises(ValueError, match=field):
        conv.forecast_to_msg(fc, rb)


def test_inconsistent_forecasts_rejected(rb: conv.RosbagsTypes) -> None:
    """The packed layout needs the same sides in every sample and one step count."""
    fc = make_forecast(np.random.default_rng(13))
    fc.samples[1].hands = fc.samples[1].hands[:1]
    with pytest.raises(ValueError, match="different sides"):
        conv.forecast_to_msg(fc, rb)
    fc = make_forecast(np.random.default_rng(13))
    fc.samples[0].hands[1] = fc.samples[0].hands[0]
    with pytest.raises(ValueError, match="twice"):
        conv.forecast_to_msg(fc, rb)
    fc = make_forecast(np.random.default_rng(13))
    fc.mean.hands[0] = make_trajectory(np.random.default_rng(1), fc.mean.hands[0].side, 7)
    with pytest.raises(ValueError, match="numbers of steps"):
        conv.forecast_to_msg(fc, rb)
    fc.mean.hands[0].joints[2, 3, 1] = np.inf
    fc.mean.hands[0].wrist_position = fc.mean.hands[0].wrist_position[:5]
    fc.mean.hands[0] = dataclasses.replace(fc.mean.hands[0], joints=fc.mean.hands[0].joints[:5],
                                           wrist_orientation_xyzw=fc.mean.hands[0].wrist_orientation_xyzw[:5],
                                           hand_pose=fc.mean.hands[0].hand_pose[:5])
    with pytest.raises(ValueError, match="infinite"):
        conv.forecast_to_msg(fc, rb)


def test_inconsistent_trajectory_message_rejected(rb: conv.RosbagsTypes) -> None:
    mean, samples = make_hand_forecast(np.random.default_rng(7), "right", 3, 2)
    msg = conv.hand_forecast_to_msg("right", mean, samples, 3, rb)
    with pytest.raises(ValueError, match="mean_wrist_position"):
        conv.msg_to_hand_forecast(msg, 2, 4)  # wrong num_steps
    with pytest.raises(ValueError, match="wrist_position"):
        conv.msg_to_hand_forecast(msg, 3, 3)  # wrong num_samples
    msg.position_scale = msg.position_scale[:1]
    with pytest.raises(ValueError, match="position_scale"):
        conv.msg_to_hand_forecast(msg, 2, 3)
    msg.position_scale = conv.hand_forecast_to_msg("right", mean, samples, 3, rb).position_scale
    msg.hand_pose = msg.hand_pose[:-1]
    with pytest.raises(ValueError, match="hand_pose"):
        conv.msg_to_hand_forecast(msg, 2, 3)
    hand = conv.hand_to_msg(make_hand(np.random.default_rng(8), "left", 0), 0, "c", rb)
    hand.side = 9
    with pytest.raises(ValueError, match="side"):
        conv.msg_to_hand(hand)


# --------------------------------------------------------------------------- rosbag2 (mcap)


def test_mcap_bag_is_self_describing(tmp_path: Path, rb: conv.RosbagsTypes) -> None:
    rng = np.random.default_rng(9)
    frames = [make_frame_result(rng, v) for v in range(3)]
    forecast = make_forecast(rng)
    action = make_action(rng, side=None)
    topics = {
        "/hands": (conv.HAND_ARRAY, [(f.stamp_ns, conv.frame_result_to_hand_array(f, rb)) for f in frames]),
        "/hands/forecast": (conv.BIMANUAL_FORECAST, [(forecast.stamp_ns, conv.forecast_to_msg(forecast, rb, model="cv"))]),
        "/hands/action": (conv.ACTION_ESTIMATE, [(action.stamp_ns, conv.action_to_msg(action, rb))]),
    }
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic, (msgtype, msgs) in topics.items():
            connection = writer.add_connection(topic, msgtype, typestore=rb.typestore)
            for stamp, msg in msgs:
                writer.write(connection, stamp, rb.serialize(msg))

    assert (bag / "metadata.yaml").is_file() and list(bag.glob("*.mcap"))
    meta = (bag / "metadata.yaml").read_text()
    assert "storage_identifier: mcap" in meta and "version: 9" in meta

    # Read it back with a store that knows nothing: everything comes from the bag.
    fresh = get_typestore(Stores.EMPTY)
    with Reader(bag) as reader:
        assert {c.topic for c in reader.connections} == set(topics)
        for c in reader.connections:
            assert c.msgtype == topics[c.topic][0]
            # the full definition, with every nested type (ours and ROS ones), as ros2msg text
            assert f"MSG: {PKG}/" in c.msgdef.data and "MSG: builtin_interfaces/Time" in c.msgdef.data
            assert c.digest == rb.typestore.hash_rihs01(c.msgtype) and c.digest.startswith("RIHS01_")
            fresh.register(get_types_from_msg(c.msgdef.data, c.msgtype))
        assert fresh.hash_rihs01(conv.HAND_ARRAY) == rb.typestore.hash_rihs01(conv.HAND_ARRAY)
        got: dict[str, list[Any]] = {t: [] for t in topics}
        for c, timestamp, data in reader.messages():
            msg = fresh.deserialize_cdr(data, c.msgtype)
            got[c.topic].append((timestamp, msg))
    assert [t for t, _ in got["/hands"]] == [f.stamp_ns for f in frames]
    for frame, (_, msg) in zip(frames, got["/hands"]):
        assert_core_equal(frame, conv.hand_array_to_frame_result(msg))
    (_, fmsg), = got["/hands/forecast"]
    assert fmsg.model == "cv"
    assert_forecast_close(forecast, conv.msg_to_forecast(fmsg))
    (_, amsg), = got["/hands/action"]
    assert_core_equal(action, conv.msg_to_action(amsg))



@pytest.mark.parametrize("name", sorted(CASES))
def test_rclpy_like_keyword_classes(name: str, fielddefs: dict[str, Any]) -> None:
    types = FakeRclpyTypes(fielddefs)
    to_msg, from_msg, factory = CASES[name]
    core = factory(np.random.default_rng(11), 1)
    msg = to_msg(core, types)
    assert isinstance(msg, _FakeRclpyMessage) and msg.__msgtype__ == _full(name)
    check_against_defs(msg, _full(name), fielddefs)
    COMPARE.get(name, assert_core_equal)(core, from_msg(msg))


def test_fake_rclpy_classes_are_strict(fielddefs: dict[str, Any]) -> None:
    """The fake classes reject what Jazzy's rclpy rejects, so the test above means something."""
    types = FakeRclpyTypes(fielddefs)
    point = types[conv.POINT]
    with pytest.raises(AssertionError):
        point(x=np.float32(1.0), y=0.0, z=0.0)
    with pytest.raises(AssertionError):
        point(x=1.0, y=0.0, z=0.0, w=1.0)
    traj = types[conv.HAND_TRAJECTORY]
    good = dict(side=0, **{f: array.array("f") for f in ("mean_wrist_position", "mean_wrist_orientation", "mean_joints",
                                                         "mean_hand_pose", "position_scale", "orientation_scale",
                                                         "hand_pose_scale")},
                **{f: array.array("b") for f in ("wrist_position", "wrist_orientation", "joints", "hand_pose")})
    traj(**good)
    with pytest.raises(AssertionError):
        traj(**{**good, "mean_hand_pose": np.zeros(0, np.float32)})  # numpy into a sequence
    with pytest.raises(AssertionError):
        traj(**{**good, "joints": array.array("f")})  # float32 codes into int8[]
    with pytest.raises(AssertionError):
        traj(**{**good, "side": np.uint8(0)})
    hand = conv.hand_to_msg(make_hand(np.random.default_rng(12), "left", 0), 0, "c", types)
    with pytest.raises(AssertionError):
        hand.hand_pose = np.zeros(45)  # float64
    with pytest.raises(AssertionError):
        hand.joints = hand.joints[:20]
    # RclpyTypes.sequence gives array.array with the right typecode
    seq = conv.RclpyTypes().sequence(np.arange(3, dtype=np.float32))
    assert isinstance(seq, array.array) and seq.typecode == "f" and list(seq) == [0.0, 1.0, 2.0]


def test_msg_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for p in conv.msg_files().values():
        (tmp_path / p.name).write_text(p.read_text())
    monkeypatch.setenv("HAND_PERCEPTION_MSGS_DIR", str(tmp_path))
    assert conv.msg_dir() == tmp_path
    assert set(conv.load_msg_definitions()) == {_full(n) for n in EXPECTED_MSGS}
    monkeypatch.setenv("HAND_PERCEPTION_MSGS_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        conv.msg_dir()
