"""The several-judges model: today's model as its one-judge case, the engines against exact
enumeration, the closed-form M step, missing and soft answers, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer import fit
from genz_pyro.infer.judge_rates import JudgeParams, m_step_judges, prepare_judges_start, prior_logits
from genz_pyro.infer.judges import fit_judges, judges_posterior
from genz_pyro.infer.judges_engines import judges_bound
from genz_pyro.infer.judges_enumerate import judges_exact_posterior, judges_mean_field_optimum
from genz_pyro.infer.simulate import simulate_judges, simulate_linear
from genz_pyro.judge_data import JudgesData
from genz_pyro.predict import predict, predict_judges


def _one_judge(n: int = 300, seed: int = 1, soft: bool = False) -> GenZData:
    sim = simulate_linear(n, 5, 3, sigma=0.3, eps_range=(0.05, 0.3), seed=seed)
    g = torch.Generator().manual_seed(seed + 10)
    miss = torch.rand(n, 5, generator=g) < 0.1
    s = sim.data.judgments
    if soft:  # P(yes) in [0.1, 0.9] around the hard answer
        s = 0.1 + 0.8 * (0.75 * s + 0.25 * torch.rand(n, 5, generator=g))
    return GenZData.create(s, sim.data.targets, covariates=torch.randn(n, 2, generator=g), missing=miss)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("engine", ["cavi", "sem", "em"])
def test_one_judge_symmetric_rates_and_pi_one_half_is_todays_fit(engine: str, soft: bool) -> None:
    """Same q, eps, weights and sigma2 to 1e-6 (float32 results; measured at most 6e-8 for q
    and 0 for W, eps to 2e-8), hard or soft judgments, and the bound differs by the constant
    log p(s) = count log 1/2. Soft answers: both put their default Beta(1.3, 1.3) prior on
    the flip rate (``eps_prior``, ``rate_prior``)."""
    data = _one_judge(soft=soft)
    assert data.is_soft == soft
    today = fit(data, engine=engine, seed=0)
    judged = fit_judges(JudgesData.from_genz(data), engine=engine, symmetric=True, pi=0.5, learn_pi=False, seed=0)
    assert judged.num_sweeps == today.num_sweeps
    torch.testing.assert_close(judged.q.double(), today.q.double(), rtol=0, atol=1e-6)
    torch.testing.assert_close(judged.false_yes[:, 0], today.eps.double(), rtol=0, atol=1e-6)
    torch.testing.assert_close(judged.false_no[:, 0], today.eps.double(), rtol=0, atol=1e-6)
    torch.testing.assert_close(judged.link.weight.detach(), today.link.weight.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(judged.link.bias.detach(), today.link.bias.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(judged.sigma2.double(), today.sigma2.double(), rtol=1e-6, atol=0)
    count = int((~data.missing).sum())
    assert judged.bound_history[0] - today.bound_history[0] == pytest.approx(count * math.log(0.5), abs=1e-3)


def _small(seed: int = 0, n: int = 120, k: int = 3, j: int = 3, missing: float = 0.15) -> JudgesData:
    sim = simulate_judges(
        n, k, 4, false_yes=[0.1, 0.25, 0.4][:j], false_no=[0.05, 0.3, 0.35][:j], pi=[0.3, 0.5, 0.7][:k],
        sigma=0.8, missing=missing, seed=seed,
    )
    return sim.data


def test_e_step_reaches_the_brute_force_mean_field_optimum_and_the_exact_marginals() -> None:
    data = _small()
    res = fit_judges(data, engine="cavi")
    link, sigma2 = res.link.double(), res.sigma2.double()
    q = judges_posterior(res, data, sweeps=500, tol=1e-12).double()
    q_opt, b_opt = judges_mean_field_optimum(data, res.params, link=link, sigma2=sigma2, num_random_starts=1)
    b = judges_bound(data, q, res.params, link, sigma2)
    assert bool((b <= b_opt + 1e-6).all())  # nothing beats the optimum
    same = (b - b_opt).abs() < 1e-6
    assert float(same.double().mean()) > 0.97
    torch.testing.assert_close(q[same], q_opt[same], rtol=0, atol=1e-3)
    exact = judges_exact_posterior(data, res.params, link=link, sigma2=sigma2)
    assert float((q - exact.marginals).abs().mean()) < 0.02
    # the bound is below the exact evidence log p(y, s), and the brute-force bound is the engine's
    assert bool((b <= exact.log_evidence + 1e-9).all())


def test_one_feature_mean_field_is_exact() -> None:
    """K = 1: the mean-field family holds the exact posterior, so the E step gives the exact
    marginals for any J, missing answers included (to 1e-7: q is returned at the float32
    precision of the targets, a rounding of at most 6e-8)."""
    data = _small(k=1, j=3, seed=2)
    res = fit_judges(data, engine="cavi")
    q = judges_posterior(res, data, sweeps=5, tol=0.0).double()
    exact = judges_exact_posterior(data, res.params, link=res.link.double(), sigma2=res.sigma2.double())
    torch.testing.assert_close(q, exact.marginals, rtol=0, atol=1e-7)


@pytest.mark.parametrize("engine", ["sem", "em"])
def test_sem_and_em_posteriors_against_exact_enumeration(engine: str) -> None:
    sim = simulate_judges(400, 4, 6, false_yes=[0.1, 0.3], false_no=[0.2, 0.15], sigma=0.6, seed=7)
    res = fit_judges(sim.data, engine=engine, seed=0)
    exact = judges_exact_posterior(sim.data, res.params, link=res.link.double(), sigma2=res.sigma2.double())
    err = (res.q.double() - exact.marginals).abs()
    assert float(err.mean()) < 0.03
    assert float(((res.q > 0.5) == (exact.marginals > 0.5)).double().mean()) > 0.97


def test_cavi_bound_is_monotone_and_its_history_is_the_bound() -> None:
    data = _small(seed=3, n=300)
    res = fit_judges(data, engine="cavi", max_sweeps=60, tol=0.0)
    h = np.array([res.info["bound_start"], *res.bound_history])
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), np.diff(h).min()
    final = float(judges_bound(data, res.q.double(), res.params, res.link.double(), res.sigma2.double()).sum())
    assert abs(final - res.bound) < 1e-3 * 300  # float32 storage of q and W


def test_soft_answers_fit_with_a_monotone_bound_and_reduce_to_the_one_judge_soft_prior() -> None:
    """Soft answers are virtual evidence: with one judge, a = b = eps and pi = 1/2 the prior of
    z is s (1 - eps) + (1 - s) eps (the one-judge soft prior); CAVI (its rate step an EM step
    over the judge's latent hard answer) never lowers the bound."""
    sim = simulate_judges(300, 3, 4, false_yes=[0.1, 0.3], sigma=0.7, seed=4)
    g = torch.Generator().manual_seed(0)
    soft = (sim.data.answers * 0.8 + 0.1 * torch.rand(sim.data.answers.shape, generator=g)).clamp(0, 1)
    data = JudgesData.create(soft, sim.data.targets)
    assert data.is_soft
    res = fit_judges(data, engine="cavi", max_sweeps=40, tol=0.0)
    h = np.array([res.info["bound_start"], *res.bound_history])
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[1:])), np.diff(h).min()
    one = data.select_judges([0])
    eps = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    params = JudgeParams(torch.full((3,), 0.5, dtype=torch.float64), eps[:, None], eps[:, None])
    s = one.answers[..., 0].double()
    torch.testing.assert_close(torch.sigmoid(prior_logits(one, params)), s * (1 - eps) + (1 - s) * eps)


