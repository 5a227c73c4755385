"""Shared pytest setup: a repo-local cache for generated models, and paths to ../shared/data."""

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
