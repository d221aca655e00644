"""Exact inference by enumerating all ``2^K`` feature configurations (small K).

For each item the posterior over ``z_n`` is a distribution over ``2^K`` binary
vectors, ``p(z_n | y_n, s_n) ∝ p(z_n | s_n, eps) p(y_n | z_n, u_n)``. Enumerating them
gives the exact posterior, its marginals ``[N, K]`` and the exact log marginal
likelihood ``log p(y | s)``: a test oracle for every engine and a public utility for
small models. Cost: ``O(N 2^K D)`` link evaluations (chunked over items); fine up to
``K ≈ 12``.

:func:`mean_field_optimum` finds the best factorised ``q`` for fixed parameters by
brute force (the mean-field bound computed exactly over all configurations,
maximised by exact coordinate ascent from several starts): the reference the
engines' ``q`` must reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.models.genz import EPS_MAX, check_eps

__all__ = [
    "ExactPosterior",
    "all_configurations",
    "config_log_lik",
    "exact_posterior",
    "exact_log_marginal",
    "mean_field_bound_exact",
    "mean_field_optimum",
    "mean_field_optimum_of",
    "MAX_ENUMERATED_FEATURES",
]

MAX_ENUMERATED_FEATURES = 16
"""Refuse to enumerate more than this many features (2^16 configurations per item)."""


@dataclass(frozen=True)
class ExactPosterior:
    """The exact posterior of every item.

    Attributes:
        configurations: ``[M, K]`` with ``M = 2^K``: every binary vector (row ``m`` is
            the binary expansion of ``m``, feature 0 the most significant bit).
        log_joint: ``[N, M]`` ``log p(z = c_m, y_n | s_n)``.
        probs: ``[N, M]`` ``p(z_n = c_m | y_n, s_n)``.
        marginals: ``[N, K]`` ``p(z_nk = 1 | y_n, s_n)``.
        log_evidence: ``[N]`` ``log p(y_n | s_n, u_n)``.
    """

    configurations: torch.Tensor
    log_joint: torch.Tensor
    probs: torch.Tensor
    marginals: torch.Tensor
    log_evidence: torch.Tensor

    @property
    def log_marginal(self) -> float:
        """``sum_n log p(y_n | s_n)``: the exact log marginal likelihood of the data."""
        return float(self.log_evidence.sum())


def all_configurations(num_features: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[2^K, K]`` every binary vector; row ``m`` is ``m`` in binary (feature 0 first)."""
    if num_features > MAX_ENUMERATED_FEATURES:
        raise ValueError(
            f"num_features: refusing to enumerate 2^{num_features} configurations; "
            f"exact enumeration is for K <= {MAX_ENUMERATED_FEATURES}"
        )
    m = torch.arange(2**num_features)
    shifts = torch.arange(num_features - 1, -1, -1)
    return ((m.unsqueeze(-1) >> shifts) & 1).to(dtype)


def _prepare(
    data: GenZData, eps: torch.Tensor | float, sigma2: torch.Tensor, decoupled: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    k = data.num_features
    e = check_eps(eps, k).double()
    if decoupled is not None:
        e = torch.where(torch.as_tensor(decoupled, dtype=torch.bool), torch.full_like(e, EPS_MAX), e)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64).detach()
    if s2.dim() == 0:
        s2 = s2.expand(data.target_dim)
    if s2.shape != (data.target_dim,) or not bool((s2 > 0).all()):
        raise ValueError(f"sigma2: expected {data.target_dim} positive variances, got {s2}")
    return e, s2


def _log_joint(
    data: GenZData, eps: torch.Tensor, link: nn.Module, sigma2: torch.Tensor, configs: torch.Tensor, chunk: int
) -> torch.Tensor:
    """``[N, M]`` ``log p(z = c_m | s_n) + log p(y_n | c_m, u_n)`` in float64."""
    s = data.judgments.double()
    p1 = s * (1 - eps) + (1 - s) * eps  # [N, K]
    if data.missing is not None:
        p1 = p1.masked_fill(data.missing, 0.5)
    log_prior = configs @ torch.log(p1).T + (1 - configs) @ torch.log1p(-p1).T  # [M, N]
    return log_prior.T + config_log_lik(data.targets, data.covariates, link, sigma2, configs, chunk)


