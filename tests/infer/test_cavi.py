"""CAVI: the blocked kernel against a naive coordinate update, the M step against least
squares, q against the brute-force mean-field optimum and the exact posterior, monotone bound."""

from __future__ import annotations

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer import fit, posterior
from genz_pyro.infer.bound import mean_field_bound
from genz_pyro.infer.cavi import e_field, gauss_seidel, m_step_linear, prepare_linear, suff_stats, weight_from_link
from genz_pyro.infer.enumerate import exact_posterior, mean_field_optimum
from genz_pyro.infer.simulate import simulate_linear


def _naive_sweep(q, data, w, sigma2, eps):
    """Reference: feature by feature, the appendix-B update from the full residual."""
    q = q.clone()
    y = data.targets.double()
    k = q.shape[1]
    wz, wrest = w[:k], w[k:]
    uaug = torch.cat([data.covariates.double(), torch.ones(len(y), 1, dtype=torch.float64)], 1)
    prior = data.prior_logits(eps).double()
    for j in range(k):
        pred_minus = q @ wz - q[:, j : j + 1] * wz[j] + uaug @ wrest  # everything except feature j
        field = ((y - pred_minus - wz[j] / 2) * wz[j] / sigma2).sum(-1)
        q[:, j] = torch.sigmoid(prior[:, j] + field)
    return q


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n, k, d, c = 60, 7, 3, 2
    s = (torch.rand(n, k, generator=g) < 0.5).float()
    miss = torch.rand(n, k, generator=g) < 0.1
    data = GenZData.create(s, torch.randn(n, d, generator=g), covariates=torch.randn(n, c, generator=g), missing=miss)
    w = torch.randn(k + c + 1, d, generator=g, dtype=torch.float64)
    sigma2 = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    eps = torch.tensor([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.25], dtype=torch.float64)
    q = torch.rand(n, k, generator=g, dtype=torch.float64)
    return data, w, sigma2, eps, q


def test_blocked_kernel_equals_naive_sequential_update_for_any_block_size() -> None:
    data, w, sigma2, eps, q = _problem()
    expected = _naive_sweep(q, data, w, sigma2, eps)
    ld = prepare_linear(data)
    base, g = e_field(ld, w, sigma2)
    for block in (1, 3, 7, 32):
        qt = q.T.contiguous().clone()
        sums = gauss_seidel(qt, base, g, ld.sm, eps, block=block)
        torch.testing.assert_close(qt.T, expected, rtol=0, atol=1e-12)
        # the sums it returns are those of the new q
        agree = ld.c0 + sums.agree
        mask = (~data.missing).double()
        s = data.judgments.double()
        torch.testing.assert_close(agree, (mask * (expected * s + (1 - expected) * (1 - s))).sum(0))
        h = -(torch.xlogy(expected, expected) + torch.xlogy(1 - expected, 1 - expected)).sum(0)
        torch.testing.assert_close(sums.entropy, h, rtol=1e-9, atol=1e-9)


