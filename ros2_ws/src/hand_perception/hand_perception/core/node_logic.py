"""Everything the ROS nodes decide, as plain ROS-free Python (tested without ROS).

The nodes in ``hand_perception.nodes`` only subscribe, hand messages to the classes here, and
publish what these return. This module holds:

* **QoS choices** as data (:class:`QosSpec`, :data:`TOPICS`): sensor-data QoS (best effort, keep
  last 5, volatile: ``rclpy.qos.qos_profile_sensor_data``) on every input, reliable keep-last-10 on
  every output.
* **Parameter declarations** as data (:class:`ParamSpec`, :func:`node_parameters`), the loader of
  ROS 2 parameter files (:func:`load_ros_params_file`), their validation, and the mapping between
  ``pipeline.<section>.<key>`` parameters and :class:`~hand_perception.core.config.PipelineConfig`
  (precedence: dataclass defaults < ``pipeline_config`` YAML file < ``pipeline.*`` parameters).
* **Image/CameraInfo pairing** (:class:`CameraInfoPairer`): the latest CameraInfo per frame_id
  (``cache``) or the CameraInfo closest in time within a tolerance (``sync``).
* **Backpressure** (:class:`FrameQueue`): a bounded queue that drops the oldest frame when full and
  counts drops; :class:`QueueWorker` runs the processing in its own thread.
* **Statistics** (:class:`RunningStats`): input/output rate and latency p50/p99 over a window, and
  the ``/diagnostics`` status built from them (:func:`diagnostic_status`), as plain dicts.
* **Stamp order** (:class:`StampMonitor`): stamps going backwards (a looped bag) -> reset + warning;
  a repeated stamp -> the frame is dropped as a duplicate.
* **Markers and TF** as plain data (:func:`hand_markers`, :func:`wrist_transforms`), and their
  message builders for any type provider (rclpy in the nodes, rosbags in replay):
  :func:`markers_to_msg`, :func:`transforms_to_tf_msg`, :func:`diagnostics_to_msg`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .conversions import MessageTypes, RosbagsTypes, stamp_to_time
from .node_health import FrameIdMonitor, RecentCounter, init_recent_counters, recent_count
from .types import SIDES, CameraIntrinsics, FrameResult, HandState

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000

# =========================================================================== QoS


@dataclass(frozen=True)
class QosSpec:
    """A QoS profile as data. ``reliability``: 'best_effort' | 'reliable'; ``durability``:
    'volatile' | 'transient_local'; ``history``: 'keep_last' | 'keep_all'; ``depth`` (keep_last)."""

    reliability: str
    durability: str
    history: str
    depth: int

    def __post_init__(self) -> None:
        if self.reliability not in ("best_effort", "reliable"):
            raise ValueError(f"reliability {self.reliability!r}")
        if self.durability not in ("volatile", "transient_local"):
            raise ValueError(f"durability {self.durability!r}")
        if self.history not in ("keep_last", "keep_all"):
            raise ValueError(f"history {self.history!r}")
        if self.history == "keep_last" and self.depth < 1:
            raise ValueError("keep_last needs depth >= 1")


#: Equal to ``rclpy.qos.qos_profile_sensor_data`` (rmw_qos_profile_sensor_data).
SENSOR_DATA_QOS = QosSpec("best_effort", "volatile", "keep_last", 5)
#: Outputs: reliable, volatile, keep last 10 (what ``ros2 topic echo`` / rosbag2 / RViz expect).
OUTPUT_QOS = QosSpec("reliable", "volatile", "keep_last", 10)
#: tf2_ros.TransformBroadcaster's own default (reliable, keep last 100).
TF_QOS = QosSpec("reliable", "volatile", "keep_last", 100)


def qos_compatible(publisher: QosSpec, subscription: QosSpec) -> bool:
    """DDS request/offered rule: a reliable subscription needs a reliable publisher; a
    transient_local subscription needs a transient_local publisher."""
    if subscription.reliability == "reliable" and publisher.reliability != "reliable":
        return False
    if subscription.durability == "transient_local" and publisher.durability != "transient_local":
        return False
    return True


@dataclass(frozen=True)
class TopicSpec:
    """One topic of a node: relative name (absolute for /tf, /diagnostics), type, direction, QoS."""

    name: str
    msg_type: str
    direction: str  # "in" | "out"
    qos: QosSpec


IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
MARKER_ARRAY_TYPE = "visualization_msgs/msg/MarkerArray"
MARKER_TYPE = "visualization_msgs/msg/Marker"
TF_MESSAGE_TYPE = "tf2_msgs/msg/TFMessage"
TRANSFORM_STAMPED_TYPE = "geometry_msgs/msg/TransformStamped"
DIAGNOSTIC_ARRAY_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
HAND_ARRAY_TYPE = "hand_perception_msgs/msg/HandArray"
FORECAST_TYPE = "hand_perception_msgs/msg/BimanualForecast"
ACTION_TYPE = "hand_perception_msgs/msg/ActionEstimate"

_ESTIMATOR_TOPICS = (
    TopicSpec("image", IMAGE_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("image/compressed", COMPRESSED_IMAGE_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("camera_info", CAMERA_INFO_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("hands", HAND_ARRAY_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/markers", MARKER_ARRAY_TYPE, "out", OUTPUT_QOS),
    # with target_frame set and target_frame_mode 'also' (see TARGET_FRAME_TOPICS)
    TopicSpec("hands/target", HAND_ARRAY_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/markers/target", MARKER_ARRAY_TYPE, "out", OUTPUT_QOS),
    TopicSpec("/tf", TF_MESSAGE_TYPE, "out", TF_QOS),
    TopicSpec("/diagnostics", DIAGNOSTIC_ARRAY_TYPE, "out", OUTPUT_QOS),
)
_FORECASTER_TOPICS = (
    TopicSpec("hands", HAND_ARRAY_TYPE, "in", SENSOR_DATA_QOS),
    TopicSpec("hands/forecast", FORECAST_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/forecast/target", FORECAST_TYPE, "out", OUTPUT_QOS),
    TopicSpec("hands/action", ACTION_TYPE, "out", OUTPUT_QOS),
    TopicSpec("/diagnostics", DIAGNOSTIC_ARRAY_TYPE, "out", OUTPUT_QOS),
)
_COMBINED_TOPICS = tuple(t for t in _ESTIMATOR_TOPICS) + tuple(
    t for t in _FORECASTER_TOPICS if t.direction == "out" and t.name != "/diagnostics"
)

#: Output topic -> its copy in target_frame (published when target_frame is set and
#: target_frame_mode is 'also'; with 'instead' the output topic itself carries the target frame).
TARGET_FRAME_TOPICS: dict[str, str] = {
    "hands": "hands/target",
    "hands/markers": "hands/markers/target",
    "hands/forecast": "hands/forecast/target",
}

#: Topics per executable (``hand_perception_node`` runs estimator + forecaster in one process,
#: so it has no ``hands`` input).
TOPICS: dict[str, tuple[TopicSpec, ...]] = {
    "hand_estimator": _ESTIMATOR_TOPICS,
    "hand_forecaster": _FORECASTER_TOPICS,
    "hand_perception_node": _COMBINED_TOPICS,
}


def topic(node: str, name: str) -> TopicSpec:
    for t in TOPICS[node]:
        if t.name == name:
            return t
    raise KeyError(f"{node} has no topic {name!r}")


# =========================================================================== parameters


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: name, default (its type is the parameter type), description, and an
    optional inclusive range (``min``/``max``, ``step`` 0 = any) or set of ``choices``."""

    name: str
    default: Any
    description: str
    min: float | int | None = None
    max: float | int | None = None
    step: float | int = 0
    choices: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def type(self) -> str:
        """'bool' | 'integer' | 'double' | 'string' | 'double_array' | 'integer_array' |
        'string_array' | 'bool_array' (the rcl_interfaces ParameterType names)."""
        return param_type(self.default)

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this parameter, or None."""
        want = self.type
        got = param_type(value)
        if got != want:
            return f"{self.name}: expected {want}, got {got} ({value!r})"
        if self.choices and value not in self.choices:
            return f"{self.name}: {value!r} is not one of {list(self.choices)}"
        if want in ("integer", "double"):
            if self.min is not None and value < self.min:
                return f"{self.name}: {value} < minimum {self.min}"
            if self.max is not None and value > self.max:
                return f"{self.name}: {value} > maximum {self.max}"
            if want == "double" and not math.isfinite(value):
                return f"{self.name}: {value} is not finite"
        return None

    def describe(self) -> str:
        text = self.description
        if self.choices:
            text += f" One of: {', '.join(self.choices)}."
        return text


def param_type(value: Any) -> str:
    """rcl_interfaces ParameterType name of a Python value (bool is checked before int)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        if not value:
            return "empty_array"
        kinds = {param_type(v) for v in value}
        if len(kinds) == 1:
            return f"{kinds.pop()}_array"
        return "mixed_array"
    return type(value).__name__