def config_log_lik(
    targets: torch.Tensor,
    covariates: torch.Tensor | None,
    link: nn.Module,
    sigma2: torch.Tensor,
    configs: torch.Tensor,
    chunk: int,
) -> torch.Tensor:
    """``[N, M]`` ``log N(y_n | f(c_m, u_n), diag(sigma2))`` for every item and configuration
    (float64; ``targets [N, D]``, ``covariates [N, C]`` or None, ``configs [M, K]``)."""
    dtype = next((p.dtype for p in link.parameters()), torch.get_default_dtype())
    y = targets.double()
    n = y.shape[0]
    out = torch.empty(n, configs.shape[0], dtype=torch.float64)
    norm = -0.5 * torch.log(2 * torch.pi * sigma2).sum()
    with torch.no_grad():
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            b = sl.stop - sl.start
            u = None if covariates is None else covariates[sl].to(dtype)
            z = configs.to(dtype).unsqueeze(1).expand(configs.shape[0], b, configs.shape[1])  # [M, B, K]
            mean = link(z, u).double()  # [M, B, D]
            out[sl] = (norm - 0.5 * (((y[sl] - mean) ** 2) / sigma2).sum(-1)).T  # [B, M]
    return out


def exact_posterior(
    data: GenZData,
    *,
    eps: torch.Tensor | float,
    link: nn.Module,
    sigma2: torch.Tensor | float,
    decoupled: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> ExactPosterior:
    """The exact posterior ``p(z_n | y_n, s_n)`` of every item by enumeration.

    Args:
        data: judgments ``[N, K]`` (K small), targets ``[N, D]``, covariates.
        eps: ``[K]`` flip probabilities in ``(0, 0.5]``.
        link: ``f(z [M, B, K], u [B, C]) -> [M, B, D]`` (put dropout layers in eval mode).
        sigma2: ``[D]`` noise variances (or a scalar).
        decoupled: ``[K]`` bool; these features use eps = 0.5.
        chunk_size: items per batch (default keeps each batch near 2^22 numbers).

    Returns:
        :class:`ExactPosterior` (float64 tensors).
    """
    configs = all_configurations(data.num_features)
    e, s2 = _prepare(data, eps, sigma2, decoupled)
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // (configs.shape[0] * max(1, data.target_dim)))
    lj = _log_joint(data, e, link, s2, configs, chunk_size)
    log_ev = torch.logsumexp(lj, dim=-1)
    probs = torch.exp(lj - log_ev.unsqueeze(-1))
    return ExactPosterior(configs, lj, probs, probs @ configs, log_ev)


def exact_log_marginal(
    data: GenZData,
    *,
    eps: torch.Tensor | float,
    link: nn.Module,
    sigma2: torch.Tensor | float,
    decoupled: torch.Tensor | None = None,
) -> float:
    """``log p(y | s, u)`` summed over items (nats), by enumeration."""
    return exact_posterior(data, eps=eps, link=link, sigma2=sigma2, decoupled=decoupled).log_marginal


def _mf_bound(q: torch.Tensor, configs: torch.Tensor, log_joint: torch.Tensor) -> torch.Tensor:
    """``[N]`` ``sum_m q(c_m) log p(c_m, y_n) + H(q_n)`` for ``q [N, K]``."""
    qc = q.clamp(1e-12, 1 - 1e-12)
    log_qc = configs @ torch.log(qc).T + (1 - configs) @ torch.log1p(-qc).T  # [M, N]
    w = torch.exp(log_qc).T  # [N, M]
    return (w * (log_joint - log_qc.T)).sum(-1)


def mean_field_bound_exact(
    data: GenZData,
    q: torch.Tensor,
    *,
    eps: torch.Tensor | float,
    link: nn.Module,
    sigma2: torch.Tensor | float,
    decoupled: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[N]`` the mean-field bound ``E_q[log p(y_n, z_n | s_n)] + H(q_n)``, computed by
    summing over all ``2^K`` configurations (exact for any link)."""
    post = exact_posterior(data, eps=eps, link=link, sigma2=sigma2, decoupled=decoupled)
    qq = torch.as_tensor(q, dtype=torch.float64)
    if qq.shape != data.judgments.shape:
        raise ValueError(f"q: expected shape {tuple(data.judgments.shape)}, got {tuple(qq.shape)}")
    return _mf_bound(qq, post.configurations, post.log_joint)


def mean_field_optimum(
    data: GenZData,
    *,
    eps: torch.Tensor | float,
    link: nn.Module,
    sigma2: torch.Tensor | float,
    decoupled: torch.Tensor | None = None,
    starts: torch.Tensor | None = None,
    num_random_starts: int = 4,
    max_sweeps: int = 5000,
    tol: float = 1e-10,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The best mean-field ``q`` for fixed parameters, by brute force (any link).

    Coordinate ascent in which every update is computed over all ``2^K``
    configurations: ``logit q_nk = E_{q_-k}[log p(y_n, z_k = 1, z_-k)] -
    E_{q_-k}[log p(y_n, z_k = 0, z_-k)]`` (no link-specific formula), run to a fixed point
    from several starts (the exact marginals, the prior, ``starts``, random); the bound
    is separable over items, so each item keeps its best start.

    Returns:
        ``(q [N, K], bound [N])`` in float64.
    """
    post = exact_posterior(data, eps=eps, link=link, sigma2=sigma2, decoupled=decoupled)
    n, k = data.judgments.shape
    if k == 0:
        return torch.zeros(n, 0, dtype=torch.float64), post.log_evidence
    e, _ = _prepare(data, eps, sigma2, decoupled)
    inits = [post.marginals, torch.sigmoid(data.prior_logits(e).double())]
    if starts is not None:
        inits.append(torch.as_tensor(starts, dtype=torch.float64))
    return mean_field_optimum_of(
        post, inits, num_random_starts=num_random_starts, max_sweeps=max_sweeps, tol=tol, seed=seed
    )


def mean_field_optimum_of(
    post: ExactPosterior,
    inits: list[torch.Tensor],
    *,
    num_random_starts: int = 4,
    max_sweeps: int = 5000,
    tol: float = 1e-10,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The best mean-field ``q`` of any enumerated joint ``post`` (see :func:`mean_field_optimum`).

    Args:
        post: the enumerated joint (``configurations [M, K]``, ``log_joint [N, M]``).
        inits: ``[N, K]`` starting points; ``num_random_starts`` uniform ones are added.

    Returns:
        ``(q [N, K], bound [N])`` in float64.
    """
    configs, lj = post.configurations, post.log_joint  # [M, K], [N, M]
    n, k = lj.shape[0], configs.shape[1]
    if k == 0:
        return torch.zeros(n, 0, dtype=torch.float64), post.log_evidence
    inits = list(inits)
    gen = torch.Generator().manual_seed(seed)
    inits += [torch.rand(n, k, generator=gen, dtype=torch.float64) for _ in range(num_random_starts)]
    sign = 2 * configs - 1  # [M, K]

    best_q = torch.full((n, k), 0.5, dtype=torch.float64)
    best_b = torch.full((n,), -float("inf"), dtype=torch.float64)
    for init in inits:
        q = init.clamp(1e-9, 1 - 1e-9).clone()
        for _ in range(max_sweeps):
            old = q.clone()
            for j in range(k):
                lq, l1q = torch.log(q), torch.log1p(-q)
                lq[:, j] = 0.0
                l1q[:, j] = 0.0
                w = torch.exp(configs @ lq.T + (1 - configs) @ l1q.T).T  # [N, M]: q of the others
                logit = (w * sign[:, j] * lj).sum(-1)
                q[:, j] = torch.sigmoid(logit).clamp(1e-15, 1 - 1e-15)
            if float((q - old).abs().max()) < tol:
                break
        b = _mf_bound(q, configs, lj)
        better = b > best_b
        best_q[better] = q[better]
        best_b[better] = b[better]
    return best_q, best_b
