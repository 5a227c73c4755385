"""Layout of ``hand_perception.core.io`` and the old import paths it keeps for one release.

The node logic, message conversions, image codec and node health moved from flat modules in
``hand_perception.core`` into the ``hand_perception.core.io`` package (one job per module). The old
modules re-export the moved names: these tests pin that every name the old modules exported still
resolves there, and that it is the *same* object as in ``core.io`` (so isinstance checks, class
attributes and state shared through module objects keep working).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import hand_perception.core.io as core_io

#: ``__all__`` of each old module before the move (the public names callers may rely on).
OLD_EXPORTS: dict[str, tuple[str, ...]] = {
    "conversions": (
        "MSG_PACKAGE", "MessageTypes", "RclpyTypes", "RosbagsTypes", "action_to_msg", "forecast_to_msg",
        "frame_result_to_hand_array", "hand_array_to_frame_result", "hand_forecast_to_msg", "hand_to_msg",
        "hypothesis_to_msg", "load_msg_definitions", "msg_dir", "msg_files", "msg_to_action",
        "msg_to_forecast", "msg_to_hand", "msg_to_hand_forecast", "msg_to_hypothesis", "stamp_to_time",
        "time_to_ns"),
    "forecast_messages": ("forecast_to_msg", "hand_forecast_to_msg", "msg_to_forecast", "msg_to_hand_forecast"),
    "forecast_packing": ("CODE_MAX", "CODE_NAN", "PackedSamples", "error_bound", "pack_samples", "unpack_samples"),
    "image_codec": (
        "RAW_ENCODINGS", "camera_info_fields", "camera_info_to_intrinsics", "decode_compressed_image",
        "decode_image", "encode_compressed_image", "encode_image", "image_to_rgb", "intrinsics_for_image",
        "try_intrinsics_for_image"),
    "node_health": ("FrameIdMonitor", "RecentCounter", "TopicTypeMonitor", "init_recent_counters", "recent_count",
                    "topic_type_problems"),
    "node_logic": (
        "ACTION_TYPE", "CAMERA_INFO_TYPE", "COMPRESSED_IMAGE_TYPE", "CameraInfoPairer", "CameraIntrinsics",
        "DIAGNOSTIC_ARRAY_TYPE", "DIAG_ERROR", "DIAG_OK", "DIAG_STALE", "DIAG_WARN", "DiagnosticData",
        "FORECAST_TYPE", "FrameIdMonitor", "FrameQueue", "FrameResult", "HAND_ARRAY_TYPE", "HandState",
        "IMAGE_TYPE", "MARKER_ADD", "MARKER_ARRAY_TYPE", "MARKER_DELETEALL", "MARKER_LINE_LIST",
        "MARKER_SPHERE_LIST", "MARKER_TYPE", "MarkerData", "MessageTypes", "NODE_NAMES", "NODE_PARAMETERS",
        "NS_PER_S", "OUTPUT_QOS", "PIPELINE_PREFIX", "ParamSpec", "PreparedFrame", "QosSpec", "QueueWorker",
        "RecentCounter", "RosbagsTypes", "RunningStats", "SENSOR_DATA_QOS", "SIDES", "SIDE_COLOURS",
        "StampMonitor", "StreamRateLimiter", "TARGET_FRAME_TOPICS", "TF_MESSAGE_TYPE", "TF_QOS", "TOPICS",
        "TRANSFORM_STAMPED_TYPE", "ThrottledLog", "TopicSpec", "TransformData", "UNOBSERVED_ALPHA",
        "build_forecaster", "default_message", "default_params_file", "diagnostic_status", "diagnostics_to_msg",
        "hand_markers", "init_recent_counters", "load_ros_params_file", "make_message", "marker_to_msg",
        "markers_to_msg", "node_parameters", "package_config_dirs", "param_type", "percentile",
        "pipeline_config_from_parameters", "pipeline_parameter_specs", "prepare_frame", "qos_compatible",
        "recent_count", "resolve_config_path", "stamp_to_time", "topic", "transform_to_msg",
        "transforms_to_tf_msg", "validate_parameters", "wrist_transforms"),
}

#: Names outside ``__all__`` that code elsewhere imports from the old paths.
OLD_PRIVATE_USES: dict[str, tuple[str, ...]] = {
    "image_codec": ("_buffer", "camera_info_msg_to_intrinsics", "compressed_to_rgb"),  # core/depth.py, replay
    "conversions": ("HAND", "HAND_ARRAY", "BIMANUAL_FORECAST", "ACTION_ESTIMATE", "PLACEMENT_DEPTH",
                    "PLACEMENT_FUSED", "PLACEMENT_MONOCULAR", "SIDE_LEFT", "SIDE_RIGHT", "SIDE_BOTH", "TIME", "POINT"),
    "node_logic": ("time",),  # tests patch node_logic.time.monotonic
    "node_health": ("time",),
}

IO_MODULES = sorted(m.name for m in pkgutil.iter_modules(core_io.__path__))


def _io_objects() -> list[tuple[str, object]]:
    out = []
    for name in IO_MODULES:
        mod = importlib.import_module(f"hand_perception.core.io.{name}")
        out.extend((f"{name}.{k}", v) for k, v in vars(mod).items() if not k.startswith("__"))
    return out


def test_io_package_has_the_expected_modules():
    assert set(IO_MODULES) >= {
        "camera_info", "conversions", "diagnostics", "forecast_messages", "forecast_packing",
        "forecaster_factory", "frame_input", "image_codec", "markers", "node_health", "params", "queueing",
        "ros_messages", "stats", "topics", "transforms"}


@pytest.mark.parametrize("name", IO_MODULES)
def test_io_modules_are_small_and_documented(name):
    mod = importlib.import_module(f"hand_perception.core.io.{name}")
    lines = Path(mod.__file__).read_text(encoding="utf-8").count("\n")
    assert lines < 600, f"core/io/{name}.py has {lines} lines: split it by job"
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40, f"core/io/{name}.py needs a module docstring"


@pytest.mark.parametrize("old", sorted(OLD_EXPORTS))
def test_old_import_paths_export_the_same_objects(old):
    shim = importlib.import_module(f"hand_perception.core.{old}")
    objects = _io_objects()
    assert set(OLD_EXPORTS[old]) <= set(shim.__all__), set(OLD_EXPORTS[old]) - set(shim.__all__)
    star: dict[str, object] = {}
    exec(f"from hand_perception.core.{old} import *", star)  # noqa: S102 - what `import *` users get
    for name in OLD_EXPORTS[old] + OLD_PRIVATE_USES.get(old, ()):
        assert hasattr(shim, name), f"hand_perception.core.{old}.{name} no longer resolves"
        value = getattr(shim, name)
        if name in OLD_EXPORTS[old]:
            assert star[name] is value
        if name == "time" or isinstance(value, (int, float, str)):
            continue
        homes = [where for where, obj in objects if obj is value]
        assert homes, f"hand_perception.core.{old}.{name} is not the object core.io defines"


def test_moved_modules_still_find_the_msg_and_config_folders():
    from hand_perception.core.io import conversions, params

    assert (conversions.msg_dir() / "Hand.msg").is_file()
    assert Path(params.default_params_file()).name == "hand_perception.yaml"
    assert any(Path(d).is_dir() for d in params.package_config_dirs())
