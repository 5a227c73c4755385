#!/usr/bin/env bash
# End-to-end check of the hand_perception nodes in a real ROS 2 graph (ROS 2 Jazzy).
#
# Builds ros2_ws with colcon, makes an input bag with `hand-perception make-bag`, starts
# `ros2 launch hand_perception full.launch.py bag:=...` and checks, the way a user would, that
# every lifecycle node reaches `active` and that every output topic delivers a message
# (`ros2 topic echo --once`). Prints a summary table; exits non-zero if any check failed.
#
# Written against ROS 2 Jazzy (Ubuntu 24.04, Cyclone DDS); see --help for the settings.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$(basename "$0")"

usage() {
  cat <<EOF
usage: ${PROG} [--no-build] [--keep] [-h|--help]

End-to-end check of the hand_perception nodes in a real ROS 2 (Jazzy) graph:

  1. source ROS 2 (\$ROS_SETUP) and check that 'ros2' and the RMW implementation exist
  2. colcon build ros2_ws (with the project's Python interpreter), source its install/setup.bash
  3. make an input bag with 'hand-perception make-bag' (default: a rendered synthetic sequence
     with two hands, so every output topic has something to publish)
  4. for each node layout in \$SMOKE_NODES: 'ros2 launch hand_perception full.launch.py bag:=...'
     in the background (own process group, log file), then
       - 'ros2 lifecycle get' on each lifecycle node: expects 'active'
       - 'ros2 topic echo --once' on /hands, /hands/markers, /hands/forecast, /hands/action,
         /tf and /diagnostics (explicit message type and QoS): expects one message each
       - the launch is still running after the checks, and stops within
         \$SMOKE_SHUTDOWN_TIMEOUT s of a SIGINT (Ctrl-C)
  5. print a summary table; exit status 1 if any check failed

Options:
  --no-build   do not run colcon; source an existing install (same as SMOKE_SKIP_BUILD=1)
  --keep       keep the work folder (bag, logs) even when every check passed (SMOKE_KEEP=1)
  -h, --help   this text

Environment (defaults in brackets):
  ROS_SETUP                 ROS setup file [/opt/ros/jazzy/setup.bash]
  RMW_IMPLEMENTATION        [rmw_cyclonedds_cpp]
  SMOKE_DOMAIN_ID           if set, exported as ROS_DOMAIN_ID (isolates the test graph)
  HAND_PERCEPTION_PYTHON    Python that runs colcon, the nodes and the CLI; it must import rclpy
                            (a venv made with --system-site-packages on the ROS Python, 3.12 for
                            Jazzy) and hand_models. Default: the first of \$VIRTUAL_ENV/bin/python,
                            /opt/venv/bin/python (Docker image), ${REPO_ROOT}/.venv/bin/python,
                            python3 that imports both
  HAND_PERCEPTION_CLI       command for the CLI [\$HAND_PERCEPTION_PYTHON -m hand_perception.cli if
                            HAND_PERCEPTION_PYTHON is set, else 'hand-perception' from PATH, else
                            <python> -m hand_perception.cli]
  HAND_PERCEPTION_WS        colcon install folder to build into / source [ros2_ws/install]
  SMOKE_BUILD_BASE          colcon build folder [ros2_ws/build]
  SMOKE_SKIP_BUILD          1: no colcon build [0]
  SMOKE_SYMLINK_INSTALL     1: colcon build --symlink-install [1]
  SMOKE_COLCON_ARGS         extra 'colcon build' arguments (split on spaces) []
  SMOKE_BAG                 use this rosbag2 instead of making one (set the topics below to match)
  SMOKE_INPUT               video file or image folder for make-bag [a rendered synthetic sequence]
  SMOKE_INTRINSICS          make-bag --intrinsics ('fx,fy,cx,cy' or a camera YAML) for SMOKE_INPUT
  SMOKE_MAX_FRAMES          make-bag --max-frames for SMOKE_INPUT [300]
  SMOKE_FRAMES              frames of the synthetic sequence [60]
  SMOKE_WIDTH, SMOKE_HEIGHT image size of the synthetic sequence [320, 240]
  SMOKE_IMAGE_TOPIC         image topic in the bag / launch image_topic [/image_raw]
  SMOKE_CAMERA_INFO_TOPIC   camera info topic / launch camera_info_topic [/camera_info]
  SMOKE_NODES               node layouts to launch, in order (full.launch.py nodes:=) [combined split]
  SMOKE_NAMESPACE           launch namespace:= (relative output topics move under it); empty: the
                            argument is not passed ('ros2 launch' rejects 'namespace:=') []
  SMOKE_LAUNCH_ARGS         extra launch arguments, e.g. 'use_sim_time:=true backend:=...' []
  SMOKE_QOS_RELIABILITY     echo --qos-reliability [reliable: the nodes' outputs are reliable]
  SMOKE_QOS_DURABILITY      echo --qos-durability [volatile: the nodes' outputs are volatile]
  SMOKE_STARTUP_TIMEOUT     s to wait for each node to become active (models load) [120]
  SMOKE_ECHO_TIMEOUT        s to wait for one message on a topic [30]
  SMOKE_CLI_TIMEOUT         s for one 'ros2 lifecycle get' / 'ros2 node list' call [20]
  SMOKE_SHUTDOWN_TIMEOUT    s for the launch to exit after SIGINT before SIGTERM/SIGKILL [30]
  SMOKE_STRICT_LOG          1: any '[ERROR]' line in a launch log fails the run [0]. Always failing:
                            a launch that exits before it is stopped, a Traceback, 'process has
                            died', 'Caught exception in launch', 'malformed launch argument', RCLError
  SMOKE_WORKDIR             work folder (bag, logs, echo output) [a new mktemp -d folder]
  SMOKE_KEEP                1: keep the work folder after a passing run [0; kept on failure]

Examples:
  ${PROG}
  SMOKE_NODES=combined SMOKE_LAUNCH_ARGS='use_sim_time:=true' ${PROG}
  HAND_PERCEPTION_PYTHON=/opt/venv/bin/python HAND_PERCEPTION_WS=/opt/hand_perception/ros2_ws/install \\
      ${PROG} --no-build          # inside the Docker image, the repository mounted
EOF
}

# ------------------------------------------------------------------------------- arguments

SKIP_BUILD="${SMOKE_SKIP_BUILD:-0}"
KEEP="${SMOKE_KEEP:-0}"
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --no-build) SKIP_BUILD=1 ;;
    --keep) KEEP=1 ;;
    *) printf '%s: unknown argument %s\n\n' "$PROG" "$1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

