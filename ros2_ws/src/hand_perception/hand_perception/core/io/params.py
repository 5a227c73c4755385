"""ROS parameters of the nodes as data, their files, their checks, and the pipeline configuration
they make (no ROS needed).

* :class:`ParamSpec` / :func:`node_parameters`: every node parameter of each executable with its
  default (whose type is the parameter type), description and range or choices;
  :func:`validate_parameters` checks values against them as strictly as rclpy does.
* ``pipeline.<section>.<key>`` parameters mirror every field of
  :class:`~hand_perception.core.config.PipelineConfig` (:func:`pipeline_parameter_specs`,
  :func:`pipeline_config_from_parameters`); precedence: dataclass defaults < ``pipeline_config``
  YAML file < ``pipeline.*`` parameters.
* Files: :func:`load_ros_params_file` reads one node's section(s) of a ROS 2 parameters YAML (rcl's
  name matching, wildcards); :func:`resolve_config_path`, :func:`package_config_dirs` and
  :func:`default_params_file` find config files in the source tree or the installed share folder.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

log = logging.getLogger(__name__)


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
    from ..config import PipelineConfig

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
    from ..config import PipelineConfig, pipeline_config_from_dict

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
    dirs.append(str(Path(__file__).resolve().parents[3] / "config"))
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


__all__ = [
    "NODE_NAMES",
    "NODE_PARAMETERS",
    "PIPELINE_PREFIX",
    "ParamSpec",
    "default_params_file",
    "load_ros_params_file",
    "node_parameters",
    "package_config_dirs",
    "param_type",
    "pipeline_config_from_parameters",
    "pipeline_parameter_specs",
    "resolve_config_path",
    "validate_parameters",
]
