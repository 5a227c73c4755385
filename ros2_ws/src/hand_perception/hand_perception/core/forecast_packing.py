"""Moved to :mod:`hand_perception.core.io.forecast_packing` (int8 packing of forecast samples).

This module keeps the old import path working for one release; import from
``hand_perception.core.io.forecast_packing`` in new code.
"""

from hand_perception.core.io.forecast_packing import *  # noqa: F401,F403
from hand_perception.core.io.forecast_packing import __all__  # noqa: F401
from hand_perception.core.io.forecast_packing import (  # noqa: F401
    _sample_average,
)