ROS_SETUP="${ROS_SETUP:-/opt/ros/jazzy/setup.bash}"
WS_DIR="${REPO_ROOT}/ros2_ws"
INSTALL_DIR="${HAND_PERCEPTION_WS:-${WS_DIR}/install}"
BUILD_DIR="${SMOKE_BUILD_BASE:-${WS_DIR}/build}"
SYMLINK_INSTALL="${SMOKE_SYMLINK_INSTALL:-1}"
IMAGE_TOPIC="${SMOKE_IMAGE_TOPIC:-/image_raw}"
CAMERA_INFO_TOPIC="${SMOKE_CAMERA_INFO_TOPIC:-/camera_info}"
NODE_LAYOUTS="${SMOKE_NODES:-combined split}"
NAMESPACE="${SMOKE_NAMESPACE:-}"
QOS_RELIABILITY="${SMOKE_QOS_RELIABILITY:-reliable}"
QOS_DURABILITY="${SMOKE_QOS_DURABILITY:-volatile}"
STARTUP_TIMEOUT="${SMOKE_STARTUP_TIMEOUT:-120}"
ECHO_TIMEOUT="${SMOKE_ECHO_TIMEOUT:-30}"
CLI_TIMEOUT="${SMOKE_CLI_TIMEOUT:-20}"
SHUTDOWN_TIMEOUT="${SMOKE_SHUTDOWN_TIMEOUT:-30}"
STRICT_LOG="${SMOKE_STRICT_LOG:-0}"
FRAMES="${SMOKE_FRAMES:-60}"
WIDTH="${SMOKE_WIDTH:-320}"
HEIGHT="${SMOKE_HEIGHT:-240}"
MAX_FRAMES="${SMOKE_MAX_FRAMES:-300}"

