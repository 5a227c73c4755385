"""``hand_perception_node``: estimator and forecaster in one process. Each estimated frame goes
straight to the forecaster as a Python object (no serialization, no ``hands`` subscription).

Inputs as ``hand_estimator``; outputs ``hands``, ``hands/markers``, ``/tf``, ``hands/forecast``,
``hands/action``, ``/diagnostics``. Lifecycle node; see :mod:`hand_perception.nodes.common`.
"""

from __future__ import annotations

from hand_perception.nodes.common import HandPerceptionNode, run_node


class HandPerceptionCombinedNode(HandPerceptionNode):
    EXECUTABLE = "hand_perception_node"
    WITH_ESTIMATOR = True
    WITH_FORECASTER = True


def main(args: list[str] | None = None) -> int:
    return run_node(HandPerceptionCombinedNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
