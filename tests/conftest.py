"""Shared pytest setup: a repo-local cache for generated models, paths to ../shared/data, and
the hooks that keep the suite collecting and passing with ROS 2 sourced (see below)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HAND_PERCEPTION_SHARED_DATA", REPO.parent / "shared" / "data"))

# Generated artefacts (the procedural MANO files) go to the repo's ignored .cache folder.
os.environ.setdefault("HAND_PERCEPTION_CACHE", str(REPO / ".cache"))
# The procedural model is the default: make sure a developer's real MANO folder does not leak in.
os.environ.pop("HAND_PERCEPTION_MANO_DIR", None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set HAND_PERCEPTION_SHARED_DATA)")
    return SHARED_DATA


# --------------------------------------------------------------------------- ROS sourced
#
# With ROS 2 sourced, two things outside this project change how pytest behaves:
#
# * launch_testing's pytest plugin (entry point ``launch_testing``) implements
#   ``pytest_pycollect_makemodule`` by importing every test module itself, tolerating only a
#   SyntaxError: a module-level ``pytest.skip``/``importorskip`` taken there aborts the
#   collection of the whole folder ("found no collectors"). Modules that are not launch tests
#   are collected here, first, as ordinary pytest modules (where a module-level skip is a skip);
#   launch tests (files defining ``generate_test_description``) are left to launch_testing.
# * ``import launch`` (the plugin does it at start-up) installs ``launch.logging.LaunchLogger``
#   as the logger class: every logger created afterwards has ``propagate = False``, so records
#   never reach the root handler of ``caplog``. The ``caplog`` fixture below makes this
#   project's loggers (and loggers created during the test) propagate while a test runs.

#: Top-level packages of this repository whose loggers tests inspect with ``caplog``.
OWN_LOGGER_PACKAGES = ("hand_perception", "hand_models", "hand_training", "benchmarks", "training")


def is_launch_test_file(path: Path) -> bool:
    """True for a launch_testing test module (it defines ``generate_test_description``)."""
    try:
        return "def generate_test_description" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    """Collect ordinary test modules as pytest modules before any plugin imports them."""
    if module_path.name == "__init__.py" or is_launch_test_file(module_path):
        return None  # packages: pytest's default; launch tests: launch_testing's plugin
    return pytest.Module.from_parent(parent, path=module_path)


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture):
    """pytest's ``caplog`` that also sees records of loggers ``launch`` made non-propagating."""
    import logging

    manager = logging.Logger.manager
    saved_class = manager.loggerClass
    changed = []
    for name, logger in list(manager.loggerDict.items()):
        if (isinstance(logger, logging.Logger) and not logger.propagate
                and name.split(".")[0] in OWN_LOGGER_PACKAGES):
            logger.propagate = True
            changed.append(logger)
    # loggers first created during the test (a lazily imported module) propagate too
    manager.setLoggerClass(logging.Logger)
    try:
        yield caplog
    finally:
        manager.loggerClass = saved_class
        for logger in changed:
            logger.propagate = False