EXTRA_LAUNCH_ARGS=()
read -r -a EXTRA_LAUNCH_ARGS <<<"${SMOKE_LAUNCH_ARGS:-}"
EXTRA_COLCON_ARGS=()
read -r -a EXTRA_COLCON_ARGS <<<"${SMOKE_COLCON_ARGS:-}"
read -r -a LAYOUTS <<<"${NODE_LAYOUTS}"

for name in STARTUP_TIMEOUT ECHO_TIMEOUT CLI_TIMEOUT SHUTDOWN_TIMEOUT FRAMES WIDTH HEIGHT MAX_FRAMES; do
  if ! [[ "${!name}" =~ ^[0-9]+$ ]] || ((10#${!name} < 1)); then
    printf '%s: SMOKE_%s must be a positive integer, got %q\n' "$PROG" "$name" "${!name}" >&2
    exit 2
  fi
done
if ((${#LAYOUTS[@]} == 0)); then
  printf '%s: SMOKE_NODES is empty\n' "$PROG" >&2
  exit 2
fi
for layout in "${LAYOUTS[@]}"; do
  case "$layout" in
    combined | split | estimator | forecaster) ;;
    *) printf '%s: SMOKE_NODES: unknown layout %q (combined, split, estimator, forecaster)\n' "$PROG" "$layout" >&2; exit 2 ;;
  esac
done
NAMESPACE="${NAMESPACE#/}"
NAMESPACE="${NAMESPACE%/}"
for arg in ${EXTRA_LAUNCH_ARGS[@]+"${EXTRA_LAUNCH_ARGS[@]}"}; do
  if ! [[ "$arg" =~ ^[A-Za-z_][A-Za-z0-9_]*:=.+$ ]]; then
    printf "%s: SMOKE_LAUNCH_ARGS: %q is not <name>:=<value> with a non-empty value ('ros2 launch' rejects it)\n" "$PROG" "$arg" >&2
    exit 2
  fi
done

# ------------------------------------------------------------------------------- helpers

say() { printf '[smoke] %s\n' "$*"; }
warn() { printf '[smoke] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[smoke] ERROR: %s\n' "$*" >&2
  exit 1
}

# results: one row per check
R_LAYOUT=()
R_CHECK=()
R_RESULT=()
R_DETAIL=()
record() { # layout check PASS|FAIL detail
  R_LAYOUT+=("$1")
  R_CHECK+=("$2")
  R_RESULT+=("$3")
  R_DETAIL+=("$4")
  printf '[smoke] %-4s %-10s %-34s %s\n' "$3" "$1" "$2" "$4"
}

# source a setup file: ROS setup scripts read unset variables, so without `set -u`
source_setup() {
  set +u
  # shellcheck disable=SC1090
  source "$1"
  set -u
}

WORKDIR=""
LAUNCH_PID=""
LAUNCH_PGID=""
FINISHED=0

group_alive() { [[ -n "$LAUNCH_PGID" ]] && kill -0 -- "-${LAUNCH_PGID}" 2>/dev/null; }
launch_alive() { [[ -n "$LAUNCH_PID" ]] && kill -0 "$LAUNCH_PID" 2>/dev/null; }

# Stop the launch process group: SIGINT (what Ctrl-C sends; ros2 launch forwards it to the
# nodes), then SIGTERM, then SIGKILL. Sets STOP_HOW: "sigint", "sigterm", "sigkill" (the signal
# that ended it) or "not running".
STOP_HOW=""
wait_group_exit() { # half-seconds
  local waited=0
  while (group_alive || launch_alive) && ((waited < $1)); do
    sleep 0.5
    waited=$((waited + 1))
  done
}
stop_launch() {
  STOP_HOW="not running"
  [[ -n "$LAUNCH_PID" ]] || return 0
  if group_alive || launch_alive; then
    STOP_HOW="sigint"
    kill -INT -- "-${LAUNCH_PGID}" 2>/dev/null || kill -INT "$LAUNCH_PID" 2>/dev/null || true
    wait_group_exit $((SHUTDOWN_TIMEOUT * 2))
    if group_alive || launch_alive; then
      STOP_HOW="sigterm"
      kill -TERM -- "-${LAUNCH_PGID}" 2>/dev/null || kill -TERM "$LAUNCH_PID" 2>/dev/null || true
      wait_group_exit 20
    fi
    if group_alive || launch_alive; then
      STOP_HOW="sigkill"
      kill -KILL -- "-${LAUNCH_PGID}" 2>/dev/null || kill -KILL "$LAUNCH_PID" 2>/dev/null || true
    fi
  fi
  wait "$LAUNCH_PID" 2>/dev/null || true
  LAUNCH_PID=""
  LAUNCH_PGID=""
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$LAUNCH_PID" ]]; then
    say "stopping the launch (process group ${LAUNCH_PGID})"
    stop_launch
  fi
  if [[ -n "$WORKDIR" && -d "$WORKDIR" ]]; then
    if ((rc == 0 && FINISHED == 1)) && [[ "$KEEP" != "1" && -z "${SMOKE_WORKDIR:-}" ]]; then
      rm -rf -- "$WORKDIR"
    else
      say "logs, bag and echo output kept in ${WORKDIR}"
    fi
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v timeout >/dev/null 2>&1 || die "'timeout' (GNU coreutils) is needed"

# ------------------------------------------------------------------------------- 1. ROS 2

[[ -f "$ROS_SETUP" ]] || die "ROS setup file ${ROS_SETUP} not found: install ROS 2 Jazzy (ros-jazzy-ros-base) or set ROS_SETUP"
say "sourcing ${ROS_SETUP}"
source_setup "$ROS_SETUP"
command -v ros2 >/dev/null 2>&1 || die "'ros2' is not on PATH after sourcing ${ROS_SETUP}: is ROS 2 (ros-jazzy-ros-base) installed?"
if [[ "${ROS_DISTRO:-}" != "jazzy" ]]; then
  warn "ROS_DISTRO is '${ROS_DISTRO:-unset}'; this check was written for jazzy"
fi
if [[ -n "${SMOKE_DOMAIN_ID:-}" ]]; then
  export ROS_DOMAIN_ID="$SMOKE_DOMAIN_ID"
fi
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_cyclonedds_cpp}"
if ! ros2 pkg prefix "$RMW_IMPLEMENTATION" >/dev/null 2>&1; then
  die "RMW implementation ${RMW_IMPLEMENTATION} is not installed (apt install ros-jazzy-rmw-cyclonedds-cpp, or set RMW_IMPLEMENTATION)"
fi
ros2 pkg prefix rosbag2_storage_mcap >/dev/null 2>&1 \
  || warn "rosbag2_storage_mcap not found: 'ros2 bag play' cannot read the mcap bag (apt install ros-jazzy-rosbag2-storage-mcap)"

if [[ -n "${SMOKE_WORKDIR:-}" ]]; then
  mkdir -p -- "$SMOKE_WORKDIR"
  WORKDIR="$(cd "$SMOKE_WORKDIR" && pwd)"
else
  WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/hand_perception_smoke.XXXXXX")"
fi
export ROS_LOG_DIR="${WORKDIR}/ros_log"
export PYTHONUNBUFFERED=1
say "work folder ${WORKDIR}; RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION}; ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-0}"

# ------------------------------------------------------------------------------- Python

PY_CHECK='import sys, rclpy, hand_models; print(sys.version.split()[0])'
PY=""
if [[ -n "${HAND_PERCEPTION_PYTHON:-}" ]]; then
  PY="$HAND_PERCEPTION_PYTHON"
  if ! out="$("$PY" -c "$PY_CHECK" 2>&1)"; then
    die "HAND_PERCEPTION_PYTHON=${PY} cannot import rclpy and hand_models: $(printf '%s' "$out" | tail -n 1)
  The interpreter needs ROS's Python version (3.12 on Jazzy) and, in a venv, --system-site-packages
  plus the project's packages (pip install -r requirements.txt; pip install --no-deps -e hand_models -e training)."
  fi
else
  tried=""
  candidates=()
  [[ -n "${VIRTUAL_ENV:-}" ]] && candidates+=("${VIRTUAL_ENV}/bin/python")
  candidates+=(/opt/venv/bin/python "${REPO_ROOT}/.venv/bin/python" python3)
  for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if out="$("$candidate" -c "$PY_CHECK" 2>&1)"; then
      PY="$candidate"
      break
    fi
    tried+="
    ${candidate}: $(printf '%s' "$out" | tail -n 1)"
  done
  [[ -n "$PY" ]] || die "no Python imports both rclpy and hand_models; tried:${tried}
  Make a venv on ROS's Python (3.12 on Jazzy) with --system-site-packages, install the project
  into it (docs/ros.md, Build) and set HAND_PERCEPTION_PYTHON to its python."
fi
say "Python: ${PY} ($(printf '%s' "$out" | tail -n 1))"

# ------------------------------------------------------------------------------- 2. colcon build

if [[ "$SKIP_BUILD" == "1" ]]; then
  say "SMOKE_SKIP_BUILD=1: using the existing install ${INSTALL_DIR}"
else
  COLCON=()
  if "$PY" -c 'import colcon_core' >/dev/null 2>&1; then
    # the interpreter that runs colcon goes into the #! line of the node executables
    COLCON=("$PY" -m colcon)
  elif command -v colcon >/dev/null 2>&1; then
    COLCON=(colcon)
    warn "${PY} has no colcon: using $(command -v colcon); the node executables get its Python in their #! line"
  else
    die "colcon not found (apt install python3-colcon-common-extensions)"
  fi
  build_args=(build --build-base "$BUILD_DIR" --install-base "$INSTALL_DIR" --event-handlers console_cohesion+)
  [[ "$SYMLINK_INSTALL" == "1" ]] && build_args+=(--symlink-install)
  build_args+=(${EXTRA_COLCON_ARGS[@]+"${EXTRA_COLCON_ARGS[@]}"})
  say "building ${WS_DIR}: ${COLCON[*]} ${build_args[*]} (log: ${WORKDIR}/colcon_build.log)"
  if ! (cd "$WS_DIR" && "${COLCON[@]}" "${build_args[@]}") >"${WORKDIR}/colcon_build.log" 2>&1; then
    tail -n 40 "${WORKDIR}/colcon_build.log" >&2 || true
    die "colcon build failed (full log: ${WORKDIR}/colcon_build.log)"
  fi
fi
[[ -f "${INSTALL_DIR}/setup.bash" ]] || die "${INSTALL_DIR}/setup.bash not found (build the workspace, or set HAND_PERCEPTION_WS)"
say "sourcing ${INSTALL_DIR}/setup.bash"
source_setup "${INSTALL_DIR}/setup.bash"
for pkg in hand_perception hand_perception_msgs; do
  ros2 pkg prefix "$pkg" >/dev/null 2>&1 || die "package ${pkg} not found after sourcing ${INSTALL_DIR}/setup.bash"
done

# ------------------------------------------------------------------------------- 3. input bag

CLI=()
if [[ -n "${HAND_PERCEPTION_CLI:-}" ]]; then
  read -r -a CLI <<<"$HAND_PERCEPTION_CLI"
elif [[ -n "${HAND_PERCEPTION_PYTHON:-}" ]]; then
  CLI=("$PY" -m hand_perception.cli)
elif command -v hand-perception >/dev/null 2>&1; then
  CLI=(hand-perception)
else
  # colcon installs the hand-perception script under lib/hand_perception (not on PATH); the
  # module is importable once install/setup.bash is sourced
  CLI=("$PY" -m hand_perception.cli)
fi

if [[ -n "${SMOKE_BAG:-}" ]]; then
  BAG="$SMOKE_BAG"
  [[ -e "$BAG" ]] || die "SMOKE_BAG=${BAG} does not exist"
  say "input bag ${BAG} (SMOKE_BAG); topics ${IMAGE_TOPIC}, ${CAMERA_INFO_TOPIC}"
else
  make_bag_args=(--out "${WORKDIR}/input_bag" --image-topic "$IMAGE_TOPIC" --camera-info-topic "$CAMERA_INFO_TOPIC" --quiet)
  if [[ -n "${SMOKE_INPUT:-}" ]]; then
    INPUT="$SMOKE_INPUT"
    [[ -e "$INPUT" ]] || die "SMOKE_INPUT=${INPUT} does not exist"
    make_bag_args+=(--max-frames "$MAX_FRAMES")
    [[ -n "${SMOKE_INTRINSICS:-}" ]] && make_bag_args+=(--intrinsics "$SMOKE_INTRINSICS")
  else
    INPUT="${WORKDIR}/synthetic"
    say "rendering a synthetic two-hand sequence (${FRAMES} frames, ${WIDTH}x${HEIGHT}) into ${INPUT}"
    if ! "$PY" -c 'import sys
from hand_models.render import write_sequence
write_sequence(sys.argv[1], num_frames=int(sys.argv[2]), width=int(sys.argv[3]), height=int(sys.argv[4]), fps=30.0, seed=0)
' "$INPUT" "$FRAMES" "$WIDTH" "$HEIGHT" >"${WORKDIR}/render.log" 2>&1; then
      tail -n 20 "${WORKDIR}/render.log" >&2 || true
      die "rendering the synthetic sequence failed (a video or image folder can be given with SMOKE_INPUT)"
    fi
  fi
  say "making the input bag: ${CLI[*]} make-bag ${INPUT} ${make_bag_args[*]}"
  if ! "${CLI[@]}" make-bag "$INPUT" "${make_bag_args[@]}" >"${WORKDIR}/make_bag.log" 2>&1; then
    tail -n 20 "${WORKDIR}/make_bag.log" >&2 || true
    die "hand-perception make-bag failed (log: ${WORKDIR}/make_bag.log)"
  fi
  BAG="${WORKDIR}/input_bag"
  [[ -f "${BAG}/metadata.yaml" ]] || die "make-bag wrote no ${BAG}/metadata.yaml"
  grep -q 'camera_info_topic": null' "${WORKDIR}/make_bag.log" \
    && warn "the bag has no CameraInfo (no intrinsics): the estimator uses a default focal length"
  say "input bag ${BAG}: $(tail -n 1 "${WORKDIR}/make_bag.log")"
fi

# ------------------------------------------------------------------------------- 4./5. launch + checks

# topic prefix of the nodes' relative output topics
TOPIC_PREFIX=""
NODE_PREFIX=""
if [[ -n "$NAMESPACE" ]]; then
  TOPIC_PREFIX="/${NAMESPACE}"
  NODE_PREFIX="/${NAMESPACE}"
fi

lifecycle_nodes() { # layout -> node names (full.launch.py: LifecycleNode name=...)
  case "$1" in
    combined) printf '%s\n' "${NODE_PREFIX}/hand_perception" ;;
    split) printf '%s\n' "${NODE_PREFIX}/hand_estimator" "${NODE_PREFIX}/hand_forecaster" ;;
    estimator) printf '%s\n' "${NODE_PREFIX}/hand_estimator" ;;
    forecaster) printf '%s\n' "${NODE_PREFIX}/hand_forecaster" ;;
  esac
}

