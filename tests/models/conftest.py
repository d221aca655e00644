"""Fixtures of the model/guide/SVI tests."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run these small-tensor tests on one intra-op thread (restored afterwards): on a
    shared 2-core machine, thread hand-offs on tiny ops cost more than they save
    (measured 5x slower under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
