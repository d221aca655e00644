"""Shared test fixtures: the location of ``../shared/data`` and per-test seeding."""

from __future__ import annotations

import os

# before torch loads (pyro below imports it): OpenMP threads that spin while they wait made
# 2-thread fits 20x slower whenever another process held a core (see genz_pyro/__init__.py)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyro  # noqa: E402
import pytest  # noqa: E402

#: ``../shared/data`` next to the repository, or ``$GENZ_DATA``.
SHARED_DATA = Path(
    os.environ.get("GENZ_DATA") or Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the read-only real datasets (session scope, so module fixtures can use it);
    skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set GENZ_DATA to their folder)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Before each test: empty Pyro's param store and seed random, numpy and torch with 0."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh ``np.random.default_rng(0)``."""
    return np.random.default_rng(0)