expected_topics() { # layout -> "topic type" lines (docs/ros.md, core/node_logic.py TOPICS)
  local estimator="${TOPIC_PREFIX}/hands hand_perception_msgs/msg/HandArray
${TOPIC_PREFIX}/hands/markers visualization_msgs/msg/MarkerArray
/tf tf2_msgs/msg/TFMessage"
  local forecaster="${TOPIC_PREFIX}/hands/forecast hand_perception_msgs/msg/BimanualForecast
${TOPIC_PREFIX}/hands/action hand_perception_msgs/msg/ActionEstimate"
  local diagnostics="/diagnostics diagnostic_msgs/msg/DiagnosticArray"
  case "$1" in
    combined | split) printf '%s\n%s\n%s\n' "$estimator" "$forecaster" "$diagnostics" ;;
    estimator) printf '%s\n%s\n' "$estimator" "$diagnostics" ;;
    # the forecaster alone has no HandArray source (the bag holds images): nothing to forecast
    forecaster) printf '%s\n' "$diagnostics" ;;
  esac
}

# Refuse to test when nodes with our names are already on the graph: their messages would make
# the checks pass for the wrong reason.
say "checking that no hand_perception node is running already (ros2 node list)"
existing="$(timeout --foreground --kill-after=5 "$CLI_TIMEOUT" ros2 node list --no-daemon --spin-time 3 2>/dev/null || true)"
for layout in "${LAYOUTS[@]}"; do
  while IFS= read -r node; do
    if printf '%s\n' "$existing" | grep -Fxq -- "$node"; then
      die "node ${node} is already running: stop it, or run in another domain (SMOKE_DOMAIN_ID=<n>)"
    fi
  done < <(lifecycle_nodes "$layout")
