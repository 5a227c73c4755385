"""ament_python package hand_perception; also pip-installable (ROS-free core) for development."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = "hand_perception"
HERE = os.path.dirname(os.path.abspath(__file__))


def _files(pattern: str) -> list[str]:
    return sorted(p for p in glob(os.path.join(HERE, pattern)) if os.path.isfile(p))


def _rel(paths: list[str]) -> list[str]:
    return [os.path.relpath(p, HERE) for p in paths]


# launch/ is a symlink to the repository's top-level launch/ folder (../../../launch). When the
# package is copied without it (ros2_ws alone), the link dangles and glob() would silently install
# no launch files: fail loudly instead.
_LAUNCH = os.path.join(HERE, "launch")
if os.path.lexists(_LAUNCH) and not os.path.isfile(os.path.join(_LAUNCH, "full.launch.py")):
    raise SystemExit(f"{_LAUNCH} does not lead to the launch files (dangling symlink to ../../../launch?): "
                     "keep ros2_ws/ next to the repository's launch/ folder")


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", _rel(_files("launch/*.launch.py") + _files("launch/*.rviz"))),
        ("share/" + PACKAGE + "/config", _rel(_files("config/*.yaml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="hand_perception developers",
    maintainer_email="hand-perception@example.org",
    description="Bimanual 3D hand estimation (MANO + 21 joints), forecasting and action labels for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "hand-perception = hand_perception.cli:main",
            "hand_estimator = hand_perception.nodes.hand_estimator:main",
            "hand_forecaster = hand_perception.nodes.hand_forecaster:main",
            "hand_perception_node = hand_perception.nodes.hand_perception_node:main",
        ],
    },
)
