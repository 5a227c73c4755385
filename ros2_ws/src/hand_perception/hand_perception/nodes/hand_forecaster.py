"""``hand_forecaster``: ``hands`` (hand_perception_msgs/HandArray) -> ``hands/forecast``
(BimanualForecast) and ``hands/action`` (ActionEstimate), at the pipeline's ``forecast.rate_hz``
of stream time, plus ``/diagnostics``. Lifecycle node; see :mod:`hand_perception.nodes.common`.
"""

from __future__ import annotations

from hand_perception.nodes.common import HandPerceptionNode, run_node


class HandForecasterNode(HandPerceptionNode):
    EXECUTABLE = "hand_forecaster"
    WITH_ESTIMATOR = False
    WITH_FORECASTER = True


def main(args: list[str] | None = None) -> int:
    return run_node(HandForecasterNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
