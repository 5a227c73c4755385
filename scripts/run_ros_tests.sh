#!/usr/bin/env bash
# The ROS 2 part of the test suite, run by .ci/run after the ROS-free suite.
#
# Where ROS 2 exists: source it (if not sourced yet: $ROS_SETUP, default
# /opt/ros/jazzy/setup.bash), find a Python that imports rclpy, hand_models and pytest, colcon
# build ros2_ws, source the install, then run tests/ros with pytest (launch_testing's pytest
# plugin runs the launch test there too) and the launch test once more with launch_test.
# Elsewhere it says why and exits 0 (ROS_TESTS_REQUIRE=1 makes that an error); the nodes are
# still covered there by tests/test_nodes_*stubbed.py against the rclpy stand-in (tests/rclpy_standin.py).
#
# Environment (defaults in brackets):
#   ROS_SETUP               ROS setup file, when ROS is not sourced yet [/opt/ros/jazzy/setup.bash]
#   HAND_PERCEPTION_PYTHON  Python to use [first of .venv/bin/python, python3 that imports
#                           rclpy, hand_models and pytest: a venv on ROS's Python made with
#                           --system-site-packages, see docs/ros.md]
#   ROS_TESTS_BUILD_BASE    colcon build folder [ros2_ws/build]
#   ROS_TESTS_INSTALL_BASE  colcon install folder [ros2_ws/install]
#   ROS_TESTS_FULL          1: run the whole suite (tests/) with ROS sourced, not only tests/ros [0]
#   ROS_TESTS_REQUIRE       1: a machine without ROS 2 fails instead of skipping [0]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT="$PWD"

say() { printf '[ros-tests] %s\n' "$*"; }
skip() {
  say "skipped: $*"
  if [[ "${ROS_TESTS_REQUIRE:-0}" == "1" ]]; then
    exit 1
  fi
  exit 0
}
source_setup() { # ROS setup scripts read unset variables
  set +u
  # shellcheck disable=SC1090
  source "$1"
  set -u
}

if [[ -z "${ROS_DISTRO:-}" ]]; then
  setup="${ROS_SETUP:-/opt/ros/jazzy/setup.bash}"
  [[ -f "$setup" ]] || skip "ROS 2 is not sourced and ${setup} does not exist"
  say "sourcing ${setup}"
  source_setup "$setup"
fi

PY=""
for candidate in ${HAND_PERCEPTION_PYTHON:-} .venv/bin/python python3; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  if "$candidate" -c 'import rclpy, hand_models, pytest' >/dev/null 2>&1; then
    PY="$candidate"
    break
  fi
done
[[ -n "$PY" ]] || skip "no Python imports rclpy, hand_models and pytest (make a venv on ROS's Python with --system-site-packages: docs/ros.md)"
say "ROS_DISTRO=${ROS_DISTRO:-?}; Python: ${PY}"

BUILD_BASE="${ROS_TESTS_BUILD_BASE:-${REPO_ROOT}/ros2_ws/build}"
INSTALL_BASE="${ROS_TESTS_INSTALL_BASE:-${REPO_ROOT}/ros2_ws/install}"
if "$PY" -c 'import colcon_core' >/dev/null 2>&1; then
  COLCON=("$PY" -m colcon) # its Python goes into the #! line of the node executables
elif command -v colcon >/dev/null 2>&1; then
  COLCON=(colcon)
else
  say "error: colcon not found (apt install python3-colcon-common-extensions)"
  exit 1
fi
say "colcon build -> ${INSTALL_BASE}"
(cd ros2_ws && "${COLCON[@]}" build --build-base "$BUILD_BASE" --install-base "$INSTALL_BASE" \
  --symlink-install --event-handlers console_cohesion+)
source_setup "${INSTALL_BASE}/setup.bash"

targets=(tests/ros)
if [[ "${ROS_TESTS_FULL:-0}" == "1" ]]; then
  targets=(tests)
fi
say "pytest ${targets[*]} (ROS sourced)"
"$PY" -m pytest -q "${targets[@]}"

say "launch_test tests/ros/test_full_launch.py"
"$PY" -m launch_testing.launch_test tests/ros/test_full_launch.py
say "done"
