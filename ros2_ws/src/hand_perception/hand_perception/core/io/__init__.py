"""The ROS-facing side of the core, ROS-free: messages, images, and every decision of the nodes.

Messages and images:

* :mod:`.conversions`: core dataclasses <-> ``hand_perception_msgs`` messages (rclpy and rosbags);
  :mod:`.forecast_messages` and :mod:`.forecast_packing` for the packed forecast messages.
* :mod:`.ros_messages`: any other message (markers, TF, diagnostics, headers) for either type provider.
* :mod:`.image_codec`: Image/CompressedImage decoding and encoding, CameraInfo <-> intrinsics
  (no cv_bridge).

Node decisions, by node part:

* :mod:`.topics` (topics, QoS) and :mod:`.params` (parameters, parameter files, pipeline config).
* :mod:`.camera_info` (image/CameraInfo pairing), :mod:`.frame_input` (per-image checks before the
  pipeline), :mod:`.queueing` (bounded queue and worker thread).
* :mod:`.stats` (rates, latency, counters, stamp order, pacing), :mod:`.node_health` (recent
  counters, frame_id and topic type monitors), :mod:`.diagnostics` (``/diagnostics`` status).
* :mod:`.markers` and :mod:`.transforms` (RViz markers, wrist TF).
* :mod:`.forecaster_factory` (the standalone forecaster node's forecaster).

``hand_perception.core.node_logic``, ``.conversions``, ``.image_codec``, ``.forecast_messages``,
``.forecast_packing`` and ``.node_health`` re-export these names for one release.
"""
