"""Estimator only: camera images -> hands, hands/markers, /tf, /diagnostics (node hand_estimator).

    ros2 launch hand_perception estimator.launch.py image_topic:=/camera/image_raw \\
        camera_info_topic:=/camera/camera_info

Includes full.launch.py with ``nodes:=estimator``; see it for the behaviour of each argument.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

# (name, default, description) -- a literal, checked by tests/test_launch_files.py
ARGUMENTS = (
    ("image_topic", "/image_raw", "Camera image topic (sensor_msgs/Image)."),
    ("camera_info_topic", "/camera_info", "Camera info topic (sensor_msgs/CameraInfo)."),
    ("image_transport", "raw", "raw (sensor_msgs/Image) or compressed (sensor_msgs/CompressedImage)."),
    ("config", "", "ROS parameter file; empty: the package's config/hand_perception.yaml."),
    ("backend", "", "Estimator inference backend; empty: as in the config."),
    ("device", "", "Device for learned models (cpu, cuda:0); empty: automatic."),
    ("namespace", "", "Namespace of the node and its relative topics."),
    ("use_sim_time", "false", "Use /clock (true when playing a bag with timing)."),
    ("bag", "", "rosbag2 to play with 'ros2 bag play'; empty: live camera."),
    ("bag_topics", "", "Topics to play besides the node's inputs, space separated (e.g. '/tf /tf_static'); "
     "'all': every recorded topic."),
    ("bag_loop", "true", "Loop the bag."),
    ("target_frame", "", "Also publish the outputs in this TF frame (node parameter target_frame); empty: as in "
     "the config."),
    ("depth_topic", "", "Registered depth image topic (node parameter depth_topic; 16UC1 mm or 32FC1 m); played "
     "from the bag when set; empty: as in the config (monocular)."),
    ("bag_rate", "1.0", "Playback rate of the bag."),
    ("rviz", "false", "Start RViz with the hand markers and TF."),
    ("rviz_config", "", "RViz config; empty: the package's launch/hand_perception.rviz."),
    ("rviz_fixed_frame", "camera", "RViz fixed frame (the camera's optical frame_id)."),
    ("autostart", "true", "The node configures and activates itself after start-up."),
    ("log_level", "info", "Log level of the node."),
)

NODES = "estimator"


def generate_launch_description() -> LaunchDescription:
    full = os.path.join(os.path.dirname(os.path.abspath(__file__)), "full.launch.py")
    forwarded = [(name, LaunchConfiguration(name)) for name, _, _ in ARGUMENTS] + [("nodes", NODES)]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [IncludeLaunchDescription(PythonLaunchDescriptionSource(full), launch_arguments=forwarded)]
    )