_COMMON_PARAMS = (
    ParamSpec("autostart", True,
              "Configure and activate this lifecycle node by itself right after start-up "
              "(false: wait for lifecycle transitions, e.g. from a lifecycle manager)."),
    ParamSpec("pipeline_config", "",
              "Pipeline YAML (sections estimator/temporal/forecast, see hand_perception.core.config). "
              "Empty: built-in defaults. A relative path is looked up next to the parameter file "
              "and in the package's config folder. pipeline.<section>.<key> parameters override it."),
    ParamSpec("backend", "",
              "Inference backend of the estimator (pipeline estimator.backend); empty keeps the "
              "pipeline configuration's value."),
    ParamSpec("device", "",
              "Device for learned models (e.g. cpu, cuda:0); empty: automatic. The no-weights "
              "MediaPipe backend always runs on the CPU."),
    ParamSpec("queue_size", 2, "Frames waiting for the worker; when full the OLDEST frame is "
              "dropped and counted (a slow model never builds up latency).", min=1, max=100, step=1),
    ParamSpec("diagnostics_period_s", 1.0, "Period of the /diagnostics status, seconds.",
              min=0.1, max=60.0),
    ParamSpec("stats_window", 300, "Frames in the window of the rate and latency percentiles.",
              min=10, max=100000, step=1),
)

_ESTIMATOR_PARAMS = (
    ParamSpec("image_transport", "raw",
              "Input image type: 'raw' subscribes to image (sensor_msgs/Image), 'compressed' to "
              "image/compressed (sensor_msgs/CompressedImage, JPEG or PNG).",
              choices=("raw", "compressed")),
    ParamSpec("camera_info_mode", "cache",
              "Pairing of images with camera_info: 'cache' uses the latest CameraInfo of the image's "
              "frame_id; 'sync' the CameraInfo closest in time within camera_info_slop_s.",
              choices=("cache", "sync")),
    ParamSpec("camera_info_slop_s", 0.02, "Largest stamp difference (s) between an image and its "
              "CameraInfo in 'sync' mode.", min=0.0, max=1.0),
    ParamSpec("require_camera_info", False,
              "Drop images until a valid CameraInfo is paired (false: process them with a default "
              "focal length, flagged intrinsics_default in HandArray, and warn)."),
    ParamSpec("use_rectified_projection", False,
              "Take the intrinsics from CameraInfo.p without distortion (for image_rect topics)."),
    ParamSpec("mono16_max", 0.0, "mono16 images: value mapped to white (e.g. 4095 for 12-bit "
              "sensors); 0 stretches each image's own range.", min=0.0, max=65535.0),
    ParamSpec("depth_topic", "",
              "Registered depth image topic (sensor_msgs/Image 16UC1 or 32FC1, e.g. realsense2_camera's "
              "aligned_depth_to_color/image_raw), paired with the colour image by stamp "
              "(ApproximateTimeSynchronizer); empty: no depth. Frames without a pair run monocular "
              "(diagnostics say why)."),
    ParamSpec("depth_scale", 0.001, "Metres per unit of 16UC1 depth (realsense2_camera: 0.001).",
              min=1e-6, max=1.0),
    ParamSpec("depth_max_age_s", 0.02, "Largest stamp difference (s) between a colour image and its "
              "depth image (the synchronizer's slop).", min=0.0, max=1.0),
    ParamSpec("camera_frame_id", "",
              "frame_id for the outputs when the image header has none; empty uses header.frame_id "
              "(falls back to 'camera' when that is empty)."),
    ParamSpec("publish_markers", True, "Publish hands/markers (visualization_msgs/MarkerArray)."),
    ParamSpec("marker_lifetime_s", 0.2, "Lifetime of the markers, seconds (0: forever).",
              min=0.0, max=10.0),
    ParamSpec("marker_joint_diameter_m", 0.008, "Diameter of the joint spheres, metres.",
              min=0.0005, max=0.1),
    ParamSpec("marker_line_width_m", 0.004, "Width of the skeleton lines, metres.",
              min=0.0005, max=0.1),
    ParamSpec("publish_tf", True, "Broadcast the wrist poses on /tf."),
    ParamSpec("tf_prefix", "hand_", "Prefix of the TF child frames (<prefix>left_wrist, "
              "<prefix>right_wrist)."),
    ParamSpec("tf_only_observed", False, "Broadcast wrist TF only for hands seen in the image "
              "(not for hands the temporal stage bridged through a gap)."),
    ParamSpec("tf_per_track", False, "Also broadcast one wrist frame per tracked hand, "
              "<prefix>track_<id>_wrist, next to the per-side frames."),
)

