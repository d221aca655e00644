"""Prediction for new items: beats least squares on raw judgments at high eps, intervals
cover at their level, the linear mean is exact, the held-out bound ranks models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer import fit, posterior
from genz_pyro.infer.simulate import simulate_linear
from genz_pyro.predict import heldout_bound, predict


@pytest.fixture(scope="module")
def noisy():
    """High eps (0.3-0.4): the judgments are poor proxies of z. 150 train, 2000 test items."""
    sim = simulate_linear(2150, 8, 6, sigma=0.3, eps_range=(0.3, 0.4), seed=21)
    return sim, sim.data.subset(range(150)), sim.data.subset(range(150, 2150))


def test_flip_model_beats_least_squares_on_raw_judgments_at_high_eps(noisy) -> None:
    _, train, test = noisy
    res = fit(train, seed=0)
    pred = predict(res, test.judgments, num_samples=50)
    mse_genz = float(((pred.mean - test.targets) ** 2).mean())
    x = np.c_[train.judgments.numpy(), np.ones(150)]
    coef = np.linalg.lstsq(x, train.targets.numpy(), rcond=None)[0]
    ls = np.c_[test.judgments.numpy(), np.ones(2000)] @ coef
    mse_ls = float(((ls - test.targets.numpy()) ** 2).mean())
    # population predictors coincide (both affine in s); the flip model wins by estimating W
    # from z-level residuals (sigma = 0.3) instead of judgment-level ones
    assert mse_genz < 0.99 * mse_ls, (mse_genz, mse_ls)


def test_intervals_cover_new_items_at_their_level(noisy) -> None:
    _, train, test = noisy
    res = fit(train, seed=0)
    pred = predict(res, test.judgments, num_samples=400, seed=1, level=0.8)
    inside = ((test.targets >= pred.lower) & (test.targets <= pred.upper)).float().mean()
    assert abs(float(inside) - 0.8) < 0.04
    assert pred.mean.shape == pred.lower.shape == (2000, 6)


def test_linear_mean_is_the_link_at_the_prior_probabilities(noisy) -> None:
    _, train, _ = noisy
    res = fit(train, engine="cavi")
    s = torch.tensor([[1.0, 0, 1, 0, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]])
    pred = predict(res, s, num_samples=10)
    p = s * (1 - res.eps) + (1 - s) * res.eps
    torch.testing.assert_close(pred.mean, res.link(p).detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pred.z_prob, p, rtol=1e-6, atol=1e-6)
    one = predict(res, s[0], num_samples=10)  # a single item
    torch.testing.assert_close(one.mean, pred.mean[:1])


def test_missing_judgment_is_uninformative() -> None:
    sim = simulate_linear(300, 3, 2, sigma=0.3, seed=22)
    res = fit(sim.data, engine="cavi")
    pred = predict(res, torch.tensor([[1.0, float("nan"), 0.0]]), num_samples=10)
    assert float(pred.z_prob[0, 1]) == 0.5


def test_heldout_bound_prefers_the_true_targets_to_shuffled_ones() -> None:
    sim = simulate_linear(600, 4, 3, sigma=0.4, seed=23)
    train, test = sim.data.subset(range(400)), sim.data.subset(range(400, 600))
    res = fit(train, engine="cavi")
    shuffled = GenZData.create(test.judgments, test.targets[torch.randperm(200, generator=torch.Generator().manual_seed(0))])
    b_true, b_shuf = heldout_bound(res, test), heldout_bound(res, shuffled)
    assert b_true > b_shuf + 200  # > 1 nat per item
    # the fit's q is a fixed point of the E step with its own parameters
    torch.testing.assert_close(posterior(res, train, q_init=res.q), res.q, rtol=0, atol=0.02)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"judgments": torch.ones(3, 5)}, "judgments"),
        ({"judgments": torch.full((3, 8), 2.0)}, "judgments"),
        ({"covariates": torch.ones(3, 2)}, "covariates"),
        ({"level": 1.0}, "level"),
        ({"num_samples": 0}, "num_samples"),
    ],
)
def test_predict_rejects_bad_input(noisy, kwargs: dict, name: str) -> None:
    _, train, _ = noisy
    res = fit(train, engine="cavi")
    args = {"judgments": torch.ones(3, 8)} | kwargs
    with pytest.raises(ValueError, match=name):
        predict(res, **args)
