"""Exact EM (enumerated E step): exact marginals, a monotone exact log-likelihood, recovery of
simulated truth (no mean-field bias on eps), and the joint bit flips ("carries") of the
binary experiment that single-site engines cannot make."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.infer import fit
from genz_pyro.infer.enumerate import exact_log_marginal, exact_posterior
from genz_pyro.infer.simulate import simulate_linear
from genz_pyro.models.links import LinearLink


def _with_covariates_and_missing(n: int, k: int, d: int, seed: int) -> GenZData:
    g = torch.Generator().manual_seed(seed)
    sim = simulate_linear(n, k, d, sigma=0.6, seed=seed)
    u = torch.randn(n, 2, generator=g)
    miss = torch.rand(n, k, generator=g) < 0.1
    return GenZData.create(sim.data.judgments.masked_fill(miss, float("nan")), sim.data.targets + u[:, :1], covariates=u)


def test_exact_em_ascends_the_exact_log_likelihood_to_the_exact_marginals() -> None:
    """Covariates, missing judgments, one decoupled feature: every EM iteration raises the
    exact log p(y | s, u) (tolerance 1e-9 relative), the reported value equals the oracle's
    enumeration, and q equals the oracle's marginals at the returned parameters (1e-6)."""
    data = _with_covariates_and_missing(400, 5, 4, seed=31)
    dec = torch.tensor([False, False, False, True, False])
    res = fit(data, engine="exact", decoupled=dec, tol=1e-10, max_sweeps=500)
    h = np.array(res.bound_history)
    assert res.converged and len(h) > 5
    assert np.all(np.diff(h) >= -1e-9 * np.abs(h[1:])), np.diff(h).min()
    assert float(res.eps[3]) == 0.5  # decoupled: held
    link, eps, sigma2 = res.link.double(), res.eps.double(), res.sigma2.double()
    oracle = exact_posterior(data, eps=eps, link=link, sigma2=sigma2)
    assert res.info["log_likelihood"] == pytest.approx(oracle.log_marginal, rel=1e-9)
    assert h[-1] <= res.info["log_likelihood"] + 1e-9 * abs(h[-1])
    assert abs(h[-1] - exact_log_marginal(data, eps=eps, link=link, sigma2=sigma2)) < 1e-4 * abs(h[-1])
    torch.testing.assert_close(res.q.double(), oracle.marginals, rtol=0, atol=1e-6)


def test_exact_em_recovers_eps_and_w_with_a_clear_signal() -> None:
    """N = 2000, K = 8, D = 8, sigma = 0.3, eps ~ U(0.05, 0.3): eps within 0.03, W corr > 0.98."""
    sim = simulate_linear(2000, 8, 8, sigma=0.3, eps_range=(0.05, 0.3), seed=1)
    res = fit(sim.data, engine="exact")
    err = (res.eps.double() - sim.eps.double()).abs()
    w = res.link.feature_weight.detach().double().numpy().ravel()
    corr = float(np.corrcoef(w, sim.weight.double().numpy().ravel())[0, 1])
    acc = float(((res.q > 0.5).float() == sim.z).float().mean())
    print(f"exact, clear signal: max eps error {float(err.max()):.4f}, W corr {corr:.5f}, z accuracy {acc:.4f}")
    assert float(err.max()) < 0.03
    assert corr > 0.98
    assert acc > 0.97


def test_exact_em_has_no_mean_field_bias_on_eps_with_a_weak_signal() -> None:
    """sigma = 1, K = 10 > D = 4: the data say little about z. The mean-field bound pulls
    CAVI's eps toward 0 (mean error -0.12); exact EM climbs above the likelihood of the true
    parameters and its mean eps error stays within 0.02 (single eps errors up to ~0.13 are
    the maximum-likelihood estimate's own spread: the truth has a LOWER likelihood)."""
    sim = simulate_linear(2000, 10, 4, sigma=1.0, eps_range=(0.05, 0.3), seed=2)
    truth = sim.eps.double()
    res = fit(sim.data, engine="exact")
    exact = res.eps.double() - truth
    cavi = fit(sim.data, engine="cavi").eps.double() - truth
    print(
        f"weak signal eps error (mean, max |.|): exact {float(exact.mean()):+.4f} {float(exact.abs().max()):.4f}; "
        f"cavi {float(cavi.mean()):+.4f} {float(cavi.abs().max()):.4f}"
    )
    true_link = LinearLink(10, 4).double()
    with torch.no_grad():
        true_link.weight.copy_(sim.weight.double())
        true_link.bias.copy_(sim.bias.double())
    at_truth = exact_log_marginal(sim.data, eps=truth, link=true_link, sigma2=torch.ones(4, dtype=torch.float64))
    assert res.info["log_likelihood"] > at_truth
    assert abs(float(exact.mean())) < 0.02
    assert float(cavi.mean()) < -0.05  # the mean-field pitfall the exact engine removes
    assert abs(float(exact.mean())) < abs(float(cavi.mean())) / 4


