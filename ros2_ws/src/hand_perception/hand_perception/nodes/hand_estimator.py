"""``hand_estimator``: camera images (+ CameraInfo) -> ``hands``, ``hands/markers``, ``/tf`` wrist
frames and ``/diagnostics``. Lifecycle node; see :mod:`hand_perception.nodes.common`.

Topics (relative names, remap them in the launch file): ``image`` (sensor_msgs/Image) or
``image/compressed`` (sensor_msgs/CompressedImage, parameter ``image_transport``), ``camera_info``
-> ``hands`` (hand_perception_msgs/HandArray), ``hands/markers`` (visualization_msgs/MarkerArray).
"""

from __future__ import annotations

from hand_perception.nodes.common import HandPerceptionNode, run_node


class HandEstimatorNode(HandPerceptionNode):
    EXECUTABLE = "hand_estimator"
    WITH_ESTIMATOR = True
    WITH_FORECASTER = False


def main(args: list[str] | None = None) -> int:
    return run_node(HandEstimatorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