def test_m_step_counts_rates_per_feature_shared_and_symmetric_with_missing_answers() -> None:
    """Hard answers, q in {0, 1}: the M step is counting (checked against numpy)."""
    rng = np.random.default_rng(0)
    n, k, j = 500, 2, 2
    z = rng.random((n, k)) < 0.4
    s = np.where(z[..., None], rng.random((n, k, j)) < 0.8, rng.random((n, k, j)) < 0.1).astype(float)
    miss = rng.random((n, k, j)) < 0.2
    data = JudgesData.create(np.where(miss, np.nan, s), rng.normal(size=n))
    q = torch.as_tensor(z, dtype=torch.float64)
    seen = ~miss
    zz = np.broadcast_to(z[..., None], s.shape)
    fy = ((s == 1) & ~zz & seen).sum(0) / (~zz & seen).sum(0)
    fn = ((s == 0) & zz & seen).sum(0) / (zz & seen).sum(0)
    start = prepare_judges_start(data)
    got = m_step_judges(data, q, start, start.params)
    np.testing.assert_allclose(got.false_yes.numpy(), fy, rtol=1e-12)
    np.testing.assert_allclose(got.false_no.numpy(), fn, rtol=1e-12)
    np.testing.assert_allclose(got.pi.numpy(), z.mean(0), rtol=1e-12)
    shared = prepare_judges_start(data, shared=True)
    got = m_step_judges(data, q, shared, shared.params)
    fy_s = ((s == 1) & ~zz & seen).sum((0, 1)) / (~zz & seen).sum((0, 1))
    np.testing.assert_allclose(got.false_yes.numpy(), np.broadcast_to(fy_s, (k, j)), rtol=1e-12)
    sym = prepare_judges_start(data, symmetric=True)
    got = m_step_judges(data, q, sym, sym.params)
    wrong = ((s == 1) & ~zz | (s == 0) & zz) & seen
    np.testing.assert_allclose(got.false_yes.numpy(), wrong.sum(0) / seen.sum(0), rtol=1e-12)
    torch.testing.assert_close(got.false_no, got.false_yes)


