"""hand_perception: ROS-free streaming core (estimator, forecaster, conversion, replay) and thin
rclpy nodes (``hand_perception.nodes``, the only place that imports rclpy)."""

__version__ = "0.1.0"