_TARGET_FRAME_PARAMS = (
    ParamSpec("target_frame", "",
              "TF frame (e.g. base_link) the outputs are also published in: hands, markers and forecasts "
              "are transformed through tf2 at the image stamp. Empty: the camera frame only."),
    ParamSpec("target_frame_mode", "also",
              "'also': the camera-frame topics stay and hands/target, hands/markers/target, "
              "hands/forecast/target carry target_frame; 'instead': hands, hands/markers and "
              "hands/forecast carry target_frame. An output whose transform is unavailable is skipped "
              "and counted (diagnostics).", choices=("also", "instead")),
    ParamSpec("target_frame_timeout_s", 0.05,
              "How long a tf2 lookup waits for the transform at an output's stamp, seconds.",
              min=0.0, max=1.0),
)

_FORECASTER_PARAMS: tuple[ParamSpec, ...] = ()

#: Node parameters (without the generated ``pipeline.*`` ones) per executable.
NODE_PARAMETERS: dict[str, tuple[ParamSpec, ...]] = {
    "hand_estimator": _COMMON_PARAMS + _ESTIMATOR_PARAMS + _TARGET_FRAME_PARAMS,
    "hand_forecaster": _COMMON_PARAMS + _FORECASTER_PARAMS + _TARGET_FRAME_PARAMS,
    "hand_perception_node": _COMMON_PARAMS + _ESTIMATOR_PARAMS + _FORECASTER_PARAMS + _TARGET_FRAME_PARAMS,
}

#: Default ROS node name of each executable.
NODE_NAMES: dict[str, str] = {
    "hand_estimator": "hand_estimator",
    "hand_forecaster": "hand_forecaster",
    "hand_perception_node": "hand_perception",
}

PIPELINE_PREFIX = "pipeline."


def node_parameters(executable: str) -> tuple[ParamSpec, ...]:
    return NODE_PARAMETERS[executable]


def _leaf_value(value: Any) -> Any:
    """Pipeline config value -> ROS parameter value (None -> '', tuples -> lists)."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
    return value


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def pipeline_parameter_specs(config: Any = None) -> tuple[ParamSpec, ...]:
    """``pipeline.<section>.<key>`` parameters for every field of a PipelineConfig, with the
    config's values as defaults (so a loaded ``pipeline_config`` file sets them)."""
    from .config import PipelineConfig

    config = config if config is not None else PipelineConfig()
    nullable = _nullable_fields(type(config))
    defaults = _flatten(PipelineConfig().to_dict())
    specs = []
    for name, value in _flatten(config.to_dict()).items():
        extra = " Empty: none." if name in nullable else ""
        value = _like(defaults.get(name), value)
        specs.append(ParamSpec(PIPELINE_PREFIX + name, _leaf_value(value),
                               f"Pipeline configuration {name} (see hand_perception.core.config).{extra}"))
    return tuple(specs)


def _like(default: Any, value: Any) -> Any:
    """``value`` with the parameter type of ``default`` (a YAML ``1`` for a float field is 1.0),
    so a pipeline file never changes a parameter's type."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (tuple, list)) and isinstance(value, (tuple, list)) and default and \
            all(isinstance(d, float) for d in default):
        return tuple(float(v) for v in value)
    return value


def _nullable_fields(cls: Any, prefix: str = "") -> set[str]:
    """Dotted names of dataclass fields whose default is None (given as '' in parameters)."""
    out: set[str] = set()
    inst = cls()
    for f in dataclasses.fields(inst):
        value = getattr(inst, f.name)
        if dataclasses.is_dataclass(value):
            out |= _nullable_fields(type(value), f"{prefix}{f.name}.")
        elif value is None:
            out.add(prefix + f.name)
    return out


def pipeline_config_from_parameters(values: dict[str, Any], base: Any = None) -> Any:
    """PipelineConfig from ``pipeline.*`` parameter values (others are ignored) on top of ``base``
    (a PipelineConfig, e.g. from the ``pipeline_config`` file; None = defaults).

    ``backend``/``device`` parameters, when non-empty, set ``estimator.backend``/``estimator.device``
    if the estimator section has such a field. Raises ValueError for unknown keys or bad values.
    """
    from .config import PipelineConfig, pipeline_config_from_dict

    base = base if base is not None else PipelineConfig()
    data = base.to_dict()
    nullable = _nullable_fields(PipelineConfig)
    for name, value in values.items():
        if not name.startswith(PIPELINE_PREFIX):
            continue
        path = name[len(PIPELINE_PREFIX):].split(".")
        node = data
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"unknown pipeline parameter {name!r}")
            node = node[key]
        if path[-1] not in node:
            raise ValueError(f"unknown pipeline parameter {name!r}")
        if ".".join(path) in nullable and value == "":
            value = None
        node[path[-1]] = value
    for key in ("backend", "device"):
        value = values.get(key, "")
        if value:
            if key not in data["estimator"]:
                log.info("parameter %s=%r ignored: the estimator has no %s setting", key, value, key)
                continue
            data["estimator"][key] = value
    return pipeline_config_from_dict(data)


def resolve_config_path(path: str, search: Sequence[str | os.PathLike] = ()) -> str | None:
    """Absolute path of a config file: as given (absolute or relative to the working directory),
    else in each folder of ``search``. ``''`` -> None. Raises FileNotFoundError when not found."""
    if not path:
        return None
    p = Path(os.path.expanduser(path))
    if p.is_file():
        return str(p.resolve())
    if not p.is_absolute():
        for folder in search:
            q = Path(folder) / p
            if q.is_file():
                return str(q.resolve())
    raise FileNotFoundError(f"config file {path!r} not found (searched: cwd, {', '.join(map(str, search)) or '-'})")


def package_config_dirs() -> list[str]:
    """Folders that may hold the package's config files: the installed share folder (ament index)
    and the source tree's ``config/``."""
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(os.path.join(get_package_share_directory("hand_perception"), "config"))
    except Exception:  # not installed / no ament: fine
        pass
    dirs.append(str(Path(__file__).resolve().parents[2] / "config"))
    return dirs


def default_params_file() -> str:
    """The package's ``config/hand_perception.yaml`` (installed share folder first)."""
    for d in package_config_dirs():
        p = os.path.join(d, "hand_perception.yaml")
        if os.path.isfile(p):
            return p
    raise FileNotFoundError("config/hand_perception.yaml not found")