def test_a_judge_worse_than_a_coin_is_held_at_uninformative() -> None:
    """Counts with false yes + false no > 1 give the constrained optimum a = its rate of yes,
    b = 1 - a: the judge's answers then carry no evidence (log-likelihood ratio 0)."""
    z = torch.tensor([[1.0], [1.0], [0.0], [0.0]]).repeat(25, 1)  # [100, 1]
    s = (1 - z).clone()  # always wrong
    s[:10] = 1.0  # ... but ten items are right
    data = JudgesData.create(s[..., None], torch.randn(100))
    start = prepare_judges_start(data)
    got = m_step_judges(data, z.double(), start, start.params)
    yes = float(s.mean())
    assert float(got.false_yes) == pytest.approx(yes) and float(got.false_no) == pytest.approx(1 - yes)
    torch.testing.assert_close(prior_logits(data, got), torch.full((100, 1), math.log(float(got.pi) / (1 - float(got.pi))), dtype=torch.float64))


def test_decoupled_features_ignore_their_answers_and_fixed_values_are_held() -> None:
    data = _small(seed=5)
    dec = torch.tensor([False, False, True])
    res = fit_judges(data, engine="sem", decoupled=dec, false_yes=0.2, false_no=0.3, learn_rates=False)
    assert float(res.pi[2]) == 0.5
    torch.testing.assert_close(res.false_yes, torch.full((3, 3), 0.2, dtype=torch.float64))
    torch.testing.assert_close(res.false_no, torch.full((3, 3), 0.3, dtype=torch.float64))
    assert all(row["feature"] != "f2" for row in res.rates_table())
    a = fit_judges(data, engine="sem", decoupled=dec, seed=3)
    b = fit_judges(data, engine="sem", decoupled=dec, seed=3)
    torch.testing.assert_close(a.q, b.q, rtol=0, atol=0)  # reproducible under a seed


def test_mlp_link_runs_through_sem_and_em() -> None:
    """Any link: the rates match the judges' error rates counted against the true z (the
    sample's rates, which differ from the simulation's by up to 0.08 at N = 300) within 0.03
    (measured 0.017)."""
    sim = simulate_judges(300, 2, 2, false_yes=[0.05, 0.2], sigma=0.3, weight_scale=2.0, seed=6)
    s, z = sim.data.answers.double(), sim.z.double()[..., None]
    fy = (s * (1 - z)).sum(0) / (1 - z).sum(0)
    fn = ((1 - s) * z).sum(0) / z.sum(0)
    for engine in ("sem", "em"):
        res = fit_judges(sim.data, engine=engine, link="mlp", max_sweeps=20, seed=0)
        assert float(((res.q > 0.5).float() == sim.z).float().mean()) > 0.99
        assert float((res.false_yes - fy).abs().max()) < 0.03
        assert float((res.false_no - fn).abs().max()) < 0.03


