"""genz_pyro.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genz_pyro.metrics import (
    cosine_similarities,
    mean_cosine_similarity,
    median_absolute_error,
    median_relative_error,
    r2_score,
)


def test_median_absolute_error_by_hand() -> None:
    # |diffs| = 0.5, 0, 2 -> median 0.5
    assert median_absolute_error([1.0, 2.0, 3.0], [1.5, 2.0, 5.0]) == pytest.approx(0.5, abs=1e-12)
    # [N] against [N, 1] is the same thing
    assert median_absolute_error(np.array([1.0, 2.0, 3.0]), np.array([[1.5], [2.0], [5.0]])) == pytest.approx(0.5)


def test_median_relative_error_of_price_by_hand() -> None:
    target = np.log([100.0, 100.0, 100.0])
    pred = np.log([110.0, 50.0, 100.0])  # relative errors 0.1, 0.5, 0
    assert median_relative_error(pred, target) == pytest.approx(0.1, abs=1e-12)


def test_cosine_by_hand_and_zero_rows() -> None:
    pred = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0], [0.0, 0.0]])
    target = np.array([[1.0, 0.0], [-1.0, -1.0], [4.0, 3.0], [1.0, 2.0]])
    np.testing.assert_allclose(cosine_similarities(pred, target), [1.0, -1.0, 0.96, 0.0], atol=1e-12)
    assert mean_cosine_similarity(pred, target) == pytest.approx((1 - 1 + 0.96 + 0) / 4, abs=1e-12)


def test_r2_pooled_and_average_by_hand() -> None:
    target = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    pred = np.array([[1.0, 12.0], [2.0, 20.0], [3.0, 28.0]])
    # column 0: SSE 0, SST 2 -> 1; column 1: SSE 8, SST 200 -> 0.96
    assert r2_score(pred, target, multioutput="average") == pytest.approx(0.98, abs=1e-12)
    assert r2_score(pred, target) == pytest.approx(1 - 8 / 202, abs=1e-12)
    # one column: both conventions are the usual R^2
    assert r2_score(pred[:, 1], target[:, 1]) == pytest.approx(0.96, abs=1e-12)
    assert r2_score(pred[:, 1], target[:, 1], multioutput="average") == pytest.approx(0.96, abs=1e-12)


def test_torch_input_matches_numpy(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    ta, tb = torch.tensor(a), torch.tensor(b, requires_grad=True)
    assert mean_cosine_similarity(ta, tb) == pytest.approx(mean_cosine_similarity(a, b), abs=1e-12)
    assert r2_score(ta, tb) == pytest.approx(r2_score(a, b), abs=1e-12)
    assert median_absolute_error(ta.float(), tb) == pytest.approx(median_absolute_error(a, b), abs=1e-6)
    assert math.isfinite(median_relative_error(ta, tb))


@pytest.mark.parametrize(
    "pred, target, match",
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), "pred: shape"),
        (np.zeros((3, 2)), np.zeros((4, 2)), "pred: shape"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "pred: expected shape"),
        (np.zeros(0), np.zeros(0), "pred: is empty"),
        (np.zeros(3), np.array([0.0, np.nan, 1.0]), "target: non-finite value at item 1"),
        (["a", "b"], [1.0, 2.0], "pred: could not convert"),
    ],
)
def test_bad_input_names_the_argument(pred: object, target: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        median_absolute_error(pred, target)


def test_r2_rejects_constant_targets_and_unknown_mode() -> None:
    with pytest.raises(ValueError, match="constant"):
        r2_score([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="column 1 is constant"):
        r2_score(np.ones((3, 2)), np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]), multioutput="average")
    with pytest.raises(ValueError, match="multioutput"):
        r2_score([1.0, 2.0], [1.0, 3.0], multioutput="weighted")
