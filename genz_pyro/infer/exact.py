"""Exact EM for small K: the E step enumerates all ``2^K`` configurations of every item.

No mean-field factorisation and no single-site moves: the E step is the exact posterior
``p(z_n | y_n, s_n, u_n)`` over every binary vector ``c`` (``M = 2^K`` of them)::

    log p(z_n = c, y_n | s_n) = sum_k [c_k l_nk - softplus(l_nk)] + log N(y_n | f(c, u_n), S)
    l_nk = (2 s_nk - 1) log((1 - eps_k) / eps_k)     (0 where missing or decoupled)

so joint changes of several features (a "carry" in the binary experiment) are as easy as
single flips, and eps (eq. 14 with the exact marginals) has no mean-field bias.

- **Linear link**: the likelihood term is ``a_n . c - c^T G c / 2 + const_n`` with
  ``a_n = Wz^T S^-1 (y_n - Wu u_n - b)`` and ``G = Wz^T S^-1 Wz``, so the log joint of a
  block of items is ONE product ``[n, K] x [K, M]``. The M step is closed form with the
  exact ``sum_n E[z z^T] = C^T diag(sum_n p_n.) C``; sigma2 and eps are their exact
  maximisers (sigma2 floored, eps clipped, see :mod:`.start`), so the log-likelihood is
  monotone.
- **Any other link** (MLP or a user module): ``f(c, u_n)`` is evaluated for every
  configuration and item (``z [M, n, K]``, one batched call per block of items); the M step
  is ``m_epochs`` epochs of Adam on the posterior-weighted expected log-likelihood
  ``sum_n sum_c p_nc log N(y_n | f(c, u_n), S)`` (mini-batches of items, all their
  configurations), then sigma2 in closed form. A gradient M step with dropout need not
  raise the log-likelihood every sweep (a generalised EM).

``bound_history`` holds the EXACT log marginal likelihood ``log p(y | s, u)`` (total over
items, nats) at the parameters before each M step. It is the ELBO at the exact posterior,
so it is >= every mean-field bound of the same parameters: do NOT compare it with the
bounds of the other engines.

Cost per sweep ``O(N 2^K (K + D))`` (linear) and ``O(N 2^K)`` memory per block of items
(``chunk``): K <= ``max_features`` (default 12).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.infer.cavi import LinearData, linear_link_from, m_step_linear, prepare_linear
from genz_pyro.infer.result import FitResult, engine_result
from genz_pyro.infer.start import Start, eps_log_prior, sigma2_floor, update_eps
from genz_pyro.models.links import LinearLink

__all__ = ["MAX_EXACT_FEATURES", "configurations", "fit_exact"]

MAX_EXACT_FEATURES = 14
"""Hard ceiling on ``max_features`` (``2^14`` configurations per item)."""

_LOG_2PI = math.log(2.0 * math.pi)
_BLOCK_NUMBERS = 1 << 19  # items x configurations per block of the E step
_OBJECTIVE = "exact log marginal likelihood log p(y | s, u) before each M step (not a mean-field bound)"


def configurations(k: int) -> torch.Tensor:
    """``[2^K, K]`` every binary vector (float64); row ``m`` is ``m`` in binary, feature 0 first."""
    m = torch.arange(2**k)
    return ((m[:, None] >> torch.arange(k - 1, -1, -1)) & 1).double()


def _prior_logits(ld: LinearData, eps: torch.Tensor) -> torch.Tensor:
    """``[N, K]`` ``(2 s - 1) log((1 - eps) / eps)``, 0 where missing."""
    return ld.sm.T * (torch.log1p(-eps) - torch.log(eps))


def _check_k(k: int, max_features: int) -> None:
    limit = min(int(max_features), MAX_EXACT_FEATURES)
    if k > limit:
        raise ValueError(
            f"engine: 'exact' enumerates 2^K configurations per item and allows K <= {limit} "
            f"(max_features), got K = {k}; use engine='cavi' or 'sem' for this many features"
        )


def fit_exact(
    data: GenZData,
    start: Start,
    *,
    link: str | nn.Module = "linear",
    max_sweeps: int = 200,
    tol: float = 1e-6,
    max_features: int = 12,
    chunk: int | None = None,
    seed: int = 0,
    **trainer_options: Any,
) -> FitResult:
    """Fit by exact EM (enumerated E step).

    Args:
        data: validated data with ``K <= max_features`` (K = 0 fits the covariates / mean).
        start: starting values; the first M step uses ``start.q`` (a warm start) as a
            factorised posterior, and ``start.eps`` until the first eps update.
        link: ``"linear"`` (closed-form M step), ``"mlp"`` or a module
            ``f(z [.., N, K], u [N, C]) -> [.., N, D]`` (a copy is trained by Adam).
        max_sweeps: at most this many EM iterations (E + M).
        tol: stop when the exact log-likelihood gains less than ``tol`` nats per item.
        max_features: refuse larger K (``2^K`` configurations per item; at most
            ``MAX_EXACT_FEATURES``).
        chunk: items per block of the E step (default: ``2^19 / 2^K``).
        seed: initialisation, mini-batch order and dropout of a non-linear link.
        trainer_options: non-linear links only: ``lr`` (1e-2), ``batch_size`` (items per
            Adam step, 64), ``m_epochs`` (2), ``init_epochs`` (30).

    Returns:
        :class:`FitResult` with ``engine="exact"``: ``q [N, K]`` the exact posterior
        marginals; ``bound_history`` the exact log marginal likelihood before each M step
        (NOT a mean-field bound); ``info["log_likelihood"]`` its value at the returned
        parameters (one more E step).

    Raises:
        ValueError: K too large, unknown trainer options.
    """
    _check_k(data.num_features, max_features)
    linear = isinstance(link, LinearLink) or (isinstance(link, str) and link == "linear")
    if linear:
        if trainer_options:
            raise ValueError(
                f"engine_options: {sorted(trainer_options)} apply to non-linear links only; "
                "the linear link's M step is closed form"
            )
        return _fit_linear(data, start, max_sweeps=max_sweeps, tol=tol, chunk=chunk)
    return _fit_generic(data, start, link, max_sweeps=max_sweeps, tol=tol, chunk=chunk, seed=seed, **trainer_options)


# ------------------------------------------------------------------------ linear link
def _linear_e_step(
    ld: LinearData, w: torch.Tensor, sigma2: torch.Tensor, eps: torch.Tensor, c: torch.Tensor, chunk: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Exact E step: ``(q [N, K], sum_n p_n. [M], log p(y | s, u))``."""
    k = ld.k
    wz = w[:k]
    r = ld.y - ld.uaug @ w[k:]  # [N, D]
    wzs = wz / sigma2  # [K, D]
    half_quad = 0.5 * ((c @ (wzs @ wz.T)) * c).sum(-1)  # [M]
    logit = _prior_logits(ld, eps)  # [N, K]
    const = -0.5 * (ld.y.shape[1] * _LOG_2PI + float(torch.log(sigma2).sum()))
    mass = torch.zeros(c.shape[0], dtype=torch.float64)
    qs = []
    log_ev = 0.0
    for i in range(0, ld.n, chunk):
        rc, lc = r[i : i + chunk], logit[i : i + chunk]
        h = torch.addmm(half_quad, lc + rc @ wzs.T, c.T, beta=-1.0)  # [n, M]
        lse = torch.logsumexp(h, -1)
        log_ev += float(lse.sum()) - 0.5 * float((rc * rc / sigma2).sum()) - float(F.softplus(lc).sum())
        p = torch.exp(h - lse[:, None])
        mass += p.sum(0)
        qs.append(p @ c)
    return torch.cat(qs, 0), mass, log_ev + const * ld.n


