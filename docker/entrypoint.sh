#!/usr/bin/env bash
# Entrypoint of the hand_perception image: source ROS 2 and the workspace, then run the command
# (default: ros2 launch hand_perception full.launch.py).
set -eo pipefail

ROS_DISTRO="${ROS_DISTRO:-jazzy}"
WS="${HAND_PERCEPTION_WS:-/opt/hand_perception/ros2_ws/install}"

# setup.bash reads unset variables: source it without `set -u`
# shellcheck disable=SC1090
source "/opt/ros/${ROS_DISTRO}/setup.bash"
if [[ -f "${WS}/setup.bash" ]]; then
  # shellcheck disable=SC1091
  source "${WS}/setup.bash"
else
  echo "entrypoint: workspace ${WS} not found (was the image built?)" >&2
fi

export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_cyclonedds_cpp}"

if [[ "${HAND_PERCEPTION_VERBOSE:-0}" == "1" ]]; then
  python - <<'PY' || true
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
try:
    import tensorrt
    print(f"TensorRT {tensorrt.__version__}")
except ImportError as exc:
    print(f"TensorRT not importable: {exc}")
PY
fi

exec "$@"
