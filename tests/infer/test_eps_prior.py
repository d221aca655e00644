"""The Beta(1 + a, 1 + a) prior on eps (``fit(eps_prior=a)``; default a = 0.3 for soft
judgments): the MAP M step, an eps the data leave open settles at 0.5, an exact judge still
gets a small eps, every engine that learns eps takes it, and bad values are named."""

from __future__ import annotations

import math

import pyro
import pytest
import torch

from genz_pyro import GenZData, fit
from genz_pyro.infer.fit import SOFT_EPS_PRIOR
from genz_pyro.infer.start import eps_log_prior, soft_update_eps, update_eps
from genz_pyro.models.genz import GenZModel
from genz_pyro.models.links import LinearLink


def test_the_m_step_is_the_map_of_the_beta_prior() -> None:
    disagree = torch.tensor([2.0, 0.0, 30.0], dtype=torch.float64)
    count = torch.tensor([48.0, 48.0, 48.0], dtype=torch.float64)
    learn = torch.tensor([True, True, True])
    eps = update_eps(disagree, count, torch.full((3,), 0.1, dtype=torch.float64), learn, 0.3)
    # (d + a) / (n + 2 a), clipped to [1e-3, 0.5]
    torch.testing.assert_close(eps, torch.tensor([2.3 / 48.6, 0.3 / 48.6, 0.5], dtype=torch.float64))
    # a = 0 is eq. 14
    eps0 = update_eps(disagree, count, torch.full((3,), 0.1, dtype=torch.float64), learn)
    torch.testing.assert_close(eps0, torch.tensor([2 / 48, 1e-3, 0.5], dtype=torch.float64))
    # the log prior: a sum log(eps (1 - eps)) over learned features
    e = torch.tensor([0.1, 0.4], dtype=torch.float64)
    assert eps_log_prior(e, torch.tensor([True, False]), 0.5) == pytest.approx(0.5 * math.log(0.1 * 0.9), rel=1e-12)
    assert eps_log_prior(e, torch.tensor([True, True]), 0.0) == 0.0


def test_the_soft_m_step_maximises_the_expected_log_prior_plus_the_beta_prior() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 200
    s = (0.6 + 0.3 * torch.rand(n, 1, generator=gen, dtype=torch.float64))
    q = torch.rand(n, 1, generator=gen, dtype=torch.float64)
    mask = torch.ones(n, 1, dtype=torch.float64)
    learn = torch.tensor([True])
    a = 0.3
    eps = soft_update_eps(q, s, mask, torch.tensor([0.2], dtype=torch.float64), learn, prior=a)

    def objective(e: float) -> float:
        p1 = s * (1 - e) + (1 - s) * e
        return float((q * torch.log(p1) + (1 - q) * torch.log(1 - p1)).sum()) + a * math.log(e * (1 - e))

    grid = torch.linspace(1e-3, 0.5, 4001, dtype=torch.float64)
    best = max(grid.tolist(), key=objective)
    # the grid's spacing (1.25e-4) bounds the distance to the maximiser (concave objective)
    assert abs(float(eps) - best) <= 2.5e-4


def _useless_soft_feature(seed: int = 0, n: int = 200) -> GenZData:
    """Feature 0: an informative soft judge of a real feature (weight 3); feature 1: a judge
    answering P(yes) ~ 0.74 +- 0.03 for every item, unrelated to y (the small model's answers
    in tests/local/test_quality.py)."""
    gen = torch.Generator().manual_seed(seed)
    z0 = (torch.rand(n, generator=gen) < 0.5).double()
    s0 = torch.where(z0 > 0, 0.9, 0.1) + 0.05 * torch.randn(n, generator=gen, dtype=torch.float64)
    s1 = 0.74 + 0.03 * torch.randn(n, generator=gen, dtype=torch.float64)
    y = 3.0 * z0 + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)
    return GenZData.create(torch.stack([s0.clamp(0, 1), s1.clamp(0, 1)], 1).float(), y[:, None].float())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_eps_the_data_leave_open_moves_to_one_half_under_cavi(seed: int) -> None:
    """48 items (the training rows of the real-model test), CAVI (the discovery's engine for
    the linear link). Measured eps of the useless judge, seeds 0-2: 0.42-0.44 with the
    default prior; without it 0.001-0.10 (it stays near where it started: 0.1)."""
    data = _useless_soft_feature(seed=seed, n=48)
    res = fit(data, engine="cavi", seed=0)
    assert res.info["eps_prior"] == SOFT_EPS_PRIOR  # the default for soft judgments
    eps = res.eps.double()
    assert float(eps[1]) >= 0.3, eps  # the useless judge is distrusted
    assert float(eps[0]) <= 0.2, eps  # the informative one (soft noise 0.05) is trusted
    plain = fit(data, engine="cavi", seed=0, eps_prior=0.0)
    assert float(plain.eps[1]) < float(eps[1]) and "eps_prior" not in plain.info


