"""The GenZ Pyro model: sites, plates, log-probabilities against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from scipy.stats import norm

from genz_pyro.data import GenZData
from genz_pyro.guides import MeanFieldGuide
from genz_pyro.models import GenZModel, LinearLink, MLPLink


def _toy(n=6, k=3, d=2, c=1, missing=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.bernoulli(torch.full((n, k), 0.5), generator=g)
    y = torch.randn(n, d, generator=g)
    u = torch.randn(n, c, generator=g) if c else None
    m = None
    if missing:
        m = torch.zeros(n, k, dtype=torch.bool)
        m[1, 0] = m[4, 2] = True
    data = GenZData.create(s, y, covariates=u, missing=m)
    link = LinearLink(k, d, c)
    with torch.no_grad():
        link.weight.copy_(torch.randn(d, k + c, generator=g))
        link.bias.copy_(torch.randn(d, generator=g))
    return data, link


def _hand_log_prob(data, link, z, eps, sigma2, rows):
    """sum over rows of log p(z | s, eps) + log p(y | z): numpy and scipy only."""
    s = data.judgments.numpy()[rows]
    m = np.zeros_like(s, dtype=bool) if data.missing is None else data.missing.numpy()[rows]
    p = np.where(s == 1, 1 - eps, eps)
    p = np.where(m, 0.5, p)
    zz = z.numpy()
    lp_z = np.sum(zz * np.log(p) + (1 - zz) * np.log(1 - p))
    w = link.weight.detach().numpy()
    b = link.bias.detach().numpy()
    x = zz if data.covariates is None else np.concatenate([zz, data.covariates.numpy()[rows]], axis=1)
    mean = x @ w.T + b
    lp_y = norm.logpdf(data.targets.numpy()[rows], mean, np.sqrt(sigma2)).sum()
    return lp_z + lp_y


def test_trace_sites_plates_and_shapes():
    data, link = _toy()
    gm = GenZModel(link, num_features=3, target_dim=2)
    tr = poutine.trace(gm.model).get_trace(data)
    z, y = tr.nodes["z"], tr.nodes["y"]
    assert z["value"].shape == (6, 3) and not z["is_observed"]
    assert [(f.name, f.dim) for f in z["cond_indep_stack"]] == [("items", -2), ("features", -1)]
    assert [(f.name, f.dim) for f in y["cond_indep_stack"]] == [("items", -2)]
    assert y["is_observed"] and y["fn"].batch_shape == (6, 1) and y["fn"].event_shape == (2,)
    # the prior of z: the flip model, 0.5 where the judgment is missing
    eps = 0.1
    expected = torch.where(data.judgments == 1, 1 - eps, eps)
    expected[1, 0] = expected[4, 2] = 0.5
    assert torch.allclose(z["fn"].probs, expected)
    assert set(pyro.get_param_store().keys()) == {"eps", "sigma2", "link$$$weight", "link$$$bias"}


def test_log_prob_matches_hand_computation():
    data, link = _toy()
    eps = np.array([0.05, 0.2, 0.4])
    sigma2 = np.array([0.5, 2.0])
    gm = GenZModel(link, num_features=3, target_dim=2, eps=torch.tensor(eps), sigma2=torch.tensor(sigma2))
    z = torch.bernoulli(torch.full((6, 3), 0.5))
    tr = poutine.trace(poutine.condition(gm.model, data={"z": z})).get_trace(data)
    assert float(tr.log_prob_sum().detach()) == pytest.approx(_hand_log_prob(data, link, z, eps, sigma2, slice(None)), rel=1e-5)


def test_subsampling_scales_by_n_over_b():
    data, link = _toy(n=8)
    eps, sigma2 = np.full(3, 0.1), np.ones(2)
    gm = GenZModel(link, num_features=3, target_dim=2)
    idx = torch.tensor([6, 1, 3])
    z = torch.bernoulli(torch.full((3, 3), 0.5))
    tr = poutine.trace(poutine.condition(gm.model, data={"z": z})).get_trace(data, subsample=idx)
    assert tr.nodes["z"]["scale"] == pytest.approx(8 / 3)
    hand = _hand_log_prob(data, link, z, eps, sigma2, idx.numpy()) * 8 / 3
    assert float(tr.log_prob_sum().detach()) == pytest.approx(hand, rel=1e-5)


def test_decoupled_feature_has_prior_one_half_and_fixed_eps_is_not_a_param():
    data, link = _toy(missing=False)
    gm = GenZModel(link, num_features=3, target_dim=2, eps=0.2, decoupled=torch.tensor([False, True, False]),
                   learn_eps=False)
    tr = poutine.trace(gm.model).get_trace(data)
    probs = tr.nodes["z"]["fn"].probs
    assert torch.all(probs[:, 1] == 0.5)
    assert torch.allclose(probs[:, 0], torch.where(data.judgments[:, 0] == 1, 0.8, 0.2))
    assert "eps" not in pyro.get_param_store().keys()
    assert torch.equal(gm.eps(), torch.tensor([0.2, 0.5, 0.2]))


def test_predictive_samples_targets_from_the_model():
    data, link = _toy(n=4, missing=False)
    gm = GenZModel(link, num_features=3, target_dim=2, sigma2=torch.tensor([0.25, 4.0]))
    new = GenZData(judgments=data.judgments, targets=None, covariates=data.covariates)  # new items, no targets
    pred = pyro.infer.Predictive(gm.model, num_samples=4000, return_sites=["z", "y", "_RETURN"], parallel=True)(
        new, observe=False
    )
    assert pred["z"].shape == (4000, 4, 3) and pred["y"].shape == (4000, 4, 1, 2)
    resid = pred["y"].squeeze(-2) - pred["_RETURN"]
    # the noise has the model's standard deviations (0.5, 2); 4000 draws x 4 items: SE about 0.6%
    assert torch.allclose(resid.std(dim=(0, 1)), torch.tensor([0.5, 2.0]), rtol=0.03)
    # z follows the flip prior with eps = 0.1
    assert torch.allclose(pred["z"].mean(0), torch.where(data.judgments == 1, 0.9, 0.1), atol=0.03)


def test_no_features_is_a_regression_on_covariates():
    data, _ = _toy(k=0, missing=False)
    link = LinearLink(0, 2, 1)
    gm = GenZModel(link, num_features=0, target_dim=2)
    tr = poutine.trace(gm.model).get_trace(data)
    assert "z" not in tr.nodes
    mean = data.covariates @ link.weight.detach().T + link.bias.detach()
    hand = norm.logpdf(data.targets.numpy(), mean.numpy(), 1.0).sum()
    assert float(tr.log_prob_sum().detach()) == pytest.approx(hand, rel=1e-5)


def test_expected_model_is_the_mean_field_bound_of_the_model():
    """The analytic objective of the SVI engine equals the Monte Carlo ELBO of model + guide."""
    data, link = _toy(n=10, missing=True)
    gm = GenZModel(link, num_features=3, target_dim=2, eps=torch.tensor([0.1, 0.3, 0.2]))
    q = torch.rand(10, 3, generator=torch.Generator().manual_seed(3))
    exact = -pyro.infer.Trace_ELBO().loss(gm.expected_model, lambda *a, **k: None, data, q)
    guide = MeanFieldGuide(10, 3, init_logits=torch.logit(q), learn=False)
    mc = pyro.infer.TraceMeanField_ELBO(num_particles=20000, vectorize_particles=True, max_plate_nesting=2)
    with pyro.validation_enabled(False):  # the guide's Bernoulli sites are not reparameterised
        estimate = -mc.loss(gm.model, guide, data)
    # per-particle sd is about 20 nats here; 20000 particles -> SE about 0.15
    assert estimate == pytest.approx(exact, abs=0.6)


def test_expected_model_for_an_mlp_is_a_monte_carlo_average():
    data, _ = _toy(n=10, missing=False)
    mlp = MLPLink(3, 2, 1, dropout=0.0)
    gm = GenZModel(mlp, num_features=3, target_dim=2)
    q = torch.full((10, 3), 0.5)
    a = -pyro.infer.Trace_ELBO().loss(gm.expected_model, lambda *a, **k: None, data, q, num_samples=20000)
    # exact: average over the 8 equally likely configurations
    z = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=torch.float32)
    with torch.no_grad():
        mean = mlp(z.unsqueeze(1).expand(8, 10, 3), data.covariates)  # [8, 10, 2]
    ell = torch.distributions.Normal(mean, 1.0).log_prob(data.targets).sum(-1).mean(0).sum()
    kl = (3 * 10) * (0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1))
    assert a == pytest.approx(float(ell) - kl, abs=0.3)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(eps=0.6), "eps"),
        (dict(eps=0.0), "eps"),
        (dict(eps=torch.tensor([0.1, 0.2])), "eps"),
        (dict(decoupled=torch.tensor([True, False])), "decoupled"),
        (dict(sigma2=-1.0), "sigma2"),
    ],
)
def test_bad_model_options_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        GenZModel(LinearLink(3, 2), num_features=3, target_dim=2, **kwargs)


def test_data_that_do_not_fit_the_model_are_refused():
    data, link = _toy()
    gm = GenZModel(LinearLink(4, 2, 1), num_features=4, target_dim=2)
    with pytest.raises(ValueError, match=r"^data: .*num_features=3"):
        gm.model(data)
