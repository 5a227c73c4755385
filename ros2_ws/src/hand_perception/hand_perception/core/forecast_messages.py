"""Moved to :mod:`hand_perception.core.io.forecast_messages` (forecast <-> BimanualForecast/HandTrajectory messages).

This module keeps the old import path working for one release; import from
``hand_perception.core.io.forecast_messages`` in new code.
"""

from hand_perception.core.io.forecast_messages import *  # noqa: F401,F403
from hand_perception.core.io.forecast_messages import __all__  # noqa: F401
from hand_perception.core.io.forecast_messages import (  # noqa: F401
    BIMANUAL_FORECAST,
    HAND_POSE_DIM,
    HAND_TRAJECTORY,
    NUM_JOINTS,
    _POS_DIM,
    _UINT32_MAX,
    _array,
    _forecast_sides,
    _steps_of,
    _trajectory_arrays,
)
# names the old module had from conversions and types
from hand_perception.core.io.conversions import (  # noqa: F401
    MessageTypes,
    _f64,
    _header,
    _side_code,
    _side_name,
    time_to_ns,
)
from hand_perception.core.types import BimanualForecast, ForecastSample, HandTrajectory, Side  # noqa: F401
