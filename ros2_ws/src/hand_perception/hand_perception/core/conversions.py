"""Moved to :mod:`hand_perception.core.io.conversions` (core dataclasses <-> hand_perception_msgs messages).

This module keeps the old import path working for one release; import from
``hand_perception.core.io.conversions`` in new code.
"""

from hand_perception.core.io.conversions import *  # noqa: F401,F403
from hand_perception.core.io.conversions import __all__  # noqa: F401
from hand_perception.core.io.conversions import (  # noqa: F401
    ACTION_ESTIMATE,
    ACTION_HYPOTHESIS,
    BETAS_DIM,
    BIMANUAL_FORECAST,
    HAND,
    HAND_ARRAY,
    HAND_POSE_DIM,
    HAND_TRAJECTORY,
    HEADER,
    NUM_JOINTS,
    PLACEMENT_DEPTH,
    PLACEMENT_FUSED,
    PLACEMENT_MONOCULAR,
    POINT,
    POSE,
    QUATERNION,
    SIDE_BOTH,
    SIDE_LEFT,
    SIDE_RIGHT,
    TIME,
    _INT32,
    _NS_PER_S,
    _PLACEMENT_CODES,
    _PLACEMENT_NAMES,
    _SIDE_CODES,
    _SIDE_NAMES,
    _TYPECODES,
    _UINT32_MAX,
    _f32,
    _f64,
    _header,
    _int32,
    _placement_code,
    _point,
    _points,
    _pose,
    _rank,
    _read,
    _read_points,
    _read_pose,
    _side_code,
    _side_name,
)
# names the old module had from hand_perception.core.types
from hand_perception.core.types import (  # noqa: F401
    ActionEstimate,
    ActionHypothesis,
    FrameResult,
    HandState,
    ManoParams,
    Side,
)
