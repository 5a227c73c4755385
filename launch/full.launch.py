"""Hand perception: estimator + forecaster (one process by default), optional bag and RViz.

    ros2 launch hand_perception full.launch.py image_topic:=/camera/image_raw \\
        camera_info_topic:=/camera/camera_info
    ros2 launch hand_perception full.launch.py bag:=/data/session1 use_sim_time:=true rviz:=true

The nodes are lifecycle nodes that configure and activate themselves (parameter ``autostart``,
on by default), so they publish without a lifecycle manager. With ``autostart:=false`` drive them
with ``ros2 lifecycle set /hand_perception configure`` / ``activate``.

Arguments are listed in ``ARGUMENTS`` (``ros2 launch hand_perception full.launch.py --show-args``).
``nodes`` picks the executables: ``combined`` (hand_perception_node: estimator and forecaster in one
process, no serialization between them), ``split`` (hand_estimator + hand_forecaster),
``estimator`` or ``forecaster`` only (what estimator.launch.py / forecaster.launch.py use).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "hand_perception"

# (name, default, description) -- a literal, checked by tests/test_launch_files.py
ARGUMENTS = (
    ("image_topic", "/image_raw",
     "Camera image topic (sensor_msgs/Image); with image_transport:=compressed, <image_topic>/compressed."),
    ("camera_info_topic", "/camera_info", "Camera info topic (sensor_msgs/CameraInfo)."),
    ("image_transport", "raw", "raw (sensor_msgs/Image) or compressed (sensor_msgs/CompressedImage)."),
    ("hands_topic", "hands", "HandArray topic the forecaster subscribes to (nodes:=forecaster/split)."),
    ("config", "", "ROS parameter file; empty: the package's config/hand_perception.yaml."),
    ("backend", "", "Estimator inference backend; empty: as in the config."),
    ("device", "", "Device for learned models (cpu, cuda:0); empty: automatic."),
    ("namespace", "", "Namespace of the nodes and their relative topics (hands, hands/markers, ...)."),
    ("use_sim_time", "false", "Use /clock (true when playing a bag with timing)."),
    ("bag", "", "rosbag2 (folder, .mcap or .db3) to play with 'ros2 bag play'; empty: live camera. Only the "
     "inputs of the launched nodes are played (see bag_topics)."),
    ("bag_topics", "",
     "Topics to play from the bag besides the inputs of the launched nodes, space separated (e.g. '/tf "
     "/tf_static' for target_frame); 'all' plays every recorded topic (outputs too: they then compete with "
     "the nodes' own)."),
    ("bag_loop", "true", "Loop the bag (stamps going backwards reset the tracks)."),
    ("bag_rate", "1.0", "Playback rate of the bag."),
    ("target_frame", "", "Node parameter target_frame: also publish hands, markers and forecasts in this TF frame "
     "(e.g. base_link); empty: as in the config (default: camera frame only)."),
    ("depth_topic", "", "Node parameter depth_topic: registered depth image (sensor_msgs/Image 16UC1 mm or 32FC1 m, "
     "e.g. /camera/aligned_depth_to_color/image_raw) paired with the colour image by stamp; played from the bag "
     "when set; empty: as in the config (default: monocular)."),
    ("rviz", "false", "Start RViz with the hand markers and TF."),
    ("rviz_config", "", "RViz config; empty: the package's launch/hand_perception.rviz."),
    ("rviz_fixed_frame", "camera", "RViz fixed frame: the camera's optical frame_id (header.frame_id of the images)."),
    ("autostart", "true", "Nodes configure and activate themselves after start-up."),
    ("log_level", "info", "Log level of the nodes (debug, info, warn, error)."),
    ("nodes", "combined", "combined | split | estimator | forecaster."),
)

NODE_MODES = ("combined", "split", "estimator", "forecaster")


def _string_param(value):
    """A launch-argument text for a node parameter declared as a string.

    launch_ros may read an untyped parameter value as YAML (always so for a LaunchConfiguration
    substitution), and then ``device:=0`` reaches the node as an integer, ``backend:=true`` as a
    bool, and the node's declare_parameter fails with InvalidParameterTypeException.
    value_type=str states the type, so the text stays a string.
    """
    return ParameterValue(value, value_type=str)


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _share_dir() -> str:
    """The installed share folder, or the source tree when run from it."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return get_package_share_directory(PACKAGE)
    except Exception:  # noqa: BLE001 - not installed: use the repository layout
        here = os.path.dirname(os.path.abspath(__file__))
        return os.path.join(os.path.dirname(here), "ros2_ws", "src", PACKAGE)


def _rviz_config(template: str, fixed_frame: str) -> str:
    """A copy of the package's RViz config with the fixed frame set (written to a temp file)."""
    import tempfile

    with open(template, encoding="utf-8") as fh:
        text = fh.read()
    text = text.replace("Fixed Frame: camera", f"Fixed Frame: {fixed_frame}")
    fd, path = tempfile.mkstemp(prefix="hand_perception_", suffix=".rviz")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def resolve_topic(name: str, namespace: str) -> str:
    """Fully qualified name of a topic as a node in ``namespace`` resolves it (relative names get
    the namespace; absolute ones stay)."""
    name = name.strip()
    if name.startswith("/"):
        return name
    ns = namespace.strip().strip("/")
    return f"/{ns}/{name}" if ns else f"/{name}"