done

# the launch file declares the arguments this script passes
say "checking the launch arguments (ros2 launch hand_perception full.launch.py --show-args)"
if show_args="$(timeout --foreground --kill-after=5 "$CLI_TIMEOUT" ros2 launch hand_perception full.launch.py --show-args 2>&1)"; then
  missing=""
  for arg in bag image_topic camera_info_topic nodes namespace; do
    printf '%s\n' "$show_args" | grep -q "'${arg}'" || missing+=" ${arg}"
  done
  if [[ -z "$missing" ]]; then
    record "-" "launch arguments" PASS "full.launch.py declares bag, image_topic, camera_info_topic, nodes, namespace"
  else
    record "-" "launch arguments" FAIL "full.launch.py --show-args lacks:${missing}"
  fi
else
  record "-" "launch arguments" FAIL "ros2 launch ... --show-args failed: $(printf '%s' "$show_args" | tail -n 1)"
fi

wait_active() { # layout node
  local layout="$1" node="$2" start=$SECONDS state last="no answer"
  while ((SECONDS - start < STARTUP_TIMEOUT)); do
    if ! launch_alive; then
      record "$layout" "lifecycle ${node}" FAIL "ros2 launch exited before the node became active"
      return 0
    fi
    state="$(timeout --foreground --kill-after=5 "$CLI_TIMEOUT" ros2 lifecycle get "$node" 2>&1 || true)"
    if printf '%s\n' "$state" | grep -q '^active \['; then
      record "$layout" "lifecycle ${node}" PASS "active after $((SECONDS - start)) s"
      return 0
    fi
    [[ -n "$state" ]] && last="$(printf '%s\n' "$state" | tail -n 1)"
    sleep 2
  done
  record "$layout" "lifecycle ${node}" FAIL "not active after ${STARTUP_TIMEOUT} s (last: ${last})"
}

