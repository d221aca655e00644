"""The mean-field evidence lower bound of the GenZ model, per item.

With ``q(z_n) = prod_k q_nk^z (1 - q_nk)^(1 - z)`` the bound of item ``n`` is::

    B_n = E_q[log p(y_n | z_n, u_n)] + sum_k E_q[log p(z_nk | s_nk, eps_k)] + H(q_n)

- prior term: ``a_nk log(1 - eps_k) + (1 - a_nk) log eps_k`` with the expected agreement
  ``a_nk = q_nk s_nk + (1 - q_nk)(1 - s_nk)``; a missing judgment is an uninformative prior
  (``log 0.5``), and so is a decoupled feature (``eps_k = 0.5``);
- likelihood term, **linear link** (exact, paper appendix B): with ``m_n = E_q[z_n]`` and
  ``Var_q(z_nk) = q_nk (1 - q_nk)``::

      -1/2 sum_d [ log(2 pi sigma2_d)
                   + ((y_nd - f_d(q_n, u_n))^2 + sum_k W_dk^2 q_nk (1 - q_nk)) / sigma2_d ]

- likelihood term, **any other link**: a Monte Carlo average over ``num_samples`` draws
  ``z ~ q`` with *common random numbers* (the uniforms come from a generator seeded with
  ``seed``, so the same ``q`` gives the same value and the estimate is smooth in ``q``). It is
  an unbiased estimate of the true bound. (Evaluating the network at ``q`` instead is not a
  bound and rewards overfitting; see genz-math.md, "Pitfalls".) The link is evaluated in
  ``eval()`` mode (no dropout).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.models.links import LinearLink

__all__ = [
    "bernoulli_entropy",
    "bernoulli_entropy_from_logit",
    "expected_agreement",
    "expected_log_prior",
    "expected_log_lik",
    "mean_field_bound",
    "link_dtype",
]

_LOG_2PI = math.log(2.0 * math.pi)


def bernoulli_entropy(q: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``Bernoulli(q)``, elementwise; ``0 log 0 = 0``. Same shape as ``q``."""
    return -(torch.xlogy(q, q) + torch.xlogy(1.0 - q, 1.0 - q))


