"""scripts/run_ros_tests.sh, the ROS 2 part of .ci/run (issue 11, deliverable 3), without ROS.

Without ROS it must skip with a reason and exit 0 (so .ci/run keeps working), or fail when ROS
is required. With a stand-in ROS (a setup file, ``colcon`` and ``launch_testing.launch_test``
that log their calls, an importable ``rclpy``) it must build the workspace, source the install
and run tests/ros with pytest and the launch test with launch_test, in that order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "run_ros_tests.sh"

FAKE_COLCON = r'''#!/usr/bin/env bash
printf 'colcon %s\n' "$*" >>"$FAKE_LOG"
install=""
while (($#)); do
  if [[ "$1" == --install-base ]]; then install="$2"; fi
  shift
done
mkdir -p "$install"
printf 'export HP_FAKE_INSTALL_SOURCED=1\n' >"$install/setup.bash"
'''

FAKE_LAUNCH_TEST = '''"""launch_testing.launch_test stand-in: logs its arguments and the sourced install."""
import os
import sys

with open(os.environ["FAKE_LOG"], "a") as fh:
    fh.write(f"launch_test {' '.join(sys.argv[1:])} sourced={os.environ.get('HP_FAKE_INSTALL_SOURCED')}\\n")
'''


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ROS_DISTRO", "ROS_SETUP", "HAND_PERCEPTION_PYTHON")}
    return {**env, "FAKE_LOG": str(tmp_path / "calls.txt"), **extra}


def test_without_ros_it_skips_with_a_reason(tmp_path):
    env = _env(tmp_path, ROS_SETUP=str(tmp_path / "no_such_setup.bash"))
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "skipped: ROS 2 is not sourced" in proc.stdout
    required = subprocess.run(["bash", str(SCRIPT)], env={**env, "ROS_TESTS_REQUIRE": "1"}, capture_output=True,
                              text=True, timeout=60)
    assert required.returncode == 1


@pytest.mark.skipif(bool(os.environ.get("ROS_DISTRO")), reason="ROS is sourced here: a Python may import rclpy")
def test_ros_sourced_but_no_python_with_rclpy_skips(tmp_path):
    setup = tmp_path / "setup.bash"
    setup.write_text("export ROS_DISTRO=jazzy\n")
    env = _env(tmp_path, ROS_SETUP=str(setup))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "no Python imports rclpy" in proc.stdout, proc.stdout + proc.stderr


def test_with_ros_it_builds_sources_and_runs_the_ros_tests(tmp_path):
    bindir, pydir = tmp_path / "bin", tmp_path / "py"
    (pydir / "rclpy").mkdir(parents=True)
    (pydir / "rclpy" / "__init__.py").write_text('"""rclpy stand-in: importable only."""\n')
    (pydir / "launch_testing").mkdir()
    (pydir / "launch_testing" / "__init__.py").write_text("")
    (pydir / "launch_testing" / "launch_test.py").write_text(FAKE_LAUNCH_TEST)
    bindir.mkdir()
    (bindir / "colcon").write_text(FAKE_COLCON)
    (bindir / "colcon").chmod(0o755)
    setup = tmp_path / "setup.bash"
    setup.write_text(f'export ROS_DISTRO=jazzy\nexport PATH="{bindir}:$PATH"\n')
    install = tmp_path / "install"
    env = _env(tmp_path, ROS_SETUP=str(setup), HAND_PERCEPTION_PYTHON=sys.executable,
               ROS_TESTS_BUILD_BASE=str(tmp_path / "build"), ROS_TESTS_INSTALL_BASE=str(install),
               PYTHONPATH=os.pathsep.join([str(pydir), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls[0].startswith("colcon build --build-base ") and f"--install-base {install}" in calls[0]
    assert "--symlink-install" in calls[0]
    assert calls[1] == "launch_test tests/ros/test_full_launch.py sourced=1"
    # pytest ran tests/ros in between: without the built messages they report as skipped
    assert "pytest tests/ros (ROS sourced)" in out and "skipped" in out