echo_once() { # layout topic type
  local layout="$1" topic="$2" msg_type="$3" out rc=0 first
  out="${WORKDIR}/echo_${layout}$(printf '%s' "$topic" | tr '/' '_').txt"
  if ! launch_alive; then
    record "$layout" "echo ${topic}" FAIL "ros2 launch is not running"
    return 0
  fi
  timeout --foreground --kill-after=5 "$ECHO_TIMEOUT" ros2 topic echo --once \
    --qos-reliability "$QOS_RELIABILITY" --qos-durability "$QOS_DURABILITY" \
    "$topic" "$msg_type" >"$out" 2>&1 || rc=$?
  if ((rc == 0)) && grep -qx -- '---' "$out"; then
    record "$layout" "echo ${topic}" PASS "${msg_type}"
  elif ((rc == 124 || rc == 137)); then
    record "$layout" "echo ${topic}" FAIL "no ${msg_type} within ${ECHO_TIMEOUT} s"
  else
    first="$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 || true)"
    record "$layout" "echo ${topic}" FAIL "ros2 topic echo exit ${rc}: ${first:-no output}"
  fi
}

for layout in "${LAYOUTS[@]}"; do
  log="${WORKDIR}/launch_${layout}.log"
  launch_cmd=(ros2 launch hand_perception full.launch.py "bag:=${BAG}" "image_topic:=${IMAGE_TOPIC}"
    "camera_info_topic:=${CAMERA_INFO_TOPIC}" "nodes:=${layout}")
  # an empty value is a malformed launch argument: no namespace means leaving the argument out
  if [[ -n "$NAMESPACE" ]]; then
    launch_cmd+=("namespace:=${NAMESPACE}")
  fi
  launch_cmd+=(${EXTRA_LAUNCH_ARGS[@]+"${EXTRA_LAUNCH_ARGS[@]}"})
  say "[${layout}] ${launch_cmd[*]}  (log: ${log})"
  # In its own session (process group), so the whole launch tree can be signalled at once, and
  # with SIGINT/SIGQUIT at their defaults: bash starts background commands with both ignored,
  # and the nodes would inherit that, so the Ctrl-C (SIGINT) shutdown would not be tested.
  "$PY" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' "${launch_cmd[@]}" >"$log" 2>&1 </dev/null &
  LAUNCH_PID=$!
  LAUNCH_PGID="$LAUNCH_PID" # setsid: the session and process group ids are its pid

  while IFS= read -r node; do
    wait_active "$layout" "$node"
  done < <(lifecycle_nodes "$layout")

  while read -r topic msg_type; do
    [[ -n "$topic" ]] && echo_once "$layout" "$topic" "$msg_type"
  done < <(expected_topics "$layout")

  launch_exited=""
  if launch_alive; then
    record "$layout" "launch running" PASS "ros2 launch still up after the checks"
  else
    wait "$LAUNCH_PID" 2>/dev/null && launch_rc=0 || launch_rc=$?
    launch_exited="ros2 launch exited by itself (status ${launch_rc})"
    record "$layout" "launch running" FAIL "ros2 launch exited (status ${launch_rc}) before the end of the checks"
  fi

  stop_launch
  case "$STOP_HOW" in
    sigint) record "$layout" "shutdown on SIGINT" PASS "launch tree exited within ${SHUTDOWN_TIMEOUT} s" ;;
    "not running") ;;
    *) record "$layout" "shutdown on SIGINT" FAIL "still running ${SHUTDOWN_TIMEOUT} s after SIGINT (${STOP_HOW} needed)" ;;
  esac

  # The launch log fails when the launch failed: it exited before being stopped, or it shows a
  # crash (a traceback, a dead process, launch's own exceptions, an invalid rclpy context).
  fatal="$(grep -e 'Traceback' -e 'process has died' -e 'Caught exception in launch' \
    -e 'malformed launch argument' -e 'RCLError' "$log" | head -n 1 || true)"
  errors="$(grep -c -e '\[ERROR\]' "$log" || true)"
  if [[ -n "$launch_exited" ]]; then
    last="$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)"
    record "$layout" "launch log" FAIL "${launch_exited}: ${last:-empty log}"
  elif [[ -n "$fatal" ]]; then
    record "$layout" "launch log" FAIL "${fatal}"
  elif [[ "${errors:-0}" != "0" && "$STRICT_LOG" == "1" ]]; then
    record "$layout" "launch log" FAIL "${errors} [ERROR] lines in ${log}"
  else
    if [[ "${errors:-0}" != "0" ]]; then
      say "note: ${errors} [ERROR] lines in ${log} (SMOKE_STRICT_LOG=1 makes this a failure)"
    fi
    record "$layout" "launch log" PASS "ran until stopped; no traceback, dead process or launch exception"
  fi
done

# ------------------------------------------------------------------------------- 6. summary

failed=0
printf '\n%-10s  %-36s  %-6s  %s\n' "LAYOUT" "CHECK" "RESULT" "DETAIL"
printf '%-10s  %-36s  %-6s  %s\n' "----------" "------------------------------------" "------" "------"
for i in "${!R_CHECK[@]}"; do
  printf '%-10s  %-36s  %-6s  %s\n' "${R_LAYOUT[$i]}" "${R_CHECK[$i]}" "${R_RESULT[$i]}" "${R_DETAIL[$i]}"
  [[ "${R_RESULT[$i]}" == "PASS" ]] || failed=$((failed + 1))
done
printf '\n'
FINISHED=1
if ((failed > 0)); then
  say "${failed} of ${#R_CHECK[@]} checks FAILED (launch logs: ${WORKDIR}/launch_*.log, echo output: ${WORKDIR}/echo_*.txt)"
  exit 1
fi
say "all ${#R_CHECK[@]} checks passed"