def bernoulli_entropy_from_logit(h: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``Bernoulli(sigmoid(h))``, elementwise, from the logit ``h``.

    ``H = softplus(-|h|) + |h| sigmoid(-|h|)``: exact for every ``h`` (``F.softplus(h) - p h``
    is not, since ``F.softplus`` returns ``h`` itself above its threshold of 20 and so drops
    ``log1p(exp(-h))``, about 2e-9 nats an element at ``h = 20``).
    """
    a = h.abs()
    return torch.log1p(torch.exp(-a)) + a * torch.sigmoid(-a)


def expected_agreement(q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``a = q s + (1 - q)(1 - s)``: probability under ``q`` that ``z`` equals the judgment ``s``.

    Args:
        q: ``[N, K]`` posterior probabilities.
        s: ``[N, K]`` judgments in {0, 1}.

    Returns:
        ``[N, K]``.
    """
    return q * s + (1.0 - q) * (1.0 - s)


def expected_log_prior(
    q: torch.Tensor, s: torch.Tensor, eps: torch.Tensor, missing: torch.Tensor | None = None
) -> torch.Tensor:
    """``E_q[log p(z_nk | s_nk, eps_k)]``, elementwise ``[N, K]`` (``log 0.5`` where missing).

    For hard judgments ``a log(1 - eps) + (1 - a) log eps`` with the expected agreement ``a``;
    for soft ones (``s`` in ``(0, 1)``) ``q log p1 + (1 - q) log(1 - p1)`` with
    ``p1 = s (1 - eps) + (1 - s) eps`` (the same value where ``s`` is 0 or 1)."""
    if bool(((s > 0) & (s < 1)).any()):
        p1 = s * (1.0 - eps) + (1.0 - s) * eps
        out = q * torch.log(p1) + (1.0 - q) * torch.log1p(-p1)
        if missing is not None:
            out = out.masked_fill(missing, math.log(0.5))
        return out
    a = expected_agreement(q, s)
    out = a * torch.log1p(-eps) + (1.0 - a) * torch.log(eps)
    if missing is not None:
        out = out.masked_fill(missing, math.log(0.5))
    return out


def link_dtype(link: nn.Module) -> torch.dtype:
    """Floating dtype of the link's parameters (the default dtype for a parameter-free link)."""
    for p in link.parameters():
        if torch.is_floating_point(p):
            return p.dtype
    return torch.get_default_dtype()


def _linear_parts(link: LinearLink, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(Wz [D, K], Wu [D, C], b [D])`` of a linear link, detached, in ``dtype``."""
    w = link.weight.detach().to(dtype)
    k = link.num_features
    return w[:, :k], w[:, k:], link.bias.detach().to(dtype)


def expected_log_lik(
    data: GenZData,
    q: torch.Tensor,
    link: nn.Module,
    sigma2: torch.Tensor,
    *,
    num_samples: int = 32,
    seed: int = 0,
) -> torch.Tensor:
    """``E_q[log p(y_n | z_n, u_n)]`` per item, ``[N]`` (float64).

    Exact for :class:`LinearLink`; common-random-number Monte Carlo for any other link.
    """
    y = data.targets.double()
    q = q.double()
    s2 = sigma2.detach().double()
    n, d = y.shape
    const = -0.5 * (d * _LOG_2PI + torch.log(s2).sum())
    u = None if data.covariates is None else data.covariates.double()
    if isinstance(link, LinearLink):
        wz, wu, b = _linear_parts(link, torch.float64)
        mean = q @ wz.T + b
        if u is not None and u.shape[1]:
            mean = mean + u @ wu.T
        sq = ((y - mean) ** 2 / s2).sum(-1)
        var = (q * (1.0 - q)) @ (wz**2 / s2[:, None]).sum(0)
        return const - 0.5 * (sq + var)
    if num_samples < 1:
        raise ValueError(f"num_samples: must be >= 1, got {num_samples}")
    gen = torch.Generator().manual_seed(int(seed))
    uni = torch.rand((num_samples, *q.shape), generator=gen, dtype=torch.float64)
    ldt = link_dtype(link)
    z = (uni < q).to(ldt)
    was_training = link.training
    link.eval()
    try:
        with torch.no_grad():
            cov = None if data.covariates is None else data.covariates.to(ldt)
            f = link(z, cov).double()  # [S, N, D]
    finally:
        link.train(was_training)
    sq = ((y - f) ** 2 / s2).sum(-1)  # [S, N]
    return const - 0.5 * sq.mean(0)


def mean_field_bound(
    data: GenZData,
    q: torch.Tensor,
    eps: torch.Tensor,
    link: nn.Module,
    sigma2: torch.Tensor,
    *,
    num_samples: int = 32,
    seed: int = 0,
) -> torch.Tensor:
    """Per-item mean-field bound ``B_n`` (nats), ``[N]`` float64.

    Args:
        data: the observed data (judgments ``[N, K]``, targets ``[N, D]``, covariates).
        q: ``[N, K]`` posterior probabilities ``q(z_nk = 1)``.
        eps: ``[K]`` flip probabilities in ``(0, 0.5]`` (0.5 for decoupled features).
        link: the link module ``f(z, u)``.
        sigma2: ``[D]`` noise variances.
        num_samples: Monte Carlo draws for a non-linear link (ignored for the linear link).
        seed: seed of the common random numbers for a non-linear link.

    Returns:
        ``[N]`` tensor; ``.sum()`` is the total bound reported in ``FitResult.bound_history``.
    """
    n, k = data.judgments.shape
    if tuple(q.shape) != (n, k):
        raise ValueError(f"q: expected shape {(n, k)}, got {tuple(q.shape)}")
    if tuple(eps.shape) != (k,):
        raise ValueError(f"eps: expected shape ({k},), got {tuple(eps.shape)}")
    if tuple(sigma2.shape) != (data.target_dim,):
        raise ValueError(f"sigma2: expected shape ({data.target_dim},), got {tuple(sigma2.shape)}")
    q64 = q.detach().double()
    ll = expected_log_lik(data, q64, link, sigma2, num_samples=num_samples, seed=seed)
    if k == 0:
        return ll
    s = data.judgments.double()
    prior = expected_log_prior(q64, s, eps.detach().double(), data.missing).sum(-1)
    return ll + prior + bernoulli_entropy(q64).sum(-1)
