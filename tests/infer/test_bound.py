"""The analytic mean-field bound against the bound summed over all 2^K configurations."""

from __future__ import annotations

import math

import pytest
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import (
    bernoulli_entropy,
    expected_agreement,
    expected_log_prior,
    mean_field_bound,
)
from genz_pyro.infer.enumerate import mean_field_bound_exact
from genz_pyro.models.links import LinearLink, MLPLink


def _data(n: int = 40, k: int = 3, d: int = 2, c: int = 2, *, missing: bool = True, seed: int = 0) -> GenZData:
    g = torch.Generator().manual_seed(seed)
    s = (torch.rand(n, k, generator=g) < 0.5).float()
    miss = (torch.rand(n, k, generator=g) < 0.15) if missing else None
    y = torch.randn(n, d, generator=g)
    u = torch.randn(n, c, generator=g) if c else None
    return GenZData.create(s, y, covariates=u, missing=miss)


def _linear(k: int, d: int, c: int, seed: int = 1) -> LinearLink:
    g = torch.Generator().manual_seed(seed)
    link = LinearLink(k, d, c).double()
    with torch.no_grad():
        link.weight.copy_(torch.randn(d, k + c, generator=g, dtype=torch.float64))
        link.bias.copy_(torch.randn(d, generator=g, dtype=torch.float64))
    return link


def test_linear_bound_equals_enumerated_bound_with_missing_covariates_and_decoupled() -> None:
    data = _data()
    link = _linear(3, 2, 2)
    q = torch.rand(40, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    q[0, 0], q[1, 1] = 0.0, 1.0  # boundary values: 0 log 0 = 0
    eps = torch.tensor([0.1, 0.3, 0.5], dtype=torch.float64)  # feature 2 decoupled
    sigma2 = torch.tensor([0.5, 2.0], dtype=torch.float64)
    ours = mean_field_bound(data, q, eps, link, sigma2)
    exact = mean_field_bound_exact(data, q, eps=eps, link=link, sigma2=sigma2)
    assert ours.shape == (40,)
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-5)


def test_decoupled_feature_contributes_log_half_prior_whatever_q() -> None:
    data = _data(missing=False)
    q = torch.rand(40, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    eps = torch.tensor([0.2, 0.2, 0.5], dtype=torch.float64)
    lp = expected_log_prior(q, data.judgments.double(), eps)
    torch.testing.assert_close(lp[:, 2], torch.full((40,), math.log(0.5), dtype=torch.float64))
    # and the coupled ones follow a log(1 - eps) + (1 - a) log eps
    a = expected_agreement(q, data.judgments.double())
    torch.testing.assert_close(lp[:, 0], a[:, 0] * math.log(0.8) + (1 - a[:, 0]) * math.log(0.2))


def test_entropy_helper_is_finite_at_the_boundary_and_maximal_at_half() -> None:
    q = torch.tensor([0.0, 0.5, 1.0, 0.2], dtype=torch.float64)
    h = bernoulli_entropy(q)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h[:3], torch.tensor([0.0, math.log(2), 0.0], dtype=torch.float64))
    torch.testing.assert_close(h[3], torch.tensor(-(0.2 * math.log(0.2) + 0.8 * math.log(0.8)), dtype=torch.float64))


def test_mlp_bound_is_an_unbiased_common_random_number_estimate() -> None:
    data = _data(n=30, k=3, d=2, c=0, missing=False)
    torch.manual_seed(0)
    link = MLPLink(3, 2, hidden=(8,), dropout=0.1).double()
    q = torch.rand(30, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    eps = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    sigma2 = torch.tensor([0.7, 1.3], dtype=torch.float64)
    link.eval()
    exact = mean_field_bound_exact(data, q, eps=eps, link=link, sigma2=sigma2).sum()
    link.train()
    a = mean_field_bound(data, q, eps, link, sigma2, num_samples=4000, seed=1).sum()
    b = mean_field_bound(data, q, eps, link, sigma2, num_samples=4000, seed=1).sum()
    assert float(a) == float(b)  # same seed, same draws
    assert link.training  # the mode is restored
    # MC error: per-item sd of the log-likelihood is O(1) nats; 30 items, 4000 draws -> ~0.1
    assert abs(float(a) - float(exact)) < 0.5


@pytest.mark.parametrize(
    ("arg", "shape"),
    [("q", (40, 2)), ("eps", (2,)), ("sigma2", (3,))],
)
def test_bound_rejects_wrong_shapes(arg: str, shape: tuple[int, ...]) -> None:
    data = _data()
    kw = {
        "q": torch.full((40, 3), 0.5, dtype=torch.float64),
        "eps": torch.full((3,), 0.1, dtype=torch.float64),
        "sigma2": torch.ones(2, dtype=torch.float64),
    }
    kw[arg] = torch.full(shape, 0.5, dtype=torch.float64)
    with pytest.raises(ValueError, match=arg):
        mean_field_bound(data, kw["q"], kw["eps"], _linear(3, 2, 2), kw["sigma2"])
