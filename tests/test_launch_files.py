"""Launch files, RViz config, entry points and package manifest, checked without ROS.

The launch files are parsed with ``ast`` (their ``ARGUMENTS`` literal, the actions they use);
where the ``launch`` package is importable they are also imported and their descriptions built.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch"
PKG = REPO / "ros2_ws" / "src" / "hand_perception"
FILES = ("full.launch.py", "estimator.launch.py", "forecaster.launch.py")
REQUIRED = {"image_topic", "camera_info_topic", "config", "backend", "device", "namespace", "use_sim_time", "bag", "rviz"}


def _tree(name: str) -> ast.Module:
    return ast.parse((LAUNCH / name).read_text(encoding="utf-8"), filename=name)


def _arguments(name: str) -> list[tuple[str, str, str]]:
    for node in _tree(name).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ARGUMENTS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{name} has no ARGUMENTS literal")


def _called_names(name: str) -> set[str]:
    out = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return out


def test_package_launch_folder_is_the_repository_one():
    link = PKG / "launch"
    assert link.is_symlink() and link.resolve() == LAUNCH.resolve()


@pytest.mark.parametrize("name", FILES)
def test_launch_arguments(name):
    args = _arguments(name)
    names = [a[0] for a in args]
    assert len(names) == len(set(names))
    assert REQUIRED <= set(names), REQUIRED - set(names)
    for arg_name, default, description in args:
        assert isinstance(default, str) and len(description) > 10, arg_name
    defaults = {a[0]: a[1] for a in args}
    assert defaults["bag"] == "" and defaults["rviz"] == "false" and defaults["use_sim_time"] == "false"
    calls = _called_names(name)
    assert {"DeclareLaunchArgument", "LaunchDescription"} <= calls
    assert "generate_launch_description" in {n.name for n in _tree(name).body if isinstance(n, ast.FunctionDef)}


def test_sub_launch_files_forward_to_full():
    full = {a[0] for a in _arguments("full.launch.py")}
    for name in ("estimator.launch.py", "forecaster.launch.py"):
        assert {a[0] for a in _arguments(name)} <= full
        assert "IncludeLaunchDescription" in _called_names(name)
        text = (LAUNCH / name).read_text()
        assert "full.launch.py" in text
    assert 'NODES = "estimator"' in (LAUNCH / "estimator.launch.py").read_text()
    assert 'NODES = "forecaster"' in (LAUNCH / "forecaster.launch.py").read_text()


def test_full_launch_uses_lifecycle_nodes_bag_and_rviz():
    text = (LAUNCH / "full.launch.py").read_text()
    calls = _called_names("full.launch.py")
    assert {"LifecycleNode", "ExecuteProcess", "OpaqueFunction", "Node"} <= calls
    assert '"ros2", "bag", "play"' in text and '"--loop"' in text and '"--clock"' in text
    executables = set(re.findall(r'lifecycle_node\("(\w+)"', text))
    assert executables == {"hand_perception_node", "hand_estimator", "hand_forecaster"}
    assert '"autostart"' in text and "hand_perception.rviz" in text


def test_entry_points_exist_and_have_main():
    setup = (PKG / "setup.py").read_text()
    scripts = dict(re.findall(r'"([\w-]+) = ([\w.]+:\w+)"', setup))
    assert scripts["hand-perception"] == "hand_perception.cli:main"
    for exe in ("hand_estimator", "hand_forecaster", "hand_perception_node"):
        module, func = scripts[exe].split(":")
        path = PKG / (module.replace(".", "/") + ".py")
        funcs = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert func in funcs, (exe, path)
    assert '"launch/*.rviz"' in setup and '"config/*.yaml"' in setup


def test_nodes_are_lifecycle_nodes_with_transitions():
    common = ast.parse((PKG / "hand_perception" / "nodes" / "common.py").read_text())
    cls = next(n for n in common.body if isinstance(n, ast.ClassDef) and n.name == "HandPerceptionNode")
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert {"on_configure", "on_activate", "on_deactivate", "on_cleanup", "on_shutdown", "on_error"} <= methods
    assert any(isinstance(b, ast.Name) and b.id == "LifecycleNode" for b in cls.bases)
    text = "".join((PKG / "hand_perception" / "nodes" / name).read_text()  # common.py and the modules it uses
                   for name in ("common.py", "parts.py", "ros_params.py"))
    for needle in ("qos_profile_sensor_data", "FloatingPointRange", "IntegerRange", "TransformBroadcaster",
                   "create_lifecycle_publisher", "trigger_configure", "trigger_activate"):
        assert needle in text, needle


def test_core_never_imports_rclpy():
    for path in (PKG / "hand_perception").rglob("*.py"):
        if "nodes" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.split(".")[0] in ("rclpy", "launch", "launch_ros", "tf2_ros") for m in mods), path


def test_rviz_config():
    data = yaml.safe_load((LAUNCH / "hand_perception.rviz").read_text())
    displays = data["Visualization Manager"]["Displays"]
    classes = {d["Class"]: d for d in displays}
    assert classes["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "hands/markers"
    assert "rviz_default_plugins/TF" in classes
    assert data["Visualization Manager"]["Global Options"]["Fixed Frame"] == "camera"


def test_package_xml_dependencies():
    root = ET.parse(PKG / "package.xml").getroot()
    deps = {e.text for e in root if e.tag in ("exec_depend", "depend")}
    for dep in ("rclpy", "launch_ros", "lifecycle_msgs", "sensor_msgs", "visualization_msgs", "diagnostic_msgs",
                "tf2_ros", "hand_perception_msgs", "rcl_interfaces", "tf2_msgs", "ros2bag", "rosbag2_storage_mcap"):
        assert dep in deps, dep
    tests = {e.text for e in root if e.tag == "test_depend"}
    assert {"launch_testing", "launch_testing_ros"} <= tests


@pytest.mark.parametrize("name", FILES)
def test_launch_files_build_where_launch_is_installed(name):
    # (the repository's own launch/ folder imports as a namespace package: test launch_ros first)
    pytest.importorskip("launch_ros")
    pytest.importorskip("launch")
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    declared = {a.name for a in ld.get_launch_arguments()}
    assert REQUIRED <= declared


# --------------------------------------------------------------------------- launch logic, stubbed


class _Action:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _ParameterValue:
    """Stand-in of launch_ros.parameter_descriptions.ParameterValue."""

    def __init__(self, value, *, value_type=None):
        self.value, self.value_type = value, value_type

    def __repr__(self):
        return f"ParameterValue({self.value!r}, value_type={getattr(self.value_type, '__name__', None)})"


def _plain(parameters: dict) -> dict:
    """Parameter dict with the ParameterValue stand-ins replaced by their values."""
    return {k: v.value if isinstance(v, _ParameterValue) else v for k, v in parameters.items()}


class _LaunchConfiguration:
    def __init__(self, name, default=None):
        self.name = name

    def perform(self, context):
        return context[self.name]


# Keyword arguments of the Jazzy actions (launch 3.4 / launch_ros 0.26): anything else raises a
# TypeError there (Action.__init__ takes only ``condition``), so the stand-ins refuse it too.
_ACTION_KW = {"condition"}
_EXECUTE_LOCAL_KW = _ACTION_KW | {"shell", "sigterm_timeout", "sigkill_timeout", "emulate_tty", "output",
                                  "output_format", "cached_output", "log_cmd", "on_exit", "respawn",
                                  "respawn_delay", "respawn_max_retries"}
_EXECUTE_PROCESS_KW = _EXECUTE_LOCAL_KW | {"cmd", "prefix", "name", "cwd", "env", "additional_env"}
_NODE_KW = (_EXECUTE_PROCESS_KW - {"cmd"}) | {"executable", "package", "name", "namespace", "exec_name",
                                             "parameters", "remappings", "ros_arguments", "arguments"}
_SIGNATURES = {  # name: (positional names, allowed keywords, required)
    "DeclareLaunchArgument": (("name",), _ACTION_KW | {"name", "default_value", "description", "choices"}, ("name",)),
    "LogInfo": ((), _ACTION_KW | {"msg"}, ("msg",)),
    "OpaqueFunction": ((), _ACTION_KW | {"function", "args", "kwargs"}, ("function",)),
    "IncludeLaunchDescription": (("launch_description_source",),
                                 _ACTION_KW | {"launch_description_source", "launch_arguments"},
                                 ("launch_description_source",)),
    "ExecuteProcess": ((), _EXECUTE_PROCESS_KW, ("cmd",)),
    "Node": ((), _NODE_KW, ("executable",)),
    "LifecycleNode": ((), _NODE_KW, ("executable", "name", "namespace")),  # name, namespace: required there
}


def _strict_action(name: str) -> type:
    positional, allowed, required = _SIGNATURES[name]

    def __init__(self, *args, **kwargs):
        if len(args) > len(positional):
            raise TypeError(f"{name}() takes {len(positional)} positional argument(s), got {len(args)}")
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword argument(s) {sorted(unknown)}")
        given = set(kwargs) | set(positional[:len(args)])
        missing = [r for r in required if r not in given]
        if missing:
            raise TypeError(f"{name}() missing required argument(s) {missing}")
        _Action.__init__(self, *args, **kwargs)

    return type(name, (_Action,), {"__init__": __init__})


def _stub_launch_modules():
    import types

    launch = types.ModuleType("launch")
    launch.__path__ = []
    launch.LaunchDescription = lambda entities: list(entities)
    actions = types.ModuleType("launch.actions")
    for name in ("DeclareLaunchArgument", "ExecuteProcess", "LogInfo", "OpaqueFunction", "IncludeLaunchDescription"):
        setattr(actions, name, _strict_action(name))
    subs = types.ModuleType("launch.substitutions")
    subs.LaunchConfiguration = _LaunchConfiguration
    sources = types.ModuleType("launch.launch_description_sources")
    sources.PythonLaunchDescriptionSource = type("PythonLaunchDescriptionSource", (_Action,), {})
    launch_ros = types.ModuleType("launch_ros")
    launch_ros.__path__ = []
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.LifecycleNode = _strict_action("LifecycleNode")
    ros_actions.Node = _strict_action("Node")
    descriptions = types.ModuleType("launch_ros.parameter_descriptions")
    descriptions.ParameterValue = _ParameterValue
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
            "launch.launch_description_sources": sources, "launch_ros": launch_ros, "launch_ros.actions": ros_actions,
            "launch_ros.parameter_descriptions": descriptions}


@pytest.fixture()
def full_launch(monkeypatch):
    """full.launch.py imported against stand-ins of launch/launch_ros (when they are not installed)."""
    import sys

    if importlib.util.find_spec("launch_ros") is None:
        for name, mod in _stub_launch_modules().items():
            monkeypatch.setitem(sys.modules, name, mod)
    else:  # pragma: no cover - the real launch is installed: the test above covers it
        pytest.skip("launch is installed")
    spec = importlib.util.spec_from_file_location("full_launch_under_test", LAUNCH / "full.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context(module, **values):
    ctx = {name: default for name, default, _ in module.ARGUMENTS}
    ctx.update(values)
    return ctx


def test_full_launch_setup_default(full_launch):
    ld = full_launch.generate_launch_description()
    assert {a.args[0] for a in ld if type(a).__name__ == "DeclareLaunchArgument"} >= REQUIRED
    actions = full_launch._setup(_context(full_launch))
    nodes = [a for a in actions if type(a).__name__ == "LifecycleNode"]
    assert len(nodes) == 1
    kw = nodes[0].kwargs
    assert kw["executable"] == "hand_perception_node" and kw["name"] == "hand_perception" and kw["namespace"] == ""
    config, overrides = kw["parameters"]
    assert config.endswith("config/hand_perception.yaml") and Path(config).is_file()
    assert _plain(overrides) == {"use_sim_time": False, "autostart": True, "image_transport": "raw"}
    assert dict(kw["remappings"]) == {"image": "/image_raw", "image/compressed": "/image_raw/compressed",
                                      "camera_info": "/camera_info"}
    assert not [a for a in actions if type(a).__name__ in ("ExecuteProcess", "Node")]


def test_full_launch_setup_bag_rviz_split(full_launch):
    ctx = _context(full_launch, bag="/data/b", use_sim_time="true", rviz="true", nodes="split", namespace="/robot/",
                   backend="tflite", device="cuda:0", image_topic="/cam/image", rviz_fixed_frame="cam_optical",
                   hands_topic="/other/hands")
    actions = full_launch._setup(ctx)
    nodes = {a.kwargs["executable"]: a.kwargs for a in actions if type(a).__name__ == "LifecycleNode"}
    assert set(nodes) == {"hand_estimator", "hand_forecaster"}
    assert nodes["hand_estimator"]["namespace"] == "robot"
    assert _plain(nodes["hand_estimator"]["parameters"][1]) == {
        "use_sim_time": True, "autostart": True, "image_transport": "raw", "backend": "tflite", "device": "cuda:0"}
    assert nodes["hand_forecaster"]["remappings"] == [("hands", "/other/hands")]
    bag = next(a for a in actions if type(a).__name__ == "ExecuteProcess")
    assert bag.kwargs["cmd"] == ["ros2", "bag", "play", "/data/b", "--rate", "1.0", "--loop", "--clock",
                                 "--topics", "/cam/image", "/camera_info"]
    rviz = next(a for a in actions if type(a).__name__ == "Node")
    rviz_file = Path(rviz.kwargs["arguments"][1])
    assert "Fixed Frame: cam_optical" in rviz_file.read_text()
    rviz_file.unlink()
    with pytest.raises(RuntimeError, match="nodes"):
        full_launch._setup(_context(full_launch, nodes="everything"))
    with pytest.raises(RuntimeError, match="does not exist"):
        full_launch._setup(_context(full_launch, config="/nonexistent.yaml"))


# --------------------------------------------------------------------------- parameter types


def _declared_types(executable: str) -> dict[str, type]:
    """Python type of each parameter the executable declares (use_sim_time: rclpy's own, a bool)."""
    from hand_perception.core import node_logic as nl

    return {"use_sim_time": bool, **{spec.name: type(spec.default) for spec in nl.node_parameters(executable)}}


@pytest.mark.parametrize("mode", ["combined", "split"])
def test_full_launch_string_parameters_keep_their_type(full_launch, mode):
    # launch_ros reads untyped values as YAML: device:=0 would reach the node as an int, backend:=true as a
    # bool, and the node's declare_parameter(str) would raise InvalidParameterTypeException
    ctx = _context(full_launch, nodes=mode, backend="true", device="0", image_transport="raw", autostart="false")
    nodes = [a.kwargs for a in full_launch._setup(ctx) if type(a).__name__ == "LifecycleNode"]
    assert nodes
    for kw in nodes:
        declared = _declared_types(kw["executable"])
        overrides = kw["parameters"][1]
        assert {"backend", "device", "image_transport"} <= set(overrides)
        for name, value in overrides.items():
            want = declared.get(name)
            if want is None:  # passed to a node that does not declare it (ignored there)
                continue
            if want is str:
                assert isinstance(value, _ParameterValue) and value.value_type is str, (kw["executable"], name, value)
                assert isinstance(value.value, str) and value.value == ctx[name], (name, value)
            elif isinstance(value, _ParameterValue):
                assert value.value_type is want, (kw["executable"], name, value)
            else:
                assert type(value) is want, (kw["executable"], name, value)
    assert _plain(nodes[0]["parameters"][1])["autostart"] is False


@pytest.mark.parametrize("name", FILES)
def test_launch_files_pass_no_untyped_substitutions_as_parameters(name):
    """A LaunchConfiguration in a parameter dict is read as YAML: it must sit in ParameterValue(value_type=...)."""
    for node in ast.walk(_tree(name)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if func == "ParameterValue":
            assert any(k.arg == "value_type" for k in node.keywords), f"{name}:{node.lineno} untyped ParameterValue"
        for kw in node.keywords:
            if kw.arg != "parameters":
                continue
            for sub in ast.walk(kw.value):
                if isinstance(sub, ast.Dict):
                    for value in sub.values:
                        raw = isinstance(value, ast.Call) and getattr(value.func, "id", "") == "LaunchConfiguration"
                        assert not raw, f"{name}:{value.lineno} untyped LaunchConfiguration parameter"


def test_full_launch_wraps_string_parameters():
    text = (LAUNCH / "full.launch.py").read_text()
    assert "from launch_ros.parameter_descriptions import ParameterValue" in text
    assert "ParameterValue(value, value_type=str)" in text
    assert '"image_transport": _string_param(' in text and "overrides[key] = _string_param(get(key))" in text


def test_full_launch_parameters_evaluate_typed_where_launch_is_installed(monkeypatch):
    """With the real launch_ros: device:=0 / backend:=true evaluate to strings."""
    pytest.importorskip("launch_ros")
    from launch import LaunchContext
    from launch_ros.utilities import evaluate_parameters, normalize_parameters

    spec = importlib.util.spec_from_file_location("full_launch_real", LAUNCH / "full.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = []
    monkeypatch.setattr(module, "LifecycleNode", lambda **kw: made.append(kw) or kw)
    context = LaunchContext()
    context.launch_configurations.update(_context(module, backend="true", device="0"))
    module._setup(context)
    evaluated = evaluate_parameters(context, normalize_parameters([made[0]["parameters"][1]]))[0]
    assert evaluated["device"] == "0" and evaluated["backend"] == "true" and evaluated["image_transport"] == "raw"
    assert evaluated["use_sim_time"] is False and evaluated["autostart"] is True


def test_make_bag_topics_are_the_launch_defaults():
    """A bag from ``hand-perception make-bag`` plays into ``full.launch.py bag:=...`` without topic arguments."""
    from hand_perception.replay.cli import DEFAULT_CAMERA_INFO_TOPIC, DEFAULT_IMAGE_TOPIC

    defaults = {name: default for name, default, _ in _arguments("full.launch.py")}
    assert defaults["image_topic"] == DEFAULT_IMAGE_TOPIC
    assert defaults["camera_info_topic"] == DEFAULT_CAMERA_INFO_TOPIC


# --------------------------------------------------------------------------- bag topic filter (issue 11 defect 4)


def _bag_cmd(module, **values) -> list[str]:
    actions = module._setup(_context(module, bag="/data/replay_out", **values))
    (bag,) = [a for a in actions if type(a).__name__ == "ExecuteProcess"]
    return bag.kwargs["cmd"]


def _played(cmd: list[str]) -> list[str] | None:
    """Topics after --topics (None: every topic is played)."""
    return cmd[cmd.index("--topics") + 1:] if "--topics" in cmd else None


def test_forecaster_bag_plays_only_hands_not_the_recorded_outputs(full_launch, tmp_path):
    """``forecaster.launch.py bag:=<replay output>`` must not replay hands/forecast and hands/action
    next to the node's own publishers (two publishers on one topic, 22.8 Hz instead of 11.4)."""
    from hand_perception.replay.writer import ReplayBagWriter

    with ReplayBagWriter(tmp_path / "out", namespace="") as writer:
        recorded = set(writer.topic_names.values())
    cmd = _bag_cmd(full_launch, nodes="forecaster")
    assert cmd[:4] == ["ros2", "bag", "play", "/data/replay_out"]
    assert _played(cmd) == ["/hands"]
    assert set(_played(cmd)) < recorded and "/hands/forecast" in recorded and "/hands/action" in recorded
    # a namespace and a remapped hands topic resolve as the node resolves them
    assert _played(_bag_cmd(full_launch, nodes="forecaster", namespace="robot")) == ["/robot/hands"]
    assert _played(_bag_cmd(full_launch, nodes="forecaster", namespace="robot", hands_topic="/cam1/hands")) == [
        "/cam1/hands"]


@pytest.mark.parametrize("mode", ["combined", "split", "estimator"])
def test_estimator_bags_play_only_image_and_camera_info(full_launch, mode):
    """A replay output with --copy-inputs holds the images and the recorded outputs: only the inputs
    play (split: the forecaster takes the live estimator's hands, not the recorded ones)."""
    assert _played(_bag_cmd(full_launch, nodes=mode)) == ["/image_raw", "/camera_info"]
    assert _played(_bag_cmd(full_launch, nodes=mode, image_transport="compressed", image_topic="cam/image",
                            camera_info_topic="cam/camera_info", namespace="/r1/")) == [
        "/r1/cam/image/compressed", "/r1/cam/camera_info"]


def test_bag_topics_argument_adds_topics_or_plays_all(full_launch):
    cmd = _bag_cmd(full_launch, nodes="forecaster", bag_topics="/tf_static, /tf /hands")
    assert _played(cmd) == ["/hands", "/tf_static", "/tf"]  # no duplicates, inputs first
    cmd = _bag_cmd(full_launch, nodes="forecaster", bag_topics="all", bag_loop="false")
    assert cmd == ["ros2", "bag", "play", "/data/replay_out", "--rate", "1.0"]


@pytest.mark.parametrize("name", FILES)
def test_every_launch_file_with_a_bag_forwards_the_topic_filter(name):
    args = {a[0]: a[1] for a in _arguments(name)}
    assert "bag" in args and args["bag_topics"] == "" and args["target_frame"] == ""


def test_depth_topic_argument_sets_the_parameter_and_plays_the_depth_topic(full_launch):
    """depth_topic:= reaches the estimator as its node parameter and the bag plays that topic too
    (an RGB-D bag played without it would leave the nodes monocular)."""
    cmd = _bag_cmd(full_launch, nodes="combined", depth_topic="/camera/aligned_depth_to_color/image_raw")
    assert _played(cmd) == ["/image_raw", "/camera_info", "/camera/aligned_depth_to_color/image_raw"]
    assert _played(_bag_cmd(full_launch, nodes="forecaster", depth_topic="depth")) == ["/hands"]
    actions = full_launch._setup(_context(full_launch, depth_topic="depth/image_raw"))
    (node,) = [a for a in actions if type(a).__name__ == "LifecycleNode"]
    overrides = node.kwargs["parameters"][1]
    assert str(getattr(overrides["depth_topic"], "value", overrides["depth_topic"])) == "depth/image_raw"
    assert "depth_topic" not in full_launch._setup(_context(full_launch))[1].kwargs["parameters"][1]


# --------------------------------------------------------------------------- Jazzy action signatures


def test_action_stand_ins_refuse_what_jazzy_refuses():
    mods = _stub_launch_modules()
    node = mods["launch_ros.actions"].LifecycleNode
    with pytest.raises(TypeError, match="namespace"):
        node(executable="x", name="n")  # launch_ros 0.26: name and namespace are required
    with pytest.raises(TypeError, match="unexpected"):
        node(executable="x", name="n", namespace="", node_name="n")  # a pre-Foxy keyword
    with pytest.raises(TypeError, match="positional"):
        mods["launch.actions"].ExecuteProcess(["ros2", "bag", "play"])  # cmd is keyword-only
    mods["launch.actions"].ExecuteProcess(cmd=["ros2"], output="screen", name="bag_play")


@pytest.mark.parametrize("name", ["estimator.launch.py", "forecaster.launch.py"])
def test_sub_launch_files_build_against_the_jazzy_signatures(name, monkeypatch):
    import sys

    if importlib.util.find_spec("launch_ros") is not None:  # pragma: no cover - covered by the real build above
        pytest.skip("launch is installed")
    for mod_name, mod in _stub_launch_modules().items():
        monkeypatch.setitem(sys.modules, mod_name, mod)
    spec = importlib.util.spec_from_file_location(name.replace(".", "_") + "_stubbed", LAUNCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    (include,) = [a for a in ld if type(a).__name__ == "IncludeLaunchDescription"]
    source = include.args[0]
    assert Path(source.args[0]).name == "full.launch.py" and Path(source.args[0]).is_file()
    forwarded = dict(include.kwargs["launch_arguments"])
    assert forwarded["nodes"] == module.NODES
    assert {a[0] for a in module.ARGUMENTS} <= set(forwarded)