def _binary(k: int, rate: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, GenZData]:
    n = torch.arange(2**k)
    bits = ((n[:, None] >> torch.arange(k - 1, -1, -1)) & 1).float()
    flips = (torch.rand(2**k, k, generator=torch.Generator().manual_seed(seed)) < rate).float()
    return bits, flips, GenZData.create((bits + flips) % 2, n.float())


def test_binary_numbers_need_joint_flips_exact_makes_them_cavi_does_not() -> None:
    """Numbers 0..255 from 8 bit judgments, each flipped with probability 0.1. Correcting an
    item whose flips nearly cancel in W z needs several bits at once (a carry): CAVI keeps
    such items wrong and under-estimates eps; exact EM recovers every bit and eps equals the
    realised flip rates (0.005)."""
    bits, flips, data = _binary(8, 0.1, seed=6)
    res = fit(data, engine="exact")
    cavi = fit(data, engine="cavi")
    wrong_exact = int(((res.q > 0.5).float() != bits).sum())
    wrong_cavi = int(((cavi.q > 0.5).float() != bits).sum())
    print(f"wrong bits: exact {wrong_exact}, cavi {wrong_cavi}; eps exact {res.eps.numpy().round(3)}, "
          f"cavi {cavi.eps.numpy().round(3)}, realised {flips.mean(0).numpy().round(3)}")
    assert wrong_exact == 0
    torch.testing.assert_close(res.eps.double(), flips.mean(0).double(), rtol=0, atol=5e-3)
    assert wrong_cavi > 20
    assert float(cavi.eps.mean()) < float(res.eps.mean()) - 0.01


def test_tiny_carry_cavi_sticks_exact_moves() -> None:
    """Numbers 0..7 from 3 bit judgments; one item (3 = 011) is judged 100 (4), off by a carry.
    Every single flip of 100 (000, 110, 101) fits worse, so CAVI keeps the judgment; exact EM
    puts the posterior mass on 011."""
    k = 3
    n = torch.arange(8).repeat(25)  # 200 items, numbers 0..7
    bits = ((n[:, None] >> torch.arange(k - 1, -1, -1)) & 1).float()
    s = bits.clone()
    s[3] = torch.tensor([1.0, 0.0, 0.0])  # item 3 is the number 3 = 011, judged 100 (off by a carry)
    data = GenZData.create(s, n.float()[:, None])
    eps = torch.full((k,), 0.05)
    res = fit(data, engine="exact", eps=eps, learn_eps=False)
    cavi = fit(data, engine="cavi", eps=eps, learn_eps=False)
    assert torch.equal((res.q[3] > 0.5).float(), bits[3])  # 011 recovered through the carry
    assert torch.equal((cavi.q[3] > 0.5).float(), s[3])  # mean field stays at the judgment 100