@pytest.mark.parametrize("engine", ["sem", "em", "svi"])
def test_every_engine_that_learns_eps_takes_the_prior(engine: str) -> None:
    """The prior moves the open eps up from where the fit without it leaves it (EM's flat
    direction moves slowly: a sweep moves eps by about a / N, so the stop rule may end the
    climb before 0.5; measured at N = 200: CAVI 0.25-0.27 against 0.10 without)."""
    data = _useless_soft_feature(seed=1, n=100)
    opts = {"max_sweeps": 100} if engine == "svi" else {}
    res = fit(data, engine=engine, seed=0, **opts)
    plain = fit(data, engine=engine, seed=0, eps_prior=0.0, **opts)
    assert res.info["eps_prior"] == SOFT_EPS_PRIOR
    assert float(res.eps[1]) > float(plain.eps[1]), (res.eps, plain.eps)


def test_an_exact_judge_still_gets_a_small_eps() -> None:
    """48 hard judgments that agree with a clear target: eps = a / (48 + 2 a) plus the
    posterior's expected disagreements (under 1e-3 items here)."""
    gen = torch.Generator().manual_seed(1)
    s = (torch.rand(48, 1, generator=gen) < 0.5).double()
    y = 5.0 * s + 0.1 * torch.randn(48, 1, generator=gen, dtype=torch.float64)
    data = GenZData.create(s, y)
    res = fit(data, engine="cavi", seed=0, eps_prior=0.3)
    assert float(res.eps[0]) == pytest.approx(0.3 / 48.6, abs=1e-3 / 48.6)
    assert float(res.eps[0]) <= 0.01
    assert "eps_prior" not in fit(data, engine="cavi", seed=0).info  # hard judgments: no prior by default


def test_the_map_objective_never_decreases_under_cavi() -> None:
    data = _useless_soft_feature(seed=3)
    res = fit(data, engine="cavi", seed=0, anneal=0)
    b = torch.tensor(res.bound_history[:-1], dtype=torch.float64)  # the last entry is the comparable bound
    # float64 sums over 200 items: 1e-9 relative slack for rounding
    assert bool((b[1:] - b[:-1] >= -1e-9 * b.abs()[1:]).all()), b


def test_the_pyro_model_carries_the_prior_as_a_factor() -> None:
    pyro.clear_param_store()
    data = _useless_soft_feature(n=20)
    gm = GenZModel(LinearLink(2, 1), num_features=2, target_dim=1, eps=torch.tensor([0.1, 0.3]), eps_prior=0.5)
    tr = pyro.poutine.trace(gm.model).get_trace(data)
    site = tr.nodes["eps_prior"]
    e = torch.tensor([0.1, 0.3])
    expected = 0.5 * float((torch.log(e) + torch.log1p(-e)).sum())
    assert float(site["fn"].log_prob(site["value"]).sum().detach()) == pytest.approx(expected, rel=1e-5)
    pyro.clear_param_store()
    plain = pyro.poutine.trace(GenZModel(LinearLink(2, 1), num_features=2, target_dim=1).model).get_trace(data)
    assert "eps_prior" not in plain.nodes


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "strong"])
def test_bad_values_are_named(bad) -> None:  # type: ignore[no-untyped-def]
    data = _useless_soft_feature(n=20)
    with pytest.raises(ValueError, match="eps_prior"):
        fit(data, eps_prior=bad)
    with pytest.raises(ValueError, match="eps_prior"):
        GenZModel(LinearLink(2, 1), num_features=2, target_dim=1, eps_prior=bad)


def test_the_moments_engine_refuses_a_prior() -> None:
    gen = torch.Generator().manual_seed(0)
    s = (torch.rand(100, 2, generator=gen) < 0.5).double()
    data = GenZData.create(s, s @ torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="eps_prior: the 'moments' engine"):
        fit(data, engine="moments", eps_prior=0.3)


