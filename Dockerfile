# syntax=docker/dockerfile:1
#
# hand_perception: ROS 2 Jazzy + CUDA + TensorRT, the Python packages, and the colcon-built
# workspace. Default command: `ros2 launch hand_perception full.launch.py`.
#
#   docker build -t hand_perception .
#   docker run --rm -it --gpus all --net host --ipc host --device /dev/video0 hand_perception \
#       ros2 launch hand_perception full.launch.py image_topic:=/image_raw camera_info_topic:=/camera_info
#
# Base image choice: nvidia/cuda:<cuda>-cudnn-runtime-ubuntu24.04, with ROS 2 Jazzy installed
# from packages.ros.org. Jazzy targets Ubuntu 24.04 (Noble); NVIDIA's CUDA images exist for
# Noble and bring the CUDA runtime, cuDNN and the NVIDIA_* variables the NVIDIA container
# toolkit needs to inject the driver (`--gpus all`), while installing ROS on top is the
# documented apt procedure. The opposite (ros:jazzy-ros-base + CUDA repositories) works too but
# leaves the CUDA/driver plumbing to us. The NGC TensorRT images are Ubuntu 22.04 up to their
# 24.x releases, which Jazzy does not support. TensorRT comes from NVIDIA's `tensorrt-cu12` wheels
# (what hand_models' TensorRT backend imports: `import tensorrt`, buffers are torch CUDA tensors),
# torch from the PyTorch CUDA index, ONNX Runtime as onnxruntime-gpu.
#
# Python packages live in a virtual environment that sees the system (ROS) packages
# (--system-site-packages), and colcon runs with that interpreter, so the installed node
# executables (#!/opt/venv/bin/python) import rclpy from ROS and torch/mediapipe from the venv.
# The image is not built in CI here (no Docker daemon); hadolint checks it.

ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG ROS_DISTRO=jazzy
# PyTorch wheel index for the CUDA build (cu126/cu128/... must exist for TORCH_VERSION)
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_VERSION=2.13.0
ARG TENSORRT_VERSION=10.13.3.9
ARG ONNXRUNTIME_GPU_VERSION=1.22.0

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    ROS_DISTRO=${ROS_DISTRO} \
    RMW_IMPLEMENTATION=rmw_cyclonedds_cpp \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HAND_PERCEPTION_CACHE=/var/cache/hand_perception

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# --- ROS 2 Jazzy (apt) -----------------------------------------------------------------------
# Versions come from the ROS and Ubuntu repositories of the distribution (rolling sync), as in
# the official ROS images; pinning every apt package would freeze security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg locales \
 && curl -fsSL https://raw.githubusercontent.com/ros/rosdistro/master/ros.key \
      -o /usr/share/keyrings/ros-archive-keyring.gpg \
 && echo "deb [arch=$(dpkg --print-architecture) signed-by=/usr/share/keyrings/ros-archive-keyring.gpg] http://packages.ros.org/ros2/ubuntu noble main" \
      > /etc/apt/sources.list.d/ros2.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake git python3-dev python3-pip python3-venv \
      python3-colcon-common-extensions python3-rosdep \
      ros-${ROS_DISTRO}-ros-base \
      ros-${ROS_DISTRO}-rmw-cyclonedds-cpp \
      ros-${ROS_DISTRO}-rosbag2-storage-mcap \
      ros-${ROS_DISTRO}-launch-testing-ros \
      ros-${ROS_DISTRO}-v4l2-camera \
      ros-${ROS_DISTRO}-usb-cam \
      libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

# --- Python environment: torch (CUDA), TensorRT, the project's requirements ------------------
WORKDIR /opt/hand_perception
COPY requirements.txt ./
RUN python3 -m venv --system-site-packages /opt/venv \
 && /opt/venv/bin/python -m pip install "pip>=24" "setuptools>=68,<80" wheel \
 && /opt/venv/bin/python -m pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}" \
 && /opt/venv/bin/python -m pip install -r requirements.txt \
 && /opt/venv/bin/python -m pip uninstall -y onnxruntime \
 && /opt/venv/bin/python -m pip install "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}" "tensorrt-cu12==${TENSORRT_VERSION}" \
 && /opt/venv/bin/python -c "import torch, tensorrt, onnxruntime, mediapipe, rosbags; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'tensorrt', tensorrt.__version__, 'ort', onnxruntime.__version__)"
ENV PATH=/opt/venv/bin:${PATH}

# --- the project: Python packages, then the ROS workspace -------------------------------------
COPY hand_models ./hand_models
COPY training ./training
COPY launch ./launch
COPY ros2_ws/src ./ros2_ws/src
RUN python -m pip install --no-deps ./hand_models ./training \
 && mkdir -p "${HAND_PERCEPTION_CACHE}" \
 && hand-models-make-procedural

# rosdep checks the package.xml dependencies (all already installed above; fails if one is not)
# hadolint ignore=DL3008
RUN rosdep init \
 && rosdep update --rosdistro "${ROS_DISTRO}" \
 && apt-get update \
 && rosdep install --from-paths ros2_ws/src --ignore-src -y --rosdistro "${ROS_DISTRO}" \
 && rm -rf /var/lib/apt/lists/*

# colcon with the venv's interpreter: scripts get #!/opt/venv/bin/python (see the header)
WORKDIR /opt/hand_perception/ros2_ws
RUN . "/opt/ros/${ROS_DISTRO}/setup.bash" \
 && python -m colcon build --merge-install --event-handlers console_direct+ \
      --cmake-args -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && rm -rf build log

COPY docker/entrypoint.sh /entrypoint.sh
RUN chmod 0755 /entrypoint.sh \
 && if id ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
 && useradd --create-home --uid 1000 --groups video hand \
 && chown -R hand:hand "${HAND_PERCEPTION_CACHE}"

USER 1000:1000
WORKDIR /home/hand
ENTRYPOINT ["/entrypoint.sh"]
CMD ["ros2", "launch", "hand_perception", "full.launch.py"]
