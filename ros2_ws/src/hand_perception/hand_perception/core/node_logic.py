"""Moved to :mod:`hand_perception.core.io` (split by job); this module keeps the old import path
working for one release. Import from the new modules in new code:

* :mod:`~hand_perception.core.io.topics`: QoS profiles, topics of each executable
  (``QosSpec``, ``TOPICS``, ``TARGET_FRAME_TOPICS``, ``topic``).
* :mod:`~hand_perception.core.io.params`: parameter declarations, parameter files, validation,
  ``pipeline.*`` parameters <-> PipelineConfig.
* :mod:`~hand_perception.core.io.camera_info`: ``CameraInfoPairer``.
* :mod:`~hand_perception.core.io.queueing`: ``FrameQueue``, ``QueueWorker``.
* :mod:`~hand_perception.core.io.stats`: ``RunningStats``, ``StampMonitor``, ``StreamRateLimiter``,
  ``ThrottledLog``.
* :mod:`~hand_perception.core.io.diagnostics`: ``DiagnosticData``, ``diagnostic_status``,
  ``diagnostics_to_msg``.
* :mod:`~hand_perception.core.io.markers` / :mod:`~hand_perception.core.io.transforms`: RViz
  markers and wrist TF as data and messages.
* :mod:`~hand_perception.core.io.ros_messages`: ``make_message``/``default_message`` for rclpy and
  rosbags alike.
* :mod:`~hand_perception.core.io.frame_input`: ``prepare_frame``/``PreparedFrame``.
* :mod:`~hand_perception.core.io.forecaster_factory`: ``build_forecaster``.
"""

# ``time`` stays importable from here: tests patch ``node_logic.time.monotonic`` (the time module).
import time  # noqa: F401

from hand_perception.core.io.camera_info import _Info, CameraInfoPairer  # noqa: F401
from hand_perception.core.io.conversions import MessageTypes, RosbagsTypes, stamp_to_time  # noqa: F401
from hand_perception.core.io.diagnostics import (  # noqa: F401
    DIAG_ERROR,
    DIAG_OK,
    DIAG_STALE,
    DIAG_WARN,
    DiagnosticData,
    _fmt,
    _fmt_s,
    diagnostic_status,
    diagnostics_to_msg,
)
from hand_perception.core.io.forecaster_factory import build_forecaster  # noqa: F401
from hand_perception.core.io.frame_input import PreparedFrame, prepare_frame  # noqa: F401
from hand_perception.core.io.markers import (  # noqa: F401
    MARKER_ADD,
    MARKER_DELETEALL,
    MARKER_LINE_LIST,
    MARKER_SPHERE_LIST,
    SIDE_COLOURS,
    UNOBSERVED_ALPHA,
    MarkerData,
    _bone_pairs,
    _hand_slots,
    hand_markers,
    marker_to_msg,
    markers_to_msg,
)
from hand_perception.core.io.node_health import (  # noqa: F401
    FrameIdMonitor,
    RecentCounter,
    init_recent_counters,
    recent_count,
)
from hand_perception.core.io.params import (  # noqa: F401
    _COMMON_PARAMS,
    _ESTIMATOR_PARAMS,
    _FORECASTER_PARAMS,
    _TARGET_FRAME_PARAMS,
    NODE_NAMES,
    NODE_PARAMETERS,
    PIPELINE_PREFIX,
    ParamSpec,
    _flatten,
    _leaf_value,
    _like,
    _node_matches,
    _nullable_fields,
    default_params_file,
    load_ros_params_file,
    node_parameters,
    package_config_dirs,
    param_type,
    pipeline_config_from_parameters,
    pipeline_parameter_specs,
    resolve_config_path,
    validate_parameters,
)
from hand_perception.core.io.queueing import FrameQueue, QueueWorker  # noqa: F401
from hand_perception.core.io.ros_messages import (  # noqa: F401
    _NP_DTYPES,
    NS_PER_S,
    _byte,
    _default_value,
    _duration,
    _header,
    default_message,
    make_message,
)
from hand_perception.core.io.stats import (  # noqa: F401
    RunningStats,
    StampMonitor,
    StreamRateLimiter,
    ThrottledLog,
    percentile,
)
from hand_perception.core.io.topics import (  # noqa: F401
    _COMBINED_TOPICS,
    _ESTIMATOR_TOPICS,
    _FORECASTER_TOPICS,
    ACTION_TYPE,
    CAMERA_INFO_TYPE,
    COMPRESSED_IMAGE_TYPE,
    DIAGNOSTIC_ARRAY_TYPE,
    FORECAST_TYPE,
    HAND_ARRAY_TYPE,
    IMAGE_TYPE,
    MARKER_ARRAY_TYPE,
    MARKER_TYPE,
    OUTPUT_QOS,
    SENSOR_DATA_QOS,
    TARGET_FRAME_TOPICS,
    TF_MESSAGE_TYPE,
    TF_QOS,
    TOPICS,
    TRANSFORM_STAMPED_TYPE,
    QosSpec,
    TopicSpec,
    qos_compatible,
    topic,
)
from hand_perception.core.io.transforms import (  # noqa: F401
    TransformData,
    transform_to_msg,
    transforms_to_tf_msg,
    wrist_transforms,
)
from hand_perception.core.types import SIDES, CameraIntrinsics, FrameResult, HandState  # noqa: F401

__all__ = [name for name in dir() if not name.startswith("_") and name != "time"]