def load_ros_params_file(path: str | os.PathLike, node_name: str, namespace: str = "") -> dict[str, Any]:
    """Parameters for one node from a ROS 2 parameters YAML file, flattened with '.'.

    Sections are matched like rcl does: ``/**``, ``node_name``, ``/node_name``, ``/ns/node_name``
    and wildcard patterns (``*`` one name segment, ``**`` any). Later sections override earlier.
    """
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a ROS parameter file must be a mapping of node names")
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    full = f"{ns}/{node_name}"
    out: dict[str, Any] = {}
    for key, section in data.items():
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise ValueError(f"{path}: section {key!r} has no 'ros__parameters'")
        pattern = str(key)
        if not pattern.startswith("/"):
            pattern = (ns + "/" + pattern) if "*" not in pattern else "/" + pattern
        if _node_matches(pattern, full):
            params = section["ros__parameters"] or {}
            if not isinstance(params, dict):
                raise ValueError(f"{path}: {key}.ros__parameters must be a mapping")
            out.update(_flatten(params))
    return out


def _node_matches(pattern: str, full_name: str) -> bool:
    if pattern == full_name:
        return True
    if "*" not in pattern:
        return False
    # ** matches any number of segments, * exactly one
    import re

    regex = "^" + re.escape(pattern).replace(r"/\*\*", "(/[^/]+)*").replace(r"\*\*", ".*").replace(r"\*", "[^/]+") + "$"
    return re.match(regex, full_name) is not None


def validate_parameters(values: dict[str, Any], specs: Iterable[ParamSpec],
                        allow_prefixes: Sequence[str] = (PIPELINE_PREFIX,)) -> list[str]:
    """Problems of parameter values against their declarations (types are strict, as rclpy's:
    an integer given for a double parameter is an error). Unknown names are reported unless they
    start with one of ``allow_prefixes``."""
    by_name = {s.name: s for s in specs}
    problems = []
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            if not any(name.startswith(p) for p in allow_prefixes):
                problems.append(f"{name}: not a parameter of this node")
            continue
        why = spec.check(value)
        if why:
            problems.append(why)
    return problems


# =========================================================================== camera info pairing


@dataclass
class _Info:
    stamp_ns: int
    intrinsics: CameraIntrinsics | None
    error: str | None


class CameraInfoPairer:
    """Pairs images with CameraInfo, keyed by frame_id.

    ``mode='cache'``: the latest CameraInfo of the image's frame_id (or, when the camera publishes
    a single frame_id that differs from the image's, that one, with a warning). ``mode='sync'``:
    the CameraInfo of that frame_id whose stamp is closest to the image's, if within ``slop_s``.

    Invalid CameraInfo (NaN, zero focal length, unsupported model) is stored with its error, so an
    image paired with it gets ``None`` and the reason (the caller falls back to default
    intrinsics or drops the frame). Thread-safe (callbacks add, the worker pairs).
    """

    def __init__(self, mode: str = "cache", slop_s: float = 0.02, history: int = 30) -> None:
        if mode not in ("cache", "sync"):
            raise ValueError(f"camera_info mode must be 'cache' or 'sync', got {mode!r}")
        if not slop_s >= 0:
            raise ValueError("slop_s must be >= 0")
        self.mode = mode
        self.slop_ns = int(round(slop_s * NS_PER_S))
        self._infos: dict[str, collections.deque[_Info]] = {}
        self._history = max(1, int(history))
        self._lock = threading.Lock()
        self.received = 0
        self.invalid = 0

    def add(self, stamp_ns: int, frame_id: str, intrinsics: CameraIntrinsics | None,
            error: str | None = None) -> None:
        """Store one CameraInfo (already converted; ``error`` when conversion failed)."""
        with self._lock:
            self.received += 1
            if error is not None or intrinsics is None:
                self.invalid += 1
            q = self._infos.setdefault(str(frame_id), collections.deque(maxlen=self._history))
            if q and stamp_ns < q[-1].stamp_ns:  # looped bag: forget the future
                q.clear()
            q.append(_Info(int(stamp_ns), intrinsics, error))

    def add_msg(self, msg: Any, use_projection: bool = False) -> str | None:
        """Convert and store a CameraInfo message; returns the conversion error, if any."""
        from .conversions import time_to_ns
        from .image_codec import camera_info_msg_to_intrinsics

        try:
            intr, err = camera_info_msg_to_intrinsics(msg, use_projection=use_projection), None
        except (ValueError, TypeError, AttributeError) as exc:
            intr, err = None, f"invalid camera_info: {exc}"
        self.add(time_to_ns(msg.header.stamp), str(msg.header.frame_id), intr, err)
        return err

    def clear(self) -> None:
        with self._lock:
            self._infos.clear()

    def match(self, stamp_ns: int, frame_id: str) -> tuple[CameraIntrinsics | None, str | None]:
        """(intrinsics, problem) for an image. ``problem`` is None when a valid CameraInfo was
        paired, else why not ('no camera_info received', 'no camera_info within ...', or the
        conversion error of the paired CameraInfo)."""
        with self._lock:
            q = self._infos.get(str(frame_id))
            note = None
            if not q:
                if len(self._infos) == 1:
                    other, q = next(iter(self._infos.items()))
                    note = f"camera_info frame_id {other!r} differs from the image's {frame_id!r}"
                else:
                    return None, ("no camera_info received" if not self._infos else
                                  f"no camera_info for frame_id {frame_id!r} (have {sorted(self._infos)})")
            if self.mode == "cache":
                info = q[-1]
            else:
                info = min(q, key=lambda i: abs(i.stamp_ns - stamp_ns))
                if abs(info.stamp_ns - stamp_ns) > self.slop_ns:
                    return None, (f"no camera_info within {self.slop_ns / 1e9:g} s of the image "
                                  f"(closest {abs(info.stamp_ns - stamp_ns) / 1e9:.3f} s)")
            if info.error is not None or info.intrinsics is None:
                return None, info.error or "invalid camera_info"
            return info.intrinsics, note


# =========================================================================== backpressure


