"""The enumeration oracle against an independent brute force (itertools + scipy)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from genz_pyro.data import GenZData
from genz_pyro.infer.enumerate import (
    all_configurations,
    exact_log_marginal,
    exact_posterior,
    mean_field_bound_exact,
    mean_field_optimum,
)
from genz_pyro.models import LinearLink, MLPLink


def _problem(n=7, k=3, d=2, c=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.bernoulli(torch.full((n, k), 0.5), generator=g)
    m = torch.zeros(n, k, dtype=torch.bool)
    m[2, 1] = True
    data = GenZData.create(s, torch.randn(n, d, generator=g), covariates=torch.randn(n, c, generator=g), missing=m)
    link = LinearLink(k, d, c)
    with torch.no_grad():
        link.weight.copy_(torch.randn(d, k + c, generator=g))
        link.bias.copy_(torch.randn(d, generator=g))
    return data, link


def _brute_force(data, link, eps, sigma2, decoupled):
    """Item by item, configuration by configuration, in numpy."""
    s, y, u = data.judgments.numpy(), data.targets.numpy(), data.covariates.numpy()
    m = data.missing.numpy()
    w, b = link.weight.detach().numpy(), link.bias.detach().numpy()
    e = np.where(decoupled, 0.5, eps)
    n, k = s.shape
    marg = np.zeros((n, k))
    log_ev = np.zeros(n)
    for i in range(n):
        logs, configs = [], []
        for z in itertools.product([0, 1], repeat=k):
            lp = 0.0
            for j in range(k):
                p1 = 0.5 if m[i, j] else (1 - e[j] if s[i, j] == 1 else e[j])
                lp += np.log(p1 if z[j] == 1 else 1 - p1)
            mean = w @ np.concatenate([np.array(z, float), u[i]]) + b
            lp += norm.logpdf(y[i], mean, np.sqrt(sigma2)).sum()
            logs.append(lp)
            configs.append(z)
        logs = np.array(logs)
        log_ev[i] = logsumexp(logs)
        marg[i] = np.exp(logs - log_ev[i]) @ np.array(configs, float)
    return marg, log_ev


def test_configurations_are_all_binary_vectors():
    c = all_configurations(3)
    assert c.shape == (8, 3)
    assert {tuple(int(v) for v in row) for row in c} == set(itertools.product([0, 1], repeat=3))
    assert torch.equal(c[5], torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="^num_features:"):
        all_configurations(17)


def test_exact_posterior_matches_brute_force():
    data, link = _problem()
    eps = np.array([0.05, 0.3, 0.2])
    sigma2 = np.array([0.4, 1.5])
    dec = np.array([False, False, True])
    post = exact_posterior(data, eps=torch.tensor(eps), link=link, sigma2=torch.tensor(sigma2),
                           decoupled=torch.tensor(dec))
    marg, log_ev = _brute_force(data, link, eps, sigma2, dec)
    np.testing.assert_allclose(post.marginals.numpy(), marg, atol=1e-5)
    np.testing.assert_allclose(post.log_evidence.numpy(), log_ev, rtol=1e-5)
    np.testing.assert_allclose(post.probs.sum(-1).numpy(), 1.0, atol=1e-12)
    total = exact_log_marginal(data, eps=torch.tensor(eps), link=link, sigma2=torch.tensor(sigma2),
                               decoupled=torch.tensor(dec))
    assert total == pytest.approx(log_ev.sum(), rel=1e-6)


def test_exact_posterior_chunks_items_and_takes_any_link():
    data, _ = _problem(n=9)
    mlp = MLPLink(3, 2, 1).eval()
    a = exact_posterior(data, eps=0.2, link=mlp, sigma2=1.0, chunk_size=2)
    b = exact_posterior(data, eps=0.2, link=mlp, sigma2=1.0)
    torch.testing.assert_close(a.log_joint, b.log_joint)


def test_no_features_gives_the_gaussian_likelihood():
    g = torch.Generator().manual_seed(1)
    data = GenZData.create(torch.zeros(5, 0), torch.randn(5, 2, generator=g))
    link = LinearLink(0, 2)
    with torch.no_grad():
        link.bias.copy_(torch.tensor([0.3, -1.0]))
    post = exact_posterior(data, eps=torch.zeros(0) + 0.1, link=link, sigma2=torch.tensor([1.0, 2.0]))
    hand = norm.logpdf(data.targets.numpy(), [0.3, -1.0], np.sqrt([1.0, 2.0])).sum(-1)
    np.testing.assert_allclose(post.log_evidence.numpy(), hand, rtol=1e-6)
    assert post.marginals.shape == (5, 0)


def test_mean_field_optimum_is_a_cavi_fixed_point_below_the_evidence():
    data, link = _problem(n=6)
    eps = torch.tensor([0.1, 0.25, 0.4])
    sigma2 = torch.tensor([0.3, 0.8])
    q, bound = mean_field_optimum(data, eps=eps, link=link, sigma2=sigma2)
    post = exact_posterior(data, eps=eps, link=link, sigma2=sigma2)
    # a lower bound on the evidence; the gap is KL(q || posterior) >= 0
    assert torch.all(bound <= post.log_evidence + 1e-9)
    # it is at least as good as the exact marginals used as a factorised q
    assert torch.all(bound >= mean_field_bound_exact(data, post.marginals, eps=eps, link=link, sigma2=sigma2) - 1e-9)
    # stationarity: the appendix-B coordinate update (written out here) leaves q unchanged
    s = data.judgments.double()
    prior = (2 * s - 1) * torch.log((1 - eps.double()) / eps.double())
    prior = prior.masked_fill(data.missing, 0.0)
    w = link.feature_weight.detach().double()
    x = torch.cat([q, data.covariates.double()], 1)
    full = x @ link.weight.detach().double().T + link.bias.detach().double()
    for k in range(3):
        rest = full - q[:, k : k + 1] * w[:, k]
        data_term = ((data.targets.double() - rest - 0.5 * w[:, k]) * w[:, k] / sigma2.double()).sum(-1)
        torch.testing.assert_close(torch.logit(q[:, k]), prior[:, k] + data_term, atol=1e-4, rtol=0)
