"""Forecaster only: hands -> hands/forecast, hands/action, /diagnostics (node hand_forecaster).

    ros2 launch hand_perception forecaster.launch.py hands_topic:=/perception/hands

Use it next to estimator.launch.py (or any HandArray publisher, e.g. a replayed output bag:
``bag:=replay_out``: only its hands topic is played, so the recorded hands/forecast and
hands/action do not compete with the node's own; ``bag_topics:=...`` adds topics). Includes
full.launch.py with ``nodes:=forecaster``.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

# (name, default, description) -- a literal, checked by tests/test_launch_files.py
ARGUMENTS = (
    ("hands_topic", "hands", "HandArray topic to forecast from."),
    ("image_topic", "/image_raw", "Unused by the forecaster; accepted so all launch files take the same arguments."),
    ("camera_info_topic", "/camera_info", "Unused by the forecaster; accepted for symmetry."),
    ("config", "", "ROS parameter file; empty: the package's config/hand_perception.yaml."),
    ("backend", "", "Inference backend; empty: as in the config."),
    ("device", "", "Device for learned models (cpu, cuda:0); empty: automatic."),
    ("namespace", "", "Namespace of the node and its relative topics."),
    ("use_sim_time", "false", "Use /clock (true when playing a bag with timing)."),
    ("bag", "", "rosbag2 to play with 'ros2 bag play' (e.g. a replay output with hands); empty: none. Only "
     "the hands topic is played, not the recorded forecasts and actions."),
    ("bag_topics", "", "Topics to play besides the node's inputs, space separated (e.g. '/tf /tf_static'); "
     "'all': every recorded topic."),
    ("bag_loop", "true", "Loop the bag."),
    ("target_frame", "", "Also publish the outputs in this TF frame (node parameter target_frame); empty: as in "
     "the config."),
    ("bag_rate", "1.0", "Playback rate of the bag."),
    ("rviz", "false", "Start RViz."),
    ("rviz_config", "", "RViz config; empty: the package's launch/hand_perception.rviz."),
    ("rviz_fixed_frame", "camera", "RViz fixed frame (the camera's optical frame_id)."),
    ("autostart", "true", "The node configures and activates itself after start-up."),
    ("log_level", "info", "Log level of the node."),
)

NODES = "forecaster"


def generate_launch_description() -> LaunchDescription:
    full = os.path.join(os.path.dirname(os.path.abspath(__file__)), "full.launch.py")
    forwarded = [(name, LaunchConfiguration(name)) for name, _, _ in ARGUMENTS] + [("nodes", NODES)]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [IncludeLaunchDescription(PythonLaunchDescriptionSource(full), launch_arguments=forwarded)]
    )