class FrameQueue:
    """Bounded FIFO that drops the OLDEST item when full (and counts it). Thread-safe."""

    def __init__(self, maxsize: int = 2) -> None:
        if int(maxsize) < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = int(maxsize)
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.pushed = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: Any) -> Any | None:
        """Add ``item``; returns the item dropped to make room (None when nothing was dropped)."""
        with self._cond:
            dropped = None
            if len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.pushed += 1
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> Any | None:
        """Oldest item, waiting up to ``timeout`` s (None: forever); None on timeout or close."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                return self._items.popleft()
            return None

    def clear(self) -> int:
        with self._cond:
            n = len(self._items)
            self._items.clear()
            return n

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed


class QueueWorker:
    """Thread that takes items from a :class:`FrameQueue` and calls ``handler(item)``.

    Exceptions from the handler are passed to ``on_error(exc, item)`` (default: logged) and the
    worker goes on with the next item: bad input never stops the node.
    """

    def __init__(self, queue: FrameQueue, handler: Callable[[Any], None],
                 on_error: Callable[[BaseException, Any], None] | None = None,
                 name: str = "hand_perception_worker") -> None:
        self.queue = queue
        self.handler = handler
        self.on_error = on_error or (lambda exc, item: log.exception("processing failed: %s", exc))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name
        self.errors = 0
        self.busy = False

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.queue.reopen()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get(timeout=0.1)
            if item is None:
                continue
            self.busy = True
            try:
                self.handler(item)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything
                self.errors += 1
                try:
                    self.on_error(exc, item)
                except Exception:  # noqa: BLE001
                    log.exception("error handler failed")
            finally:
                self.busy = False

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop and join; returns False if the thread is still running after ``timeout``."""
        self._stop.set()
        self.queue.close()
        t = self._thread
        if t is not None:
            t.join(timeout)
            alive = t.is_alive()
            if not alive:
                self._thread = None
            return not alive
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


# =========================================================================== statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default); NaN for no values."""
    if len(values) == 0:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class RunningStats:
    """Counts, rates and latency percentiles over the last ``window`` events (thread-safe).

    ``on_input(now)`` for every received frame, ``on_output(latency_s, now)`` for every processed
    one; ``now`` is a monotonic wall time in seconds (default ``time.monotonic()``). Counters for
    dropped/bad/duplicate frames, stamp resets, frames without camera_info and image frame_id
    switches are attributes the caller increments (``stats.bad += 1``); they also remember when
    they grew, so :meth:`as_dict` reports both the totals and the last ``recent_s`` seconds
    (``recent_<key>``), and diagnostics describe the current state, not the history.
    ``intrinsics_source`` ('camera_info' | 'default' | '' before any frame) and
    ``intrinsics_problem`` describe the latest processed frame.
    """

    dropped = RecentCounter()
    bad = RecentCounter()
    duplicates = RecentCounter()
    stamp_resets = RecentCounter()
    no_camera_info = RecentCounter()
    default_intrinsics = RecentCounter()
    frame_id_switches = RecentCounter()

    #: as_dict key -> counter attribute (the counters with a ``recent_<key>`` figure)
    COUNTERS = {"frames_dropped": "dropped", "bad_frames": "bad", "duplicate_frames": "duplicates",
                "stamp_resets": "stamp_resets", "frames_without_camera_info": "no_camera_info",
                "frames_default_intrinsics": "default_intrinsics", "frame_id_switches": "frame_id_switches"}

    def __init__(self, window: int = 300, recent_s: float = 5.0) -> None:
        init_recent_counters(self)
        self.window = max(2, int(window))
        self.recent_s = float(recent_s)
        self.intrinsics_source = ""
        self.intrinsics_problem = ""
        self._lock = threading.Lock()
        self._in_times: collections.deque[float] = collections.deque(maxlen=self.window)
        self._out_times: collections.deque[float] = collections.deque(maxlen=self.window)
        self._latencies: collections.deque[float] = collections.deque(maxlen=self.window)
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.bad = 0
        self.duplicates = 0
        self.stamp_resets = 0
        self.no_camera_info = 0
        self.default_intrinsics = 0
        self.last_error: str = ""
        self.last_warning: str = ""

    def on_input(self, now: float | None = None) -> None:
        with self._lock:
            self.received += 1
            self._in_times.append(time.monotonic() if now is None else float(now))

    def on_output(self, latency_s: float, now: float | None = None) -> None:
        with self._lock:
            self.processed += 1
            self._out_times.append(time.monotonic() if now is None else float(now))
            if math.isfinite(latency_s):
                self._latencies.append(float(latency_s))

    @staticmethod
    def _rate(times: Sequence[float], now: float) -> float:
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        # a stream that stopped has no rate: use the time since the first event up to now when
        # the last event is older than the typical period
        period = span / (len(times) - 1) if span > 0 else 0.0
        if period > 0 and now - times[-1] > 3 * period:
            span = now - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    def latencies(self) -> list[float]:
        with self._lock:
            return list(self._latencies)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """Plain dict of the current figures (rates Hz, latencies ms, counters)."""
        now = time.monotonic() if now is None else float(now)
        with self._lock:
            lat = list(self._latencies)
            return {
                "input_rate_hz": self._rate(list(self._in_times), now),
                "output_rate_hz": self._rate(list(self._out_times), now),
                "latency_p50_ms": percentile(lat, 50) * 1e3,
                "latency_p99_ms": percentile(lat, 99) * 1e3,
                "latency_max_ms": (max(lat) * 1e3) if lat else float("nan"),
                "frames_received": self.received,
                "frames_processed": self.processed,
                "frames_dropped": self.dropped,
                "bad_frames": self.bad,
                "duplicate_frames": self.duplicates,
                "stamp_resets": self.stamp_resets,
                "frames_without_camera_info": self.no_camera_info,
                "frames_default_intrinsics": self.default_intrinsics,
                "frame_id_switches": self.frame_id_switches,
                "last_error": self.last_error,
                "last_warning": self.last_warning,
                "intrinsics_source": self.intrinsics_source,
                "intrinsics_problem": self.intrinsics_problem,
                "recent_s": self.recent_s,
                "recent_frames_received": sum(1 for t in self._in_times if t >= now - self.recent_s),
                **{f"recent_{key}": recent_count(self, attr, time.monotonic() - self.recent_s)
                   for key, attr in self.COUNTERS.items()},
            }