def test_new_items_posterior_and_prediction_use_every_judge() -> None:
    sim = simulate_judges(600, 3, 3, false_yes=[0.05, 0.2, 0.3], sigma=0.4, seed=8)
    train, test = sim.data.subset(range(500)), sim.data.subset(range(500, 600))
    res = fit_judges(train, engine="cavi")
    q = judges_posterior(res, test)
    assert float(((q > 0.5).float() == sim.z[500:]).float().mean()) > 0.95
    pred = predict_judges(res, test.answers)
    torch.testing.assert_close(pred.z_prob.double(), torch.sigmoid(prior_logits(test, res.params)).to(pred.z_prob.dtype).double())
    one = predict_judges(res, test.answers[:1])
    torch.testing.assert_close(one.mean, pred.mean[:1])
    # against the best judge alone (today's model): the judges' prediction is closer to y
    alone = fit(train.judge(0), engine="cavi")
    p1 = predict(alone, test.answers[..., 0])
    err_all = float(((pred.mean - test.targets) ** 2).mean())
    err_one = float(((p1.mean - test.targets) ** 2).mean())
    assert err_all < err_one


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: JudgesData.create(np.zeros((4, 2)), np.zeros(4)), "^answers: expected shape"),
        (lambda: JudgesData.create([np.zeros((4, 2)), np.zeros((4, 3))], np.zeros(4)), "^answers: judge 1"),
        (lambda: JudgesData.create(np.full((4, 2, 2), 1.5), np.zeros(4)), "^answers: must lie in"),
        (lambda: JudgesData.create(np.zeros((4, 2, 2)), np.zeros(5)), "^judgments: has 4 rows"),
        (lambda: JudgesData.create(np.zeros((4, 2, 2)), np.zeros(4), judge_names=["a", "a"]), "^judge_names:"),
        (lambda: JudgesData.create(np.zeros((4, 2, 2)), np.zeros(4), missing=np.zeros((4, 2))), "^missing:"),
        (lambda: fit_judges(GenZData.create(np.zeros((4, 2)), np.zeros(4))), "^data: expected a JudgesData"),
        (lambda: fit_judges(_small(), engine="exact"), "^engine:"),
        (lambda: fit_judges(_small(), engine="cavi", link="mlp"), "^engine: 'cavi' needs"),
        (lambda: fit_judges(_small(), false_yes=1.2), "^false_yes:.*must lie in"),
        (lambda: fit_judges(_small(), symmetric=True, false_yes=0.7), "^false_yes:.*must lie in"),
        (lambda: fit_judges(_small(), false_yes=0.6, false_no=0.6), "^false_yes, false_no:"),
        (lambda: fit_judges(_small(), symmetric=True, false_yes=0.1, false_no=0.2), "^false_no:"),
        (lambda: fit_judges(_small(), shared=True, false_yes=torch.rand(3, 3) * 0.3 + 0.01), "^false_yes/false_no:"),
        (lambda: fit_judges(_small(), pi=1.0), "^pi:"),
        (lambda: fit_judges(_small(), decoupled=[True]), "^decoupled:"),
        (lambda: fit_judges(_small(), q_init=torch.zeros(3, 3)), "^q_init:"),
    ],
)
def test_bad_input_names_the_argument_and_the_fix(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_answers_as_a_dict_of_judges_and_one_judge_views() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.random((6, 2)) < 0.5).astype(float), (rng.random((6, 2)) < 0.5).astype(float)
    b[0, 1] = np.nan
    data = JudgesData.create({"claude": a, "smollm": b}, rng.normal(size=6), feature_names=["x", "y"])
    assert data.judge_names == ("claude", "smollm") and data.num_judges == 2
    assert bool(data.missing[0, 1, 1]) and int(data.missing.sum()) == 1
    one = data.judge("smollm")
    assert bool(one.missing[0, 1]) and torch.equal(one.judgments[:, 0], torch.as_tensor(b[:, 0], dtype=torch.float32))
    assert data.select_judges(["smollm"]).judge_names == ("smollm",)
    with pytest.raises(ValueError, match="^j: no judge"):
        data.judge("gpt")
