"""The several-judges Pyro model: its log joint against the enumeration oracle, plates and
subsampling, soft answers, and a researcher's SVI loop with the mean-field guide."""

from __future__ import annotations

import copy

import pyro
import pytest
import torch
from pyro import poutine

from genz_pyro.guides import MeanFieldGuide
from genz_pyro.infer.judge_rates import JudgeParams, prior_logits
from genz_pyro.infer.judges import fit_judges
from genz_pyro.infer.judges_engines import judges_bound
from genz_pyro.infer.judges_enumerate import judges_exact_posterior, judges_mean_field_optimum
from genz_pyro.infer.simulate import simulate_judges
from genz_pyro.judge_data import JudgesData
from genz_pyro.models import LinearLink
from genz_pyro.models.judges import JudgesModel


def _setup(soft: bool = False, seed: int = 0):
    """Seven items, three features, two judges (two answers missing), in the default dtype."""
    g = torch.Generator().manual_seed(seed)
    n, k, j, d = 7, 3, 2, 2
    ans = (torch.rand(n, k, j, generator=g) < 0.5).float()
    if soft:
        ans = (0.7 * ans + 0.3 * torch.rand(n, k, j, generator=g)).clamp(0, 1)
    ans[0, 1, 1] = float("nan")
    ans[3, 0, 0] = float("nan")
    data = JudgesData.create(ans, torch.randn(n, d, generator=g))
    link = LinearLink(k, d)
    with torch.no_grad():
        link.weight.copy_(torch.randn(d, k, generator=g))
        link.bias.copy_(torch.randn(d, generator=g))
    a = 0.01 + 0.4 * torch.rand(k, j, generator=g)
    b = 0.01 + 0.4 * torch.rand(k, j, generator=g)
    pi = torch.tensor([0.3, 0.5, 0.8])
    sigma2 = torch.tensor([0.5, 2.0])
    gm = JudgesModel(link, num_features=k, num_judges=j, target_dim=d, pi=pi, false_yes=a, false_no=b, sigma2=sigma2)
    return data, gm, JudgeParams(pi.double(), a.double(), b.double()), link, sigma2


def _item_log_joint(trace) -> torch.Tensor:
    """``[N]``: every site's log-probability summed per item."""
    trace.compute_log_prob()
    z = trace.nodes["z"]["log_prob"].sum(-1)
    s = trace.nodes["s"]["log_prob"].sum(0).sum(-1) if trace.nodes["s"]["type"] == "sample" else None
    y = trace.nodes["y"]["log_prob"].sum(-1)
    return z + s + y


@pytest.mark.parametrize("soft", [False, True])
def test_log_joint_of_every_configuration_is_the_enumeration_oracle(soft: bool) -> None:
    """Conditioned on each of the 2^K configurations of z, the trace's log-probability of each
    item equals the oracle's log p(z = c, s, y) (to 1e-12: both in float64), missing answers
    masked, soft answers as virtual evidence."""
    torch.set_default_dtype(torch.float64)
    try:
        data, gm, params, link, sigma2 = _setup(soft=soft)
    finally:
        torch.set_default_dtype(torch.float32)
    assert data.is_soft == soft and data.answers.dtype == torch.float64
    post = judges_exact_posterior(data, params, link=link, sigma2=sigma2)
    for m, c in enumerate(post.configurations):
        tr = poutine.trace(poutine.condition(gm.model, data={"z": c.expand(data.num_items, 3)})).get_trace(data)
        torch.testing.assert_close(_item_log_joint(tr).detach(), post.log_joint[:, m], rtol=0, atol=1e-12)


def test_sites_plates_and_subsampling_scale() -> None:
    data, gm, *_ = _setup()
    tr = poutine.trace(gm.model).get_trace(data, subsample_size=4)
    z, s, y = tr.nodes["z"], tr.nodes["s"], tr.nodes["y"]
    assert z["value"].shape == (4, 3) and s["value"].shape == (2, 4, 3)
    assert sorted((f.name, f.dim, f.size) for f in s["cond_indep_stack"]) == [
        ("features", -1, 3), ("items", -2, 4), ("judges", -3, 2)
    ]
    assert z["scale"] == s["scale"] == y["scale"] == pytest.approx(7 / 4)
    idx = tr.nodes["items"]["value"]
    torch.testing.assert_close(s["value"], data.answers[idx].permute(2, 0, 1))
    assert set(pyro.get_param_store().keys()) >= {"pi", "false_yes", "false_no", "sigma2"}


def test_switches_change_the_parameters() -> None:
    data, _, _, link, _ = _setup()
    gm = JudgesModel(link, num_features=3, num_judges=2, target_dim=2, shared=True, symmetric=True, learn_pi=False)
    gm.model(data)
    keys = set(pyro.get_param_store().keys())
    assert "flip" in keys and "false_yes" not in keys and "pi" not in keys
    assert tuple(pyro.param("flip").shape) == (2,)
    a, b = gm.rates()
    assert a.shape == (3, 2) and torch.equal(a, b)
    dec = JudgesModel(link, num_features=3, num_judges=2, target_dim=2, decoupled=torch.tensor([True, False, False]))
    assert float(dec.pi().detach()[0]) == 0.5


