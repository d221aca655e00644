"""Exact EM (enumerated E step): monotone exact evidence, exact marginals, and the binary
experiment's joint bit flips that single-site engines cannot make."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer import fit
from genz_pyro.infer.enumerate import exact_log_marginal, exact_posterior
from genz_pyro.infer.simulate import simulate_linear


def test_exact_em_ascends_the_exact_evidence_to_its_marginals() -> None:
    g = torch.Generator().manual_seed(0)
    sim = simulate_linear(400, 5, 4, sigma=0.6, seed=31)
    u = torch.randn(400, 2, generator=g)
    miss = torch.rand(400, 5, generator=g) < 0.1
    data = GenZData.create(sim.data.judgments.masked_fill(miss, float("nan")), sim.data.targets + u[:, :1], covariates=u)
    res = fit(data, engine="exact", tol=1e-10, max_sweeps=500)
    h = np.array(res.bound_history)
    assert res.converged and np.all(np.diff(h) >= -1e-8 * np.abs(h[1:]))
    link, eps, sigma2 = res.link.double(), res.eps.double(), res.sigma2.double()
    assert abs(h[-1] - exact_log_marginal(data, eps=eps, link=link, sigma2=sigma2)) < 1e-4 * abs(h[-1])
    marg = exact_posterior(data, eps=eps, link=link, sigma2=sigma2).marginals
    torch.testing.assert_close(res.q.double(), marg, rtol=0, atol=1e-3)


def test_binary_experiment_needs_joint_flips_and_gets_them() -> None:
    """Numbers 0..511, 9 bit judgments each flipped with probability 0.1: the exact E step
    recovers every bit and eps equals the realised flip rates; single-site engines keep
    items whose correction needs a carry (several bits at once) and under-estimate eps."""
    n = torch.arange(512)
    bits = ((n[:, None] >> torch.arange(8, -1, -1)) & 1).float()
    flips = (torch.rand(512, 9, generator=torch.Generator().manual_seed(6)) < 0.1).float()
    data = GenZData.create((bits + flips) % 2, n.float())
    res = fit(data, engine="exact")
    assert int(((res.q > 0.5).float() != bits).sum()) == 0
    torch.testing.assert_close(res.eps.double(), flips.mean(0).double(), rtol=0, atol=2e-3)
    cavi = fit(data, engine="cavi")
    assert int(((cavi.q > 0.5).float() != bits).sum()) > 50  # the documented local optima
    assert float(cavi.eps.mean()) < float(res.eps.mean()) - 0.01


def test_exact_engine_rejects_large_k_and_non_linear_links() -> None:
    sim = simulate_linear(50, 13, 2, seed=32)
    with pytest.raises(ValueError, match="engine"):
        fit(sim.data, engine="exact")
    with pytest.raises(ValueError, match="engine"):
        fit(sim.data.select_features(range(3)), engine="exact", link="mlp")


def test_exact_engine_with_no_features_fits_the_mean() -> None:
    y = torch.randn(30, 2, generator=torch.Generator().manual_seed(3))
    res = fit(GenZData.create(torch.zeros(30, 0), y), engine="exact")
    torch.testing.assert_close(res.link.bias.detach(), y.mean(0), rtol=0, atol=1e-5)