class _Affine(nn.Module):
    """A user link that is linear but not a LinearLink: exercises the gradient M step."""

    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self.lin = nn.Linear(k, d)

    def forward(self, z: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        return self.lin(z)


def test_gradient_m_step_for_any_link_matches_the_closed_form() -> None:
    """The same exact EM with a user module (Adam M step) reaches the closed-form fit:
    eps within 0.01 and log-likelihood within 0.2 % (N = 600, K = 4, D = 3; full-batch Adam)."""
    sim = simulate_linear(600, 4, 3, sigma=0.4, seed=4)
    closed = fit(sim.data, engine="exact")
    torch.manual_seed(0)
    grad = fit(sim.data, engine="exact", link=_Affine(4, 3), max_sweeps=30, lr=0.05, m_epochs=10, batch_size=600, seed=0)
    assert grad.engine == "exact" and not isinstance(grad.link, type(closed.link))
    print(f"log-lik closed {closed.info['log_likelihood']:.2f}, gradient {grad.info['log_likelihood']:.2f}")
    torch.testing.assert_close(grad.eps.double(), closed.eps.double(), rtol=0, atol=0.01)
    assert grad.info["log_likelihood"] == pytest.approx(closed.info["log_likelihood"], rel=2e-3)
    link, eps, sigma2 = grad.link.double(), grad.eps.double(), grad.sigma2.double()
    marg = exact_posterior(sim.data, eps=eps, link=link, sigma2=sigma2).marginals
    torch.testing.assert_close(grad.q.double(), marg, rtol=0, atol=1e-4)


def test_mlp_link_with_covariates_runs_exact_em() -> None:
    data = _with_covariates_and_missing(200, 3, 2, seed=5)
    res = fit(data, engine="exact", link="mlp", max_sweeps=3, init_epochs=5, seed=0)
    assert res.q.shape == (200, 3) and torch.isfinite(res.q).all()
    link, eps, sigma2 = res.link.double(), res.eps.double(), res.sigma2.double()
    link.eval()
    marg = exact_posterior(data, eps=eps, link=link, sigma2=sigma2).marginals
    torch.testing.assert_close(res.q.double(), marg, rtol=0, atol=1e-4)


def test_learn_eps_false_and_warm_start_are_respected() -> None:
    sim = simulate_linear(300, 4, 2, seed=6)
    eps = torch.tensor([0.1, 0.2, 0.3, 0.4])
    res = fit(sim.data, engine="exact", eps=eps, learn_eps=False)
    torch.testing.assert_close(res.eps.double(), eps.double())
    warm = fit(sim.data, engine="exact", q_init=res.q, eps=res.eps)
    cold = fit(sim.data, engine="exact")
    assert warm.info["log_likelihood"] == pytest.approx(cold.info["log_likelihood"], rel=1e-4)


def test_exact_engine_rejects_too_many_features_naming_the_fix() -> None:
    sim = simulate_linear(50, 13, 2, seed=32)
    with pytest.raises(ValueError, match="engine='cavi' or 'sem'"):
        fit(sim.data, engine="exact")
    with pytest.raises(ValueError, match="K <= 4"):
        fit(sim.data.select_features(range(6)), engine="exact", max_features=4)
    with pytest.raises(ValueError, match="engine_options"):
        fit(sim.data.select_features(range(2)), engine="exact", lr=0.1)


def test_exact_engine_with_no_features_fits_the_mean() -> None:
    y = torch.randn(30, 2, generator=torch.Generator().manual_seed(3))
    res = fit(GenZData.create(torch.zeros(30, 0), y), engine="exact")
    torch.testing.assert_close(res.link.bias.detach(), y.mean(0), rtol=0, atol=1e-5)
    torch.testing.assert_close(res.sigma2.double(), y.double().var(0, unbiased=False), rtol=1e-6, atol=0)


def test_posterior_after_an_exact_fit_gives_the_exact_marginals_on_new_items() -> None:
    """``posterior`` follows the engine: enumeration after ``engine="exact"`` (new items, the
    fitted parameters), the mean-field E step on request; the result's link is not altered."""
    from genz_pyro.infer import posterior
    from genz_pyro.infer.enumerate import exact_posterior

    sim = simulate_linear(600, 4, 3, sigma=1.0, seed=5)
    train = GenZData.create(sim.data.judgments[:400], sim.data.targets[:400])
    new = GenZData.create(sim.data.judgments[400:], sim.data.targets[400:])
    res = fit(train, engine="exact")
    dtype = res.link.weight.dtype
    q = posterior(res, new).double()
    ref = exact_posterior(new, eps=res.eps.double(), link=res.link, sigma2=res.sigma2.double()).marginals
    assert torch.allclose(q, ref, atol=1e-5)
    q_mf = posterior(res, new, exact=False).double()
    assert float((q_mf - ref).abs().max()) > 1e-3  # sigma = 1: mean field and exact differ
    assert res.link.weight.dtype == dtype