def test_researcher_svi_loop_reaches_the_mean_field_optimum() -> None:
    """pyro.infer.SVI with the model's parameters blocked learns q with the one-judge
    mean-field guide; it lands on the brute-force mean-field optimum of the judges model
    (mean |q - q*| < 0.03, max < 0.1: tolerances for 80 noisy steps)."""
    sim = simulate_judges(12, 3, 3, false_yes=[0.1, 0.2, 0.3], sigma=0.7, seed=1)
    data = sim.data
    link = LinearLink(3, 3)
    with torch.no_grad():
        link.weight.copy_(sim.weight)
        link.bias.copy_(sim.bias)
    params = JudgeParams(sim.pi, sim.false_yes, sim.false_no)
    gm = JudgesModel(link, num_features=3, num_judges=3, target_dim=3, pi=sim.pi, false_yes=sim.false_yes,
                     false_no=sim.false_no, learn_pi=False, learn_rates=False, sigma2=0.49)
    guide = MeanFieldGuide(12, 3, init_logits=prior_logits(data, params).float())
    fixed = poutine.block(gm.model, hide=["sigma2", "link$$$weight", "link$$$bias"])
    svi = pyro.infer.SVI(
        fixed,
        guide,
        pyro.optim.ClippedAdam({"lr": 0.3, "lrd": 0.01 ** (1 / 80)}),
        pyro.infer.TraceGraph_ELBO(num_particles=128, vectorize_particles=True),
    )
    for _ in range(80):
        svi.step(data)
    link64, s2 = copy.deepcopy(link).double(), torch.full((3,), 0.49, dtype=torch.float64)
    q_star, _ = judges_mean_field_optimum(data, params, link=link64, sigma2=s2)
    err = (guide.probs.double() - q_star).abs()
    assert float(err.mean()) < 0.03 and float(err.max()) < 0.1, err  # measured 0.005 and 0.03
    # Pyro's ELBO of this model and guide is the engines' analytic bound (Monte Carlo: 20 000
    # particles, sd of the estimate about 0.01 nats here)
    at = MeanFieldGuide(12, 3, init_logits=torch.logit(q_star.clamp(1e-6, 1 - 1e-6)).float(), learn=False)
    elbo = -pyro.infer.Trace_ELBO(num_particles=20000, vectorize_particles=True).loss(fixed, at, data)
    exact = judges_bound(data, q_star, params, link64, s2)
    assert elbo == pytest.approx(float(exact.sum()), abs=0.1)


def test_researcher_svi_loop_learns_the_rates() -> None:
    """Everything learnt by SVI (TraceGraph_ELBO, minibatches of 100 out of 400, one judge
    per rate pair shared by the features): the rates land within 0.05 of the closed-form
    engine's on the same data (measured 0.009 after 250 steps)."""
    sim = simulate_judges(400, 2, 3, false_yes=[0.05, 0.3], sigma=0.4, seed=2)
    data = sim.data
    gm = JudgesModel(LinearLink(2, 3), num_features=2, num_judges=2, target_dim=3, shared=True)
    ref = fit_judges(data, engine="cavi", shared=True)
    guide = MeanFieldGuide(400, 2, init_logits=prior_logits(data, ref.params).float())
    svi = pyro.infer.SVI(gm.model, guide, pyro.optim.Adam({"lr": 0.05}),
                         pyro.infer.TraceGraph_ELBO(num_particles=8, vectorize_particles=True))
    for _ in range(250):
        svi.step(data, subsample_size=100)
    a, b = gm.rates()
    assert float((a.detach().double() - ref.false_yes).abs().max()) < 0.05
    assert float((b.detach().double() - ref.false_no).abs().max()) < 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_features": 0}, "^num_features/num_judges/target_dim:"),
        ({"false_yes": 1.5}, "^false_yes:"),
        ({"symmetric": True, "false_yes": 0.7}, "^false_yes:"),
        ({"pi": 1.0}, "^pi:"),
        ({"decoupled": torch.tensor([True])}, "^decoupled:"),
        ({"sigma2": -1.0}, "^sigma2:"),
    ],
)
def test_bad_model_options_name_the_argument(kwargs: dict, match: str) -> None:
    args = {"num_features": 3, "num_judges": 2, "target_dim": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        JudgesModel(LinearLink(max(args["num_features"], 1), 2), **args)


def test_data_that_do_not_fit_the_model_are_refused() -> None:
    data, gm, *_ = _setup()
    with pytest.raises(ValueError, match="^data: has K = 3 features and J = 1 judges"):
        gm.model(data.select_judges([0]))
    with pytest.raises(ValueError, match="^data: expected a JudgesData"):
        gm.model(data.targets_only())
