"""scripts/ros_smoke_test.sh against a stand-in ``ros2`` (no ROS here; issue 11 defect 7).

The stand-in answers the CLI calls the script makes (``pkg prefix``, ``node list``, ``launch``,
``lifecycle get``, ``topic echo``) and behaves like ``ros2 launch`` where it matters: an argument
with an empty value (``namespace:=``) is rejected the way ros2launch does (message, exit 1); a
good launch runs until SIGINT. Modes make the launch crash or print a traceback on Ctrl-C.
The script must pass on a good graph without an empty argument, and its launch-log check must
FAIL when the launch fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "ros_smoke_test.sh"

FAKE_ROS2 = r'''#!/usr/bin/env bash
# stand-in for the ros2 CLI (tests/test_ros_smoke_script.py); logs every call
printf '%s\n' "$*" >>"$FAKE_ROS2_LOG"
case "$1 $2" in
  "pkg prefix") echo /opt/ros/fake; exit 0 ;;
  "node list") exit 0 ;;
  "lifecycle get")
    if [[ "${FAKE_ROS2_MODE:-ok}" == crash ]]; then echo "unconfigured [1]"; else echo "active [3]"; fi
    exit 0 ;;
  "topic echo") echo "data: 1"; echo "---"; exit 0 ;;
esac
if [[ "$1" == launch ]]; then
  if [[ " $* " == *" --show-args "* ]]; then
    for a in bag image_topic camera_info_topic nodes namespace; do echo "    '$a':"; done
    exit 0
  fi
  for a in "$@"; do  # ros2launch: parse_launch_arguments
    if [[ "$a" == *":=" ]]; then
      echo "malformed launch argument '$a', expected format '<name>:=<value>'" >&2
      exit 1
    fi
  done
  echo "[INFO] [launch]: All log files can be found below /tmp/fake"
  case "${FAKE_ROS2_MODE:-ok}" in
    crash)
      echo "[ERROR] [hand_perception-1]: process has died [pid 42, exit code 1, cmd 'hand_perception_node']"
      exit 1 ;;
    traceback_on_sigint)
      trap 'echo "Traceback (most recent call last):"; echo "rclpy._rclpy_pybind11.RCLError: publisher'"'"'s context is invalid"; echo "[INFO] [hand_perception-1]: process has finished cleanly [pid 42]"; exit 0' INT ;;
    *)
      trap 'echo "[INFO] [hand_perception-1]: process has finished cleanly [pid 42]"; exit 0' INT ;;
  esac
  while true; do sleep 0.1; done
fi
echo "fake ros2: unexpected call: $*" >&2
exit 2
'''


def _run(tmp_path: Path, mode: str, **env_extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    ros2 = bindir / "ros2"
    ros2.write_text(FAKE_ROS2)
    ros2.chmod(0o755)
    setup = tmp_path / "ros_setup.bash"
    setup.write_text(f'export PATH="{bindir}:$PATH"\nexport ROS_DISTRO=jazzy\n')
    install = tmp_path / "install"
    install.mkdir(exist_ok=True)
    (install / "setup.bash").write_text("# colcon install stand-in\n")
    pydir = tmp_path / "py" / "rclpy"
    pydir.mkdir(parents=True, exist_ok=True)
    (pydir / "__init__.py").write_text('"""rclpy stand-in: importable only."""\n')
    bag = tmp_path / "bag"
    bag.mkdir(exist_ok=True)
    calls = tmp_path / "ros2_calls.txt"
    calls.write_text("")
    env = {
        **os.environ,
        "ROS_SETUP": str(setup), "SMOKE_SKIP_BUILD": "1", "HAND_PERCEPTION_WS": str(install),
        "HAND_PERCEPTION_PYTHON": sys.executable, "SMOKE_BAG": str(bag), "SMOKE_NODES": "combined",
        "SMOKE_WORKDIR": str(tmp_path / "work"), "SMOKE_STARTUP_TIMEOUT": "30", "SMOKE_ECHO_TIMEOUT": "30",
        "SMOKE_CLI_TIMEOUT": "30", "SMOKE_SHUTDOWN_TIMEOUT": "15",  # generous: a loaded CI machine
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "py"), os.environ.get("PYTHONPATH", "")]),
        "FAKE_ROS2_LOG": str(calls), "FAKE_ROS2_MODE": mode, **env_extra,
    }
    for key in ("SMOKE_NAMESPACE", "SMOKE_LAUNCH_ARGS", "ROS_DOMAIN_ID", "SMOKE_DOMAIN_ID"):
        if key not in env_extra:
            env.pop(key, None)
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    return proc, calls.read_text().splitlines()


def _rows(out: str) -> dict[str, str]:
    """Summary table rows: check -> 'PASS'/'FAIL' (the last occurrence)."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        for i, word in enumerate(parts):
            if word in ("PASS", "FAIL") and i >= 2 and parts[0] in ("combined", "-"):
                rows[" ".join(parts[1:i])] = word
                break
    return rows


needs_tools = pytest.mark.skipif(shutil.which("timeout") is None or shutil.which("bash") is None,
                                 reason="needs bash and GNU timeout")


@needs_tools
def test_smoke_script_passes_on_a_good_graph_without_an_empty_namespace(tmp_path):
    proc, calls = _run(tmp_path, "ok")
    out = proc.stdout + proc.stderr
    launches = [c for c in calls if c.startswith("launch hand_perception full.launch.py bag:=")]
    assert len(launches) == 1, calls
    assert "namespace:=" not in launches[0]  # ros2 launch rejects an empty value
    assert proc.returncode == 0, out[-3000:]
    rows = _rows(proc.stdout)
    assert rows["launch log"] == "PASS" and rows["shutdown on SIGINT"] == "PASS", out[-3000:]
    assert "lifecycle get /hand_perception" in calls


@needs_tools
def test_smoke_script_passes_the_namespace_when_given(tmp_path):
    proc, calls = _run(tmp_path, "ok", SMOKE_NAMESPACE="/robot1/")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    launch = [c for c in calls if c.startswith("launch hand_perception full.launch.py bag:=")][0]
    assert launch.endswith("namespace:=robot1")
    assert "lifecycle get /robot1/hand_perception" in calls
    assert any(c.startswith("topic echo --once") and " /robot1/hands " in c for c in calls)


@needs_tools
@pytest.mark.parametrize("mode, why", [
    ("crash", "ros2 launch exited by itself (status 1)"),
    ("traceback_on_sigint", "Traceback (most recent call last):"),
])
def test_smoke_script_launch_log_check_fails_when_the_launch_fails(tmp_path, mode, why):
    proc, _ = _run(tmp_path, mode)
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    rows = _rows(proc.stdout)
    assert rows["launch log"] == "FAIL", proc.stdout[-3000:]
    line = [l for l in proc.stdout.splitlines() if " launch log " in l and "FAIL" in l][-1]
    assert why in line


@needs_tools
def test_smoke_script_rejects_an_empty_extra_launch_argument(tmp_path):
    proc, calls = _run(tmp_path, "ok", SMOKE_LAUNCH_ARGS="use_sim_time:=true backend:=")
    assert proc.returncode == 2 and "backend:=" in proc.stderr
    assert not calls  # refused before anything ran
