"""Shared test fixtures: the location of ``../shared/data`` and per-test seeding."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyro
import pytest
import torch

# One torch thread for the whole suite: its fits are small, and on a shared machine two
# threads that spin while they wait made fits up to 20x slower (BENCHMARKS.md, "Threads").
torch.set_num_threads(1)

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