def bag_input_topics(mode: str, image_topic: str, image_transport: str, camera_info_topic: str,
                     hands_topic: str, namespace: str, depth_topic: str = "") -> list[str]:
    """Recorded topics the nodes of ``mode`` subscribe to, as 'ros2 bag play --topics' wants them.

    The estimator (combined, split, estimator) takes the image (raw, or <image_topic>/compressed)
    and camera_info; the standalone forecaster takes hands. In split mode the forecaster is fed by
    the estimator, so a recorded hands topic is NOT played. A ``depth_topic`` is an estimator input too. A replay output bag also holds
    hands/forecast, hands/action, markers and /tf: playing them would put a second publisher
    next to the launched nodes' own.
    """
    topics = []
    if mode in ("combined", "split", "estimator"):
        image = resolve_topic(image_topic, namespace)
        topics.append(image.rstrip("/") + "/compressed" if image_transport == "compressed" else image)
        topics.append(resolve_topic(camera_info_topic, namespace))
        if depth_topic.strip():
            topics.append(resolve_topic(depth_topic, namespace))
    if mode == "forecaster":
        topics.append(resolve_topic(hands_topic or "hands", namespace))
    return topics


def bag_play_command(bag: str, rate: str, loop: bool, clock: bool, topics: list[str], extra: str) -> list[str]:
    """The 'ros2 bag play' command line: ``topics`` plus the space/comma separated ``extra`` ones,
    or every recorded topic when ``extra`` is 'all'."""
    cmd = ["ros2", "bag", "play", bag, "--rate", rate or "1.0"]
    if loop:
        cmd.append("--loop")
    if clock:
        cmd.append("--clock")
    extra_topics = extra.replace(",", " ").split()
    if [t.lower() for t in extra_topics] == ["all"]:
        return cmd
    selected: list[str] = []
    for t in topics + extra_topics:
        if t not in selected:
            selected.append(t)
    return cmd + ["--topics", *selected]


def _setup(context, *args, **kwargs):
    def get(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    share = _share_dir()
    mode = get("nodes").strip().lower()
    if mode not in NODE_MODES:
        raise RuntimeError(f"nodes:={mode!r} is not one of {', '.join(NODE_MODES)}")
    config = get("config") or os.path.join(share, "config", "hand_perception.yaml")
    if not os.path.isfile(config):
        raise RuntimeError(f"parameter file {config!r} does not exist")
    use_sim_time = _truthy(get("use_sim_time"))
    namespace = get("namespace").strip().strip("/")
    # string parameters go through _string_param; the bools are Python bools (kept as they are)
    overrides = {
        "use_sim_time": use_sim_time,
        "autostart": _truthy(get("autostart")),
        "image_transport": _string_param(get("image_transport") or "raw"),
    }
    for key in ("backend", "device", "target_frame", "depth_topic"):
        if get(key):
            overrides[key] = _string_param(get(key))
    image_topic = get("image_topic")
    camera_remaps = [
        ("image", image_topic),
        ("image/compressed", image_topic.rstrip("/") + "/compressed"),
        ("camera_info", get("camera_info_topic")),
    ]
    ros_args = ["--ros-args", "--log-level", get("log_level") or "info"]

    def lifecycle_node(executable: str, name: str, remappings):
        return LifecycleNode(
            package=PACKAGE,
            executable=executable,
            name=name,
            namespace=namespace,
            parameters=[config, overrides],
            remappings=remappings,
            arguments=ros_args,
            output="screen",
            emulate_tty=True,
        )

    actions = [LogInfo(msg=f"hand_perception: nodes={mode}, params={config}, image={image_topic}, "
                           f"namespace='{namespace}', use_sim_time={use_sim_time}")]
    if mode == "combined":
        actions.append(lifecycle_node("hand_perception_node", "hand_perception", camera_remaps))
    if mode in ("split", "estimator"):
        actions.append(lifecycle_node("hand_estimator", "hand_estimator", camera_remaps))
    if mode in ("split", "forecaster"):
        actions.append(lifecycle_node("hand_forecaster", "hand_forecaster", [("hands", get("hands_topic") or "hands")]))

    bag = get("bag")
    if bag:
        inputs = bag_input_topics(mode, image_topic, get("image_transport") or "raw", get("camera_info_topic"),
                                  get("hands_topic"), namespace, get("depth_topic"))
        cmd = bag_play_command(bag, get("bag_rate"), _truthy(get("bag_loop")), use_sim_time, inputs,
                               get("bag_topics"))
        actions.append(ExecuteProcess(cmd=cmd, output="screen", name="bag_play"))

    if _truthy(get("rviz")):
        rviz_config = get("rviz_config")
        if not rviz_config:
            rviz_config = _rviz_config(os.path.join(share, "launch", "hand_perception.rviz"),
                                       get("rviz_fixed_frame") or "camera")
        actions.append(Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            namespace=namespace,
            arguments=["-d", rviz_config],
            parameters=[{"use_sim_time": use_sim_time}],
            output="screen",
        ))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [OpaqueFunction(function=_setup)]
    )