class StreamRateLimiter:
    """``due(stamp_ns)`` is true at most ``rate_hz`` times per second of stream time (0: always);
    a stamp going backwards restarts it."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = float(rate_hz)
        self._last: int | None = None

    def reset(self) -> None:
        self._last = None

    def due(self, stamp_ns: int) -> bool:
        if self.rate_hz <= 0:
            return True
        if self._last is None or stamp_ns < self._last or stamp_ns - self._last >= int(NS_PER_S / self.rate_hz) - 1:
            self._last = int(stamp_ns)
            return True
        return False


class StampMonitor:
    """Stamp order of one stream: ``check(stamp_ns)`` -> 'first' | 'ok' | 'repeat' | 'backwards'.

    'backwards' (a looped bag, a restarted camera) means: reset all state and warn; the stamp is
    then the new reference. 'repeat' means a duplicate frame (skip it).
    """

    def __init__(self) -> None:
        self.last: int | None = None
        self.resets = 0
        self.repeats = 0

    def reset(self) -> None:
        self.last = None

    def check(self, stamp_ns: int) -> str:
        stamp_ns = int(stamp_ns)
        if self.last is None:
            self.last = stamp_ns
            return "first"
        if stamp_ns == self.last:
            self.repeats += 1
            return "repeat"
        if stamp_ns < self.last:
            self.resets += 1
            self.last = stamp_ns
            return "backwards"
        self.last = stamp_ns
        return "ok"


# =========================================================================== diagnostics

DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = 0, 1, 2, 3


@dataclass
class DiagnosticData:
    """A diagnostic_msgs/DiagnosticStatus as data (level 0 OK, 1 WARN, 2 ERROR, 3 STALE)."""

    level: int
    name: str
    message: str
    hardware_id: str
    values: list[tuple[str, str]] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def diagnostic_status(name: str, hardware_id: str, stats: dict[str, Any],
                      model_info: dict[str, str] | None = None, state: str = "active",
                      extra: dict[str, Any] | None = None, stale_after_s: float | None = None,
                      seconds_since_input: float | None = None,
                      input_problems: Sequence[str] = ()) -> DiagnosticData:
    """Status of a node from :meth:`RunningStats.as_dict` plus model information.

    It describes the current state, not the history: the counters' ``recent_*`` figures (the
    last ``recent_s`` seconds) and the latest frame decide the level, the totals are values.
    Level: ERROR when the node is not active; STALE when no input arrived for ``stale_after_s``;
    WARN when recently more than 10 % of the received frames were dropped, frames were bad, the
    image frame_id switched (two publishers on one topic), the latest frame ran with default
    intrinsics (no valid camera_info; the reason is in the message), or ``input_problems`` (e.g.
    a wrong message type on an input topic) is not empty; else OK. Stats dicts without the
    ``recent_*`` keys (older callers) are judged on their totals.
    """
    values: list[tuple[str, str]] = [("state", state)]
    for key in ("input_rate_hz", "output_rate_hz", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
                "frames_received", "frames_processed", "frames_dropped", "bad_frames", "duplicate_frames",
                "stamp_resets", "frames_without_camera_info", "frames_default_intrinsics", "frame_id_switches",
                "intrinsics_source", "intrinsics_problem"):
        if key in stats:
            values.append((key, _fmt(stats[key])))
    for key, value in (model_info or {}).items():
        values.append((key, _fmt(value)))
    for key, value in (extra or {}).items():
        values.append((key, _fmt(value)))

    def recent(key: str) -> int:
        return int(stats.get(f"recent_{key}", stats.get(key, 0)) or 0)

    received = int(stats.get("frames_received", 0))
    recent_received = int(stats.get("recent_frames_received", received))
    window = f" in the last {_fmt_s(stats['recent_s'])}" if "recent_s" in stats else ""
    problems = []
    level = DIAG_OK
    if state != "active":
        level, problems = DIAG_ERROR, [f"node is {state}"]
    elif stale_after_s is not None and seconds_since_input is not None and seconds_since_input > stale_after_s:
        level, problems = DIAG_STALE, [f"no input for {seconds_since_input:.1f} s"]
    else:
        dropped = recent("frames_dropped")
        if dropped and dropped > 0.1 * max(recent_received, 1):
            problems.append(f"{dropped} of {recent_received} frames dropped{window} (processing slower than input)")
        bad = recent("bad_frames")
        if bad:
            error = f" (last error: {stats['last_error']})" if stats.get("last_error") else ""
            problems.append(f"{bad} bad frames{window}{error}")
        source = stats.get("intrinsics_source", "default" if stats.get("frames_default_intrinsics") else "")
        if source == "default":
            why = stats.get("intrinsics_problem") or "no valid camera_info"
            problems.append(f"running with default intrinsics ({why})")
        elif source == "missing":
            why = stats.get("intrinsics_problem") or "no valid camera_info"
            problems.append(f"frames dropped until a valid camera_info arrives ({why}; require_camera_info)")
        if recent("frame_id_switches"):
            problems.append(f"image frame_id switched {recent('frame_id_switches')} times{window} "
                            "(several publishers on the image topic?)")
        problems.extend(str(p) for p in input_problems)
        if problems:
            level = DIAG_WARN
    if state == "active" and not problems:
        message = (f"{_fmt(stats.get('output_rate_hz', 0.0))} Hz, p50 {_fmt(stats.get('latency_p50_ms', float('nan')))} ms"
                   if received else "waiting for input")
    else:
        message = "; ".join(problems)
    return DiagnosticData(level, name, message, hardware_id, values)


def _fmt_s(seconds: Any) -> str:
    return f"{float(seconds):g} s"


# =========================================================================== markers and TF

#: RGBA per side (left blue, right orange-red); bridged hands get alpha 0.35.
SIDE_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "left": (0.15, 0.55, 1.0, 1.0),
    "right": (1.0, 0.35, 0.15, 1.0),
}
UNOBSERVED_ALPHA = 0.35

MARKER_LINE_LIST = 5  # visualization_msgs/Marker constants
MARKER_SPHERE_LIST = 7
MARKER_ADD = 0
MARKER_DELETEALL = 3


@dataclass
class MarkerData:
    """A visualization_msgs/Marker as data: points (N, 3) in ``frame_id``, colour RGBA 0..1,
    scale (x, y, z) metres, lifetime in seconds (0 = forever)."""

    ns: str
    id: int
    type: int
    action: int
    frame_id: str
    stamp_ns: int
    points: np.ndarray
    color: tuple[float, float, float, float]
    scale: tuple[float, float, float]
    lifetime_s: float


@dataclass
class TransformData:
    """A geometry_msgs/TransformStamped as data: ``child`` expressed in ``parent``."""

    parent: str
    child: str
    stamp_ns: int
    translation: np.ndarray
    rotation_xyzw: np.ndarray


def _bone_pairs() -> np.ndarray:
    from hand_models.joints import BONES

    return np.asarray(BONES, dtype=np.int64)


def _hand_slots(hands: Sequence[HandState]) -> list[tuple[HandState, int]]:
    """(hand, slot) with slot = index among the hands of the same side (most confident first)."""
    out = []
    for side in SIDES:
        same = [h for h in hands if h.side == side]
        same.sort(key=lambda h: -float(h.confidence) if math.isfinite(float(h.confidence)) else 0.0)
        out.extend((h, i) for i, h in enumerate(same))
    return out


def hand_markers(frame: FrameResult, lifetime_s: float = 0.2, joint_diameter_m: float = 0.008,
                 line_width_m: float = 0.004, delete_all_first: bool = True) -> list[MarkerData]:
    """Skeleton lines and joint spheres per hand, one colour per side, in the image's frame.

    Marker ids are stable per (side, slot): namespace ``<side>_skeleton`` / ``<side>_joints``,
    id = slot. The array starts with a DELETEALL so hands that disappear vanish at once (the
    lifetime also ends them when the stream stops). Hands with non-finite joints are skipped.
    """
    markers: list[MarkerData] = []
    if delete_all_first:
        markers.append(MarkerData("", 0, MARKER_SPHERE_LIST, MARKER_DELETEALL, frame.frame_id, frame.stamp_ns,
                                  np.zeros((0, 3)), (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.0))
    bones = _bone_pairs()
    for hand, slot in _hand_slots(frame.hands):
        joints = np.asarray(hand.joints, dtype=np.float64)
        if joints.shape != (21, 3) or not np.all(np.isfinite(joints)):
            continue
        r, g, b, a = SIDE_COLOURS.get(hand.side, (0.8, 0.8, 0.8, 1.0))
        if not hand.is_observed:
            a = UNOBSERVED_ALPHA
        colour = (r, g, b, a)
        markers.append(MarkerData(f"{hand.side}_skeleton", slot, MARKER_LINE_LIST, MARKER_ADD, frame.frame_id, frame.stamp_ns,
                                  joints[bones.reshape(-1)], colour, (line_width_m, 0.0, 0.0), lifetime_s))
        markers.append(MarkerData(f"{hand.side}_joints", slot, MARKER_SPHERE_LIST, MARKER_ADD, frame.frame_id, frame.stamp_ns,
                                  joints.copy(), colour, (joint_diameter_m,) * 3, lifetime_s))
    return markers


def wrist_transforms(frame: FrameResult, prefix: str = "hand_", only_observed: bool = False,
                     per_track: bool = False) -> list[TransformData]:
    """One TF per side (the most confident hand of that side): ``<prefix><side>_wrist`` in the
    image frame; with ``per_track`` also one per tracked hand (track_id >= 0, any slot):
    ``<prefix>track_<id>_wrist``. Hands with non-finite or zero-norm poses are skipped;
    quaternions normalised."""
    out = []
    for hand, slot in _hand_slots(frame.hands):
        if only_observed and not hand.is_observed:
            continue
        children = [f"{prefix}{hand.side}_wrist"] if slot == 0 else []
        if per_track and int(hand.track_id) >= 0:
            children.append(f"{prefix}track_{int(hand.track_id)}_wrist")
        if not children:
            continue
        t = np.asarray(hand.wrist_position, dtype=np.float64).reshape(-1)
        q = np.asarray(hand.wrist_orientation_xyzw, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or q.shape != (4,) or not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
            continue
        n = np.linalg.norm(q)
        if n < 1e-9:
            continue
        out.extend(TransformData(frame.frame_id, child, frame.stamp_ns, t.copy(), q / n) for child in children)
    return out


# =========================================================================== message building


def _default_value(types: RosbagsTypes, spec: tuple[Any, Any]) -> Any:
    from rosbags.typesys.base import Nodetype

    kind, sub = spec
    if kind == Nodetype.BASE:
        name = sub[0]
        if name == "string":
            return ""
        if name == "bool":
            return False
        if name in ("float32", "float64"):
            return 0.0
        return 0
    if kind == Nodetype.NAME:
        return default_message(types, sub)
    if kind == Nodetype.ARRAY:
        (ikind, isub), count = sub
        if ikind == Nodetype.BASE and isub[0] != "string":
            return np.zeros(count, dtype=_NP_DTYPES.get(isub[0], np.uint8))
        return [_default_value(types, (ikind, isub)) for _ in range(count)]
    if kind == Nodetype.SEQUENCE:
        (ikind, isub), _bound = sub
        if ikind == Nodetype.BASE and isub[0] != "string":
            return np.zeros(0, dtype=_NP_DTYPES.get(isub[0], np.uint8))
        return []
    raise ValueError(f"unknown field kind {kind}")


_NP_DTYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}


def default_message(types: RosbagsTypes, typename: str, /, **fields: Any) -> Any:
    """A rosbags message of type ``typename`` with every field defaulted, then ``fields`` set."""
    name = typename
    _consts, fielddefs = types.typestore.fielddefs[name]
    kwargs = {fname: (fields[fname] if fname in fields else _default_value(types, fspec))
              for fname, fspec in fielddefs}
    unknown = set(fields) - set(kwargs)
    if unknown:
        raise ValueError(f"{name} has no fields {sorted(unknown)}")
    return types[name](**kwargs)


def make_message(types: MessageTypes, typename: str, /, **fields: Any) -> Any:
    """Build message ``typename`` with ``fields`` for any type provider: rclpy classes default the
    missing fields themselves; rosbags dataclasses get them from the typestore definitions."""
    if isinstance(types, RosbagsTypes):
        return default_message(types, typename, **fields)
    return types[typename](**fields)


def _byte(types: MessageTypes, value: int) -> Any:
    """A ``byte`` field value: bytes of length 1 for rclpy, an int for rosbags."""
    return int(value) if isinstance(types, RosbagsTypes) else bytes([int(value)])


def _header(types: MessageTypes, stamp_ns: int, frame_id: str) -> Any:
    return make_message(types, "std_msgs/msg/Header", stamp=stamp_to_time(stamp_ns, types), frame_id=str(frame_id))


def _duration(types: MessageTypes, seconds: float) -> Any:
    ns = max(0, int(round(float(seconds) * NS_PER_S)))
    return make_message(types, "builtin_interfaces/msg/Duration", sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


def marker_to_msg(marker: MarkerData, types: MessageTypes) -> Any:
    point = types["geometry_msgs/msg/Point"]
    pose = make_message(
        types, "geometry_msgs/msg/Pose",
        position=make_message(types, "geometry_msgs/msg/Point", x=0.0, y=0.0, z=0.0),
        orientation=make_message(types, "geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
    )
    r, g, b, a = (float(c) for c in marker.color)
    sx, sy, sz = (float(s) for s in marker.scale)
    return make_message(
        types, MARKER_TYPE,
        header=_header(types, marker.stamp_ns, marker.frame_id),
        ns=str(marker.ns), id=int(marker.id), type=int(marker.type), action=int(marker.action),
        pose=pose,
        scale=make_message(types, "geometry_msgs/msg/Vector3", x=sx, y=sy, z=sz),
        color=make_message(types, "std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a),
        lifetime=_duration(types, marker.lifetime_s),
        frame_locked=False,
        points=[point(x=x, y=y, z=z) for x, y, z in np.asarray(marker.points, dtype=np.float64).reshape(-1, 3).tolist()],
    )


def markers_to_msg(markers: Iterable[MarkerData], types: MessageTypes) -> Any:
    """visualization_msgs/MarkerArray of :func:`hand_markers` output."""
    return make_message(types, MARKER_ARRAY_TYPE, markers=[marker_to_msg(m, types) for m in markers])


def transform_to_msg(tf: TransformData, types: MessageTypes) -> Any:
    x, y, z = (float(v) for v in tf.translation)
    qx, qy, qz, qw = (float(v) for v in tf.rotation_xyzw)
    return make_message(
        types, TRANSFORM_STAMPED_TYPE,
        header=_header(types, tf.stamp_ns, tf.parent),
        child_frame_id=str(tf.child),
        transform=make_message(
            types, "geometry_msgs/msg/Transform",
            translation=make_message(types, "geometry_msgs/msg/Vector3", x=x, y=y, z=z),
            rotation=make_message(types, "geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        ),
    )


def transforms_to_tf_msg(transforms: Iterable[TransformData], types: MessageTypes) -> Any:
    """tf2_msgs/TFMessage (what /tf carries) of :func:`wrist_transforms` output."""
    return make_message(types, TF_MESSAGE_TYPE, transforms=[transform_to_msg(t, types) for t in transforms])


def diagnostics_to_msg(statuses: Iterable[DiagnosticData], stamp_ns: int, types: MessageTypes) -> Any:
    """diagnostic_msgs/DiagnosticArray of :func:`diagnostic_status` output."""
    out = []
    for s in statuses:
        out.append(make_message(
            types, "diagnostic_msgs/msg/DiagnosticStatus",
            level=_byte(types, s.level), name=str(s.name), message=str(s.message),
            hardware_id=str(s.hardware_id),
            values=[make_message(types, "diagnostic_msgs/msg/KeyValue", key=str(k), value=str(v)) for k, v in s.values],
        ))
    return make_message(types, DIAGNOSTIC_ARRAY_TYPE, header=_header(types, stamp_ns, ""), status=out)


# =========================================================================== frame handling


@dataclass
class PreparedFrame:
    """An input image ready for the pipeline, or the reason it cannot be processed."""

    stamp_ns: int
    frame_id: str
    image: np.ndarray | None
    intrinsics: CameraIntrinsics | None
    warnings: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    #: warnings already limited by their source (one per new image frame_id pair): log each
    notices: list[str] = field(default_factory=list)


def prepare_frame(decode: Callable[[], np.ndarray], stamp_ns: int, frame_id: str, pairer: CameraInfoPairer,
                  stamps: StampMonitor, stats: RunningStats, require_camera_info: bool = False,
                  frame_id_fallback: str = "", frame_ids: FrameIdMonitor | None = None) -> PreparedFrame:
    """The node's per-image decisions, in order: frame id (a switch to another frame_id, e.g. two
    cameras on one topic, is counted and warned about once per pair of ids when ``frame_ids`` is
    given; the frame is still processed), stamp order (duplicate -> skip; backwards -> 'reset'
    warning, the caller resets its pipeline), decoding (bad -> skip and count), CameraInfo pairing
    and size check (missing -> default intrinsics with a warning, or skip when
    ``require_camera_info``). Sets ``stats.intrinsics_source``/``intrinsics_problem`` for the
    diagnostics. Never raises for bad input."""
    from .image_codec import try_intrinsics_for_image

    frame_id = str(frame_id) or frame_id_fallback or "camera"
    warnings: list[str] = []
    notices: list[str] = []
    if frame_ids is not None:
        switched = frame_ids.last not in (None, frame_id)
        note = frame_ids.check(frame_id)
        if switched:
            stats.frame_id_switches += 1
        if note:
            notices.append(note)
    order = stamps.check(stamp_ns)
    if order == "repeat":
        stats.duplicates += 1
        return PreparedFrame(stamp_ns, frame_id, None, None, skip_reason=f"duplicate stamp {stamp_ns}",
                             notices=notices)
    if order == "backwards":
        stats.stamp_resets += 1
        warnings.append(f"stamp {stamp_ns} went backwards (looped bag or restarted camera): state reset")
    try:
        image = decode()
    except (ValueError, TypeError, AttributeError) as exc:
        stats.bad += 1
        stats.last_error = f"bad image: {exc}"
        return PreparedFrame(stamp_ns, frame_id, None, None, warnings, skip_reason=f"bad image: {exc}",
                             notices=notices)
    intr, problem = pairer.match(stamp_ns, frame_id)
    if intr is not None:
        intr, note = try_intrinsics_for_image(intr, image.shape[1], image.shape[0])
        if intr is None:
            problem = note
        elif note:
            warnings.append(note)
    if problem is not None and intr is not None:  # paired, with a note (e.g. frame_id mismatch)
        warnings.append(problem)
    if intr is None:
        stats.no_camera_info += 1
        stats.intrinsics_problem = str(problem)
        if require_camera_info:
            stats.intrinsics_source = "missing"
            return PreparedFrame(stamp_ns, frame_id, None, None, warnings,
                                 skip_reason=f"{problem}; frame dropped (require_camera_info)", notices=notices)
        stats.default_intrinsics += 1
        stats.intrinsics_source = "default"
        warnings.append(f"{problem}: using a default focal length")
    else:
        stats.intrinsics_source, stats.intrinsics_problem = "camera_info", ""
    return PreparedFrame(stamp_ns, frame_id, image, intr, warnings, notices=notices)


class ThrottledLog:
    """Logs a message key at most once per ``period_s`` (counts the suppressed ones)."""

    def __init__(self, emit: Callable[[str], None], period_s: float = 5.0) -> None:
        self.emit = emit
        self.period_s = period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = collections.defaultdict(int)

    def __call__(self, key: str, message: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self._suppressed[key] += 1
            return False
        n = self._suppressed.pop(key, 0)
        self._last[key] = now
        self.emit(message + (f" (+{n} similar)" if n else ""))
        return True



def build_forecaster(config: Any) -> Any:
    """The forecaster a PipelineConfig asks for (standalone forecaster node: no estimator).

    Uses ``hand_perception.core.pipeline.build_forecaster`` when the pipeline module provides one
    (learned forecasters), so the node and the pipeline always agree; else the no-weights
    constant-velocity forecaster."""
    from . import pipeline as _pipeline
    from .forecasting import ConstantVelocityForecaster

    factory = getattr(_pipeline, "build_forecaster", None)
    if callable(factory):
        return factory(config)
    model = str(config.forecast.model)
    if model == "constant_velocity":
        return ConstantVelocityForecaster(config.forecast)
    raise ValueError(f"unknown forecast model {model!r}")


__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "collections", "dataclasses", "logging", "math", "os", "threading", "time",
    "np", "Any", "Callable", "Iterable", "Sequence", "Path", "dataclass", "field", "log")]
