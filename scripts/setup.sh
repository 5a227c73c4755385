#!/usr/bin/env bash
# Create .venv (if missing) and install every Python package of the project with the CPU
# build of torch 2.13.0. Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -r requirements-dev.txt
python -m pip install -q --no-deps -e hand_models -e training -e ros2_ws/src/hand_perception
python -c "import hand_models, hand_training, hand_perception; print('hand_perception environment ready:', __import__('sys').prefix)"