def _assemble(ld: LinearData, xx: torch.Tensor, qt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Szz [P, P]``, ``Szy [P, D]`` from the feature block ``xx [K, K]`` and ``E[z]^T`` (``qt [K, N]``)."""
    if qt.shape[0] == 0:
        return ld.aa, ld.ay
    xa = qt @ ld.uaug
    szz = torch.cat([torch.cat([xx, xa], 1), torch.cat([xa.T, ld.aa], 1)], 0)
    szy = torch.cat([qt @ ld.y, ld.ay], 0)
    return szz, szy


def _fit_linear(data: GenZData, start: Start, *, max_sweeps: int, tol: float, chunk: int | None) -> FitResult:
    t0 = time.perf_counter()
    ld = prepare_linear(data)
    k = ld.k
    c = configurations(k)
    chunk = int(chunk) if chunk else max(1, _BLOCK_NUMBERS // c.shape[0])
    eps = start.eps.clone()
    qt = start.q.T.contiguous()
    xx = qt @ qt.T  # factorised start: E[z_j z_k] = q_j q_k, E[z_k^2] = q_k
    xx.diagonal().copy_(qt.sum(1))
    w, sigma2, _ = m_step_linear(ld, *_assemble(ld, xx, qt))
    history: list[float] = []
    converged = False
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        q, mass, log_ev = _linear_e_step(ld, w, sigma2, eps, c, chunk)
        history.append(log_ev + eps_log_prior(eps, start.learn, start.eps_prior))
        qt = q.T.contiguous()
        w, sigma2, _ = m_step_linear(ld, *_assemble(ld, c.T @ (mass[:, None] * c), qt))
        eps = update_eps(ld.count - ld.c0 - (ld.sm * qt).sum(1), ld.count, eps, start.learn, start.eps_prior)
        if k == 0 or (sweeps > 1 and history[-1] - history[-2] < tol * ld.n):
            converged = True
            break
    q, _, final = _linear_e_step(ld, w, sigma2, eps, c, chunk)  # marginals at the returned parameters
    dtype = data.targets.dtype
    return engine_result(
        data,
        start,
        q=q,
        eps=eps,
        link=linear_link_from(w, k, dtype),
        sigma2=sigma2,
        bound_history=history,
        converged=converged,
        wall_time=time.perf_counter() - t0,
        engine="exact",
        num_sweeps=sweeps,
        info={
            "objective": _OBJECTIVE,
            "log_likelihood": final,
            "tol_per_item": tol,
            "m_step": "closed form",
        },
    )


# ---------------------------------------------------------------------- any other link
def _means(module: nn.Module, c: torch.Tensor, u: torch.Tensor | None, b: int, dtype: torch.dtype) -> torch.Tensor:
    """``f(c, u) [M, b, D]`` (``u [b, C]`` or None) with the module's current mode and grad setting."""
    z = c.to(dtype)[:, None, :].expand(c.shape[0], b, c.shape[1])
    return module(z, u)


def _fit_generic(
    data: GenZData,
    start: Start,
    link: str | nn.Module,
    *,
    max_sweeps: int,
    tol: float,
    chunk: int | None,
    seed: int,
    lr: float = 1e-2,
    batch_size: int = 64,
    m_epochs: int = 2,
    init_epochs: int = 30,
) -> FitResult:
    from genz_pyro.infer.bound import link_dtype
    from genz_pyro.infer.em import init_link

    t0 = time.perf_counter()
    module = init_link(link, data, seed=seed)
    dtype = link_dtype(module)
    ld = prepare_linear(data)  # judgments, counts and targets in the layout of the linear engine
    n, k = ld.n, ld.k
    c = configurations(k)
    m = c.shape[0]
    chunk = int(chunk) if chunk else max(1, _BLOCK_NUMBERS // m)
    y = ld.y
    u = None if data.covariates is None else data.covariates.to(dtype)
    floor = sigma2_floor(y)
    eps = start.eps.clone()
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr) if params else None
    gen = torch.Generator().manual_seed(int(seed))

    def e_step(sigma2: torch.Tensor) -> tuple[torch.Tensor, float]:
        """``(p [N, M] float32, log p(y | s, u))`` at the current module (eval mode)."""
        logit = _prior_logits(ld, eps)
        const = -0.5 * (y.shape[1] * _LOG_2PI + float(torch.log(sigma2).sum()))
        out = torch.empty(n, m, dtype=torch.float32)
        log_ev = 0.0
        module.eval()
        with torch.no_grad():
            for i in range(0, n, chunk):
                j = min(i + chunk, n)
                mu = _means(module, c, None if u is None else u[i:j], j - i, dtype).double()  # [M, b, D]
                ll = -0.5 * (((y[i:j] - mu) ** 2) / sigma2).sum(-1).T  # [b, M]
                lc = logit[i:j]
                h = lc @ c.T + ll
                lse = torch.logsumexp(h, -1)
                log_ev += float(lse.sum()) - float(F.softplus(lc).sum())
                out[i:j] = torch.exp(h - lse[:, None]).float()
        return out, log_ev + const * n

    def m_step(p: torch.Tensor, epochs: int, sigma2: torch.Tensor) -> torch.Tensor:
        """Adam on ``sum_n sum_c p_nc sum_d (y_nd - f_d(c, u_n))^2 / sigma2_d``, then sigma2 [D]."""
        if opt is not None and epochs > 0:
            module.train()
            wgt = (1.0 / sigma2).to(dtype)
            with torch.random.fork_rng():
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                for _ in range(epochs):
                    perm = torch.randperm(n)
                    for i in range(0, n, batch_size):
                        idx = perm[i : i + batch_size]
                        mu = _means(module, c, None if u is None else u[idx], len(idx), dtype)  # [M, b, D]
                        sq = (((y[idx].to(dtype) - mu) ** 2) * wgt).sum(-1)  # [M, b]
                        loss = (p[idx].T.to(dtype) * sq).sum() / len(idx)
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
        module.eval()
        e = torch.zeros(y.shape[1], dtype=torch.float64)
        with torch.no_grad():
            for i in range(0, n, chunk):
                j = min(i + chunk, n)
                mu = _means(module, c, None if u is None else u[i:j], j - i, dtype).double()
                e += (p[i:j].T.double()[..., None] * (y[i:j] - mu) ** 2).sum((0, 1))
        return torch.maximum(e / n, floor)

    # first M step from the factorised start q: p_nc = prod_k q^c (1 - q)^(1 - c)
    q0 = start.q.clamp(1e-12, 1 - 1e-12)
    p0 = torch.exp(torch.log(q0) @ c.T + torch.log1p(-q0) @ (1 - c).T).float()
    sigma2 = m_step(p0, init_epochs, y.var(0, unbiased=False).clamp_min(1e-12))
    history: list[float] = []
    converged = False
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        p, log_ev = e_step(sigma2)
        history.append(log_ev + eps_log_prior(eps, start.learn, start.eps_prior))
        q = p.double() @ c
        sigma2 = m_step(p, m_epochs, sigma2)
        eps = update_eps(ld.count - ld.c0 - (ld.sm * q.T).sum(1), ld.count, eps, start.learn, start.eps_prior)
        if k == 0 and opt is None or (sweeps > 1 and abs(history[-1] - history[-2]) < tol * n):
            converged = True
            break
    p, final = e_step(sigma2)
    return engine_result(
        data,
        start,
        q=p.double() @ c,
        eps=eps,
        link=module,
        sigma2=sigma2,
        bound_history=history,
        converged=converged,
        wall_time=time.perf_counter() - t0,
        engine="exact",
        num_sweeps=sweeps,
        info={
            "objective": _OBJECTIVE,
            "log_likelihood": final,
            "tol_per_item": tol,
            "m_step": f"Adam, {m_epochs} epochs per sweep (lr {lr}, {batch_size} items per step)",
        },
    )