# ------------------------------------------------------------------ the judges' rates (fit_judges)
def test_the_judges_m_step_is_the_map_of_the_beta_prior() -> None:
    """Hard answers, q held: each learnt rate is (expected errors + a) / (weight + 2 a) (judges
    better than a coin; a worse one gets the constrained maximum)."""
    from genz_pyro.infer.judge_rates import m_step_judges, prepare_judges_start
    from genz_pyro.infer.simulate import simulate_judges

    sim = simulate_judges(200, 2, 1, false_yes=[0.1, 0.3], false_no=[0.2, 0.05], seed=0)
    data = sim.data
    noise = torch.rand(200, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q = 0.8 * sim.z.double() + 0.2 * noise  # near the truth: every judge better than a coin
    s = data.answers.double()  # [N, K, J]
    for a in (0.0, 0.7):
        start = prepare_judges_start(data, rate_prior=a)
        got = m_step_judges(data, q, start, start.params)
        w0, w1 = (1 - q)[..., None], q[..., None]
        fy = ((w0 * s).sum(0) + a) / (w0.sum(0) + 2 * a)
        fn = ((w1 * (1 - s)).sum(0) + a) / (w1.sum(0) + 2 * a)
        torch.testing.assert_close(got.false_yes, fy.clamp(1e-3, 1 - 1e-3), rtol=1e-12, atol=0)
        torch.testing.assert_close(got.false_no, fn.clamp(1e-3, 1 - 1e-3), rtol=1e-12, atol=0)


def test_the_judges_prior_counts_a_symmetric_rate_once_and_a_shared_one_once_per_judge() -> None:
    from genz_pyro.infer.judge_rates import prepare_judges_start, rates_log_prior
    from genz_pyro.infer.simulate import simulate_judges

    data = simulate_judges(50, 3, 1, false_yes=[0.1, 0.2], seed=0).data  # K = 3, J = 2
    lp = lambda r: float(torch.log(r) + torch.log1p(-r))  # noqa: E731
    sym = prepare_judges_start(data, symmetric=True, false_yes=[0.1, 0.2], rate_prior=0.5)
    assert rates_log_prior(sym.params, sym) == pytest.approx(0.5 * 3 * (lp(torch.tensor(0.1)) + lp(torch.tensor(0.2))))
    shared = prepare_judges_start(data, shared=True, false_yes=[0.1, 0.2], false_no=[0.3, 0.4], rate_prior=0.5)
    expected = 0.5 * sum(lp(torch.tensor(r)) for r in (0.1, 0.2, 0.3, 0.4))
    assert rates_log_prior(shared.params, shared) == pytest.approx(expected)
    assert rates_log_prior(shared.params, prepare_judges_start(data, shared=True, rate_prior=0.0)) == 0.0


def test_the_judges_pyro_model_carries_the_prior_as_a_factor() -> None:
    from genz_pyro.infer.simulate import simulate_judges
    from genz_pyro.models.judges import JudgesModel

    pyro.clear_param_store()
    data = simulate_judges(20, 2, 1, false_yes=[0.1, 0.2], seed=0).data
    jm = JudgesModel(LinearLink(2, 1), num_features=2, num_judges=2, target_dim=1,
                     false_yes=0.1, false_no=0.2, decoupled=torch.tensor([False, True]), rate_prior=0.5)
    site = pyro.poutine.trace(jm.model).get_trace(data).nodes["rate_prior"]
    # feature 1 is decoupled: only feature 0's two judges count, each with its two rates
    e = torch.tensor([0.1, 0.1, 0.2, 0.2])
    expected = 0.5 * float((torch.log(e) + torch.log1p(-e)).sum())
    assert float(site["fn"].log_prob(site["value"]).sum().detach()) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="rate_prior"):
        JudgesModel(LinearLink(2, 1), num_features=2, num_judges=2, target_dim=1, rate_prior=-1)


def test_the_judges_default_prior_is_for_the_judges_whose_answers_are_soft() -> None:
    """A hard judge (offline, exact) and a soft one in one panel: by default only the soft one's
    rates get the prior, so the hard judge's rates are as with ``rate_prior=[0, 0.3]``."""
    from genz_pyro.infer.judges import fit_judges
    from genz_pyro.infer.simulate import simulate_judges
    from genz_pyro.judge_data import JudgesData

    sim = simulate_judges(120, 2, 1, false_yes=[0.02, 0.2], seed=3)
    ans = sim.data.answers.double().clone()
    ans[..., 1] = 0.6 + 0.2 * ans[..., 1]  # judge 1 answers P(yes) in {0.6, 0.8}
    data = JudgesData.create(ans, sim.data.targets)
    assert data.soft_judges.tolist() == [False, True]
    default = fit_judges(data, engine="cavi", seed=0)
    explicit = fit_judges(data, engine="cavi", seed=0, rate_prior=[0.0, SOFT_EPS_PRIOR])
    everyone = fit_judges(data, engine="cavi", seed=0, rate_prior=SOFT_EPS_PRIOR)
    torch.testing.assert_close(default.false_yes, explicit.false_yes, rtol=0, atol=0)
    assert not torch.equal(default.false_yes[:, 0], everyone.false_yes[:, 0])
    with pytest.raises(ValueError, match="rate_prior: expected a number or one per judge"):
        fit_judges(data, rate_prior=[0.1, 0.2, 0.3])