def test_gibbs_kernel_draws_from_the_naive_conditionals() -> None:
    data, w, sigma2, eps, _ = _problem(1)
    z = (torch.rand(60, 7, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    ld = prepare_linear(data)
    base, g = e_field(ld, w, sigma2)
    uni = torch.rand(7, 60, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    probs = torch.empty(7, 60, dtype=torch.float64)
    zt = z.T.contiguous().clone()
    gauss_seidel(zt, base, g, ld.sm, eps, block=3, uniforms=uni, probs=probs)
    # replay with the naive update: conditional of feature j given the already-drawn ones
    ref = z.clone()
    for j in range(7):
        p = _naive_sweep_single(ref, data, w, sigma2, eps, j)
        torch.testing.assert_close(probs[j], p, rtol=0, atol=1e-12)
        ref[:, j] = (uni[j] < p).double()
    torch.testing.assert_close(zt.T, ref)


def _naive_sweep_single(z, data, w, sigma2, eps, j):
    k = z.shape[1]
    y = data.targets.double()
    uaug = torch.cat([data.covariates.double(), torch.ones(len(y), 1, dtype=torch.float64)], 1)
    pred_minus = z @ w[:k] - z[:, j : j + 1] * w[j] + uaug @ w[k:]
    field = ((y - pred_minus - w[j] / 2) * w[j] / sigma2).sum(-1)
    return torch.sigmoid(data.prior_logits(eps).double()[:, j] + field)


def test_m_step_is_least_squares_on_expected_sufficient_statistics() -> None:
    data, _, _, _, q = _problem(2)
    ld = prepare_linear(data)
    szz, szy = suff_stats(ld, q.T.contiguous(), mean_field=True)
    w, sigma2, _ = m_step_linear(ld, szz, szy)
    x = torch.cat([q, data.covariates.double(), torch.ones(60, 1, dtype=torch.float64)], 1)
    ezz = x.T @ x
    ezz[:7, :7] += torch.diag((q * (1 - q)).sum(0))
    w_ref = torch.linalg.solve(ezz, x.T @ data.targets.double())
    torch.testing.assert_close(w, w_ref, rtol=1e-8, atol=1e-8)
    y = data.targets.double()
    resid = ((y - x @ w_ref) ** 2).sum(0) + ((q * (1 - q)) @ (w_ref[:7] ** 2)).sum(0)
    torch.testing.assert_close(sigma2, resid / 60, rtol=1e-8, atol=1e-10)


def test_bound_is_monotone_and_history_matches_the_analytic_bound() -> None:
    sim = simulate_linear(400, 8, 4, sigma=0.8, seed=3)
    res = fit(sim.data, engine="cavi", max_sweeps=60, tol=0.0)
    h = np.array([res.info["bound_start"], *res.bound_history])
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), np.diff(h).min()
    final = float(mean_field_bound(sim.data, res.q.double(), res.eps.double(), res.link.double(), res.sigma2.double()).sum())
    assert abs(final - res.bound) < 1e-3 * 400  # float32 storage of q and W


def test_e_step_reaches_the_brute_force_mean_field_optimum_and_the_exact_posterior() -> None:
    sim = simulate_linear(150, 4, 6, sigma=0.5, eps_range=(0.05, 0.3), seed=4)
    res = fit(sim.data, engine="cavi")
    link = res.link.double()
    eps, sigma2 = res.eps.double(), res.sigma2.double()
    q = posterior(res, sim.data, sweeps=500, tol=1e-12).double()
    q_opt, b_opt = mean_field_optimum(
        sim.data, eps=eps, link=link, sigma2=sigma2, num_random_starts=1, max_sweeps=200, tol=1e-12
    )
    b = mean_field_bound(sim.data, q, eps, link, sigma2)
    assert bool((b <= b_opt + 1e-6).all())  # the optimum is an upper bound of any q
    same = (b - b_opt).abs() < 1e-6
    assert float(same.double().mean()) > 0.97  # a local optimum for at most 3% of items
    torch.testing.assert_close(q[same], q_opt[same], rtol=0, atol=1e-3)
    exact = exact_posterior(sim.data, eps=eps, link=link, sigma2=sigma2).marginals
    assert float((q - exact).abs().mean()) < 0.02


def test_no_features_is_least_squares_on_the_covariates() -> None:
    g = torch.Generator().manual_seed(5)
    u = torch.randn(80, 2, generator=g)
    y = u @ torch.tensor([[1.0], [-2.0]]) + 0.5 + 0.1 * torch.randn(80, 1, generator=g)
    res = fit(GenZData.create(torch.zeros(80, 0), y, covariates=u), engine="cavi")
    x = np.c_[u.numpy(), np.ones(80)]
    coef = np.linalg.lstsq(x, y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(weight_from_link(res.link).numpy()[:, 0], coef[:, 0], atol=1e-5)


def test_binary_experiment_reconstructs_exactly_without_nan() -> None:
    """Targets 0..511 and their 9 bits, 2% of the judgments flipped: sigma2 hits its floor.

    A few items can stay in a local optimum of single-bit moves (two wrong bits whose
    errors nearly cancel), so at most 3 of the 4608 bits may be wrong."""
    n = torch.arange(512)
    bits = ((n[:, None] >> torch.arange(8, -1, -1)) & 1).float()
    g = torch.Generator().manual_seed(6)
    flips = (torch.rand(512, 9, generator=g) < 0.02).float()
    data = GenZData.create((bits + flips) % 2, n.float())
    res = fit(data, engine="cavi")
    assert torch.isfinite(res.q).all() and torch.isfinite(torch.tensor(res.bound))
    assert int(((res.q > 0.5).float() != bits).sum()) <= 3
    w = res.link.feature_weight.detach().double()[0]
    torch.testing.assert_close(w, 2.0 ** torch.arange(8, -1, -1, dtype=torch.float64), rtol=0, atol=0.02)
    floor = 1e-6 * float(data.targets.double().var(unbiased=False))
    assert abs(float(res.sigma2) - floor) < 1e-3 * floor  # at the floor, not 0
