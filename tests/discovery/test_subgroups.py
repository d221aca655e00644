"""Algorithm 2's subgroup choice on a constructed case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.discovery.subgroups import largest_error_subgroup, scaled_sq_error


def test_picks_the_combination_with_the_largest_total_error_not_the_largest_mean() -> None:
    # combos: (0,0) 40 items error 1 -> 40; (0,1) 10 items error 5 -> 50; (1,0) 30 items error 1.5 -> 45;
    # (1,1) 2 items error 20 -> 40 (largest per-item error, not the largest total)
    zhat = np.array([[0, 0]] * 40 + [[0, 1]] * 10 + [[1, 0]] * 30 + [[1, 1]] * 2)
    err = np.r_[np.full(40, 1.0), np.full(10, 5.0), np.full(30, 1.5), np.full(2, 20.0)]
    perm = np.random.default_rng(0).permutation(len(err))
    g = largest_error_subgroup(zhat[perm], err[perm])
    assert g.combination == (0, 1)
    assert g.total_error == pytest.approx(50.0)
    assert sorted(perm[g.members].tolist()) == list(range(40, 50))
    assert g.totals[(1, 1)] == pytest.approx(40.0)


def test_min_size_excludes_tiny_groups() -> None:
    zhat = np.array([[1]] + [[0]] * 9)
    err = np.r_[100.0, np.ones(9)]
    assert largest_error_subgroup(zhat, err, min_size=1).combination == (1,)
    assert largest_error_subgroup(zhat, err, min_size=2).combination == (0,)


def test_no_features_means_every_item() -> None:
    g = largest_error_subgroup(np.zeros((5, 0)), np.arange(5.0))
    assert g.combination == () and g.members.tolist() == [0, 1, 2, 3, 4]


def test_scaled_sq_error() -> None:
    y = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    m = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    e = scaled_sq_error(y, m, torch.tensor([1.0, 4.0]))
    assert e.tolist() == pytest.approx([1.0 + 1.0, 1.0 + 0.25])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="error"):
        largest_error_subgroup(np.zeros((3, 1)), np.ones(4))
    with pytest.raises(ValueError, match="error"):
        largest_error_subgroup(np.zeros((3, 1)), np.array([1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match="zhat"):
        largest_error_subgroup(np.zeros(3), np.ones(3))
