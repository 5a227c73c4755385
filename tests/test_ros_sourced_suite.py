"""The suite collects and passes the way it runs with ROS 2 sourced, checked without ROS.

Sourcing ROS 2 changes two things for pytest (issue 11, defects 1 and 2):

* launch_testing registers a pytest plugin whose ``pytest_pycollect_makemodule`` imports every
  test module, tolerating only ``SyntaxError``; a module-level ``pytest.skip`` taken during that
  import aborted the collection of the whole folder (exit 4/5, "found no collectors").
* the plugin imports ``launch``, which installs a logger class with ``propagate = False``, so
  ``caplog`` saw none of the records of loggers created afterwards (13 failures).

Here a small plugin does exactly those two things, a stand-in ``rclpy`` package makes the
modules take their "ROS is installed" branches, and pytest runs in a subprocess on the modules
concerned: the collection must succeed and the caplog tests must pass.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

#: What launch_testing's plugin does at start-up and at collection (launch_testing/pytest/hooks.py
#: in ROS 2 Jazzy): ``import launch`` (LaunchLogger: propagate=False) and importing each module.
LAUNCH_TESTING_LIKE = '''
import logging

import pytest


class LaunchLikeLogger(logging.getLoggerClass()):
    """Like launch.logging.LaunchLogger: loggers made after ``import launch`` do not propagate."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.propagate = False


logging.setLoggerClass(LaunchLikeLogger)


def _pyimport(module_path):
    try:
        from _pytest._py.path import LocalPath
    except ImportError:  # older pytest: the py library
        from py.path import local as LocalPath
    return LocalPath(str(module_path)).pyimport()


def pytest_pycollect_makemodule(module_path, parent):
    try:  # launch_testing tolerates nothing but a SyntaxError here
        entry = getattr(_pyimport(module_path), "generate_test_description", None)
    except SyntaxError:
        entry = None
    if entry is not None:
        parent.config.launch_like_entrypoints = getattr(parent.config, "launch_like_entrypoints", 0) + 1
    return None
'''

#: Modules with a "ROS is installed" branch, and the tests that assert log records.
TARGETS = (
    "tests/test_nodes_stubbed.py",
    "tests/ros",
    "tests/test_temporal.py::test_bad_hand_is_dropped_with_warning",
    "tests/test_temporal.py::test_repeated_or_backwards_stamp_resets_with_warning",
    "tests/test_forecasting.py::test_backwards_stamp_and_bad_hands",
)


def _run_like_ros_sourced(tmp_path: Path, targets: tuple[str, ...], *extra: str) -> subprocess.CompletedProcess:
    plugin_dir = tmp_path / "plugins"
    (plugin_dir / "rclpy").mkdir(parents=True)
    (plugin_dir / "launch_testing_like.py").write_text(LAUNCH_TESTING_LIKE)
    # a stand-in that only makes importlib.util.find_spec("rclpy") / import rclpy succeed
    (plugin_dir / "rclpy" / "__init__.py").write_text('"""rclpy stand-in: importable, nothing else."""\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "launch_testing_like", "-p", "no:cacheprovider",
           *extra, *targets]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_suite_collects_and_caplog_works_with_launch_testing_plugin(tmp_path):
    proc = _run_like_ros_sourced(tmp_path, TARGETS)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "found no collectors" not in out and "error" not in out.lower().split("short test summary")[-1]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|skipped|failed|error)", out)}
    # 2 + 1 + 1 caplog tests (parametrized ones count per case) pass; stand-in node tests and
    # tests/ros are reported as skipped, not lost
    assert counts.get("passed", 0) >= 4 and not counts.get("failed") and not counts.get("error"), out[-3000:]
    assert counts.get("skipped", 0) >= 3, out[-3000:]
    assert "rclpy is installed: the nodes are tested for real in tests/ros/" in out


def test_no_test_module_skips_at_import_time_where_ros_would_import_it():
    """Launch test modules are imported by launch_testing itself (not through conftest's hook):
    they must never call pytest.skip/importorskip at module level."""
    launch_tests = [p for p in TESTS.rglob("test_*.py")
                    if "def generate_test_description" in p.read_text()]
    assert launch_tests, "tests/ros/test_full_launch.py is a launch test"
    for path in launch_tests:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith(("pytest.skip", "pytest.importorskip")) or re.match(r"^\w+ = pytest\.importorskip", line):
                pytest.fail(f"{path.relative_to(REPO)}:{number}: module-level skip: {line.strip()}")


#: A logger of this project made before the test, non-propagating as after ``import launch``.
_MADE_BEFORE = logging.getLogger("hand_perception.core._caplog_probe_before")
_MADE_BEFORE.propagate = False


def test_caplog_sees_records_of_loggers_made_non_propagating(caplog):
    """In-process check of the conftest caplog fixture: a project logger that ``launch`` made
    non-propagating, and one first created during the test while launch's logger class is
    installed, both reach caplog; other packages' loggers are left alone."""

    class NoPropagate(logging.Logger):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.propagate = False

    saved = logging.getLoggerClass()
    logging.setLoggerClass(NoPropagate)
    try:
        made_during = logging.getLogger("hand_perception.core._caplog_probe_during")
    finally:
        logging.setLoggerClass(saved)
    with caplog.at_level(logging.WARNING):
        _MADE_BEFORE.warning("before %d", 1)
        made_during.warning("during %d", 2)
    assert [r.getMessage() for r in caplog.records] == ["before 1", "during 2"]
