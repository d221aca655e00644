"""Exact EM for the linear link and small K: the E step enumerates all 2^K configurations.

No mean-field factorisation and no single-site moves: the E step is the exact posterior
``p(z_n | y_n, s_n)`` over every binary vector, so joint changes of several features (a
"carry" in the binary experiment) are as easy as single flips, and eps (eq. 14 with the
exact marginals) has no mean-field bias. The M step is closed form with the exact
``E[z z^T]``. Each iteration increases the exact log marginal likelihood
``log p(y | s, u)``, which is what ``bound_history`` holds (the ELBO at the exact posterior;
it is NOT comparable with the mean-field bounds of the other engines: it is larger by
their KL gap).

Cost per iteration ``O(N 2^K (K + D))`` time and ``O(N 2^K)`` memory (chunked over items):
fine up to K ~ 12 (``max_features``).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from genz_pyro.data import GenZData
from genz_pyro.infer.cavi import LinearData, linear_link_from, m_step_linear, prepare_linear
from genz_pyro.infer.result import FitResult
from genz_pyro.infer.start import Start, update_eps

__all__ = ["fit_exact", "MAX_EXACT_FEATURES"]

MAX_EXACT_FEATURES = 14
_LOG_2PI = math.log(2.0 * math.pi)


def _configs(k: int) -> torch.Tensor:
    """``[2^K, K]`` all binary vectors (float64)."""
    m = torch.arange(2**k)
    return ((m[:, None] >> torch.arange(k - 1, -1, -1)) & 1).double()


def fit_exact(
    data: GenZData,
    start: Start,
    *,
    max_sweeps: int = 200,
    tol: float = 1e-6,
    max_features: int = 12,
    chunk: int | None = None,
) -> FitResult:
    """Fit the linear link by exact EM (enumerated E step).

    Args:
        data: validated data with ``K <= max_features``.
        start: starting values (``start.q`` gives the first M step).
        max_sweeps: at most this many EM iterations.
        tol: stop when the log marginal likelihood gains less than ``tol`` nats per item.
        max_features: refuse larger K (``2^K`` configurations per item).
        chunk: items per block of the E step (default keeps blocks near 4M numbers).

    Raises:
        ValueError: K too large.
    """
    t0 = time.perf_counter()
    ld = prepare_linear(data)
    n, k = ld.n, ld.k
    if k > min(max_features, MAX_EXACT_FEATURES):
        raise ValueError(
            f"engine: 'exact' enumerates 2^K configurations and allows K <= {min(max_features, MAX_EXACT_FEATURES)}, "
            f"got K = {k}; use engine='sem' or 'cavi'"
        )
    c = _configs(k)  # [M, K]
    m = c.shape[0]
    chunk = chunk or max(1, 4_000_000 // m)
    eps = start.eps.clone()
    q = start.q.clone()
    # first M step from the starting q (mean-field statistics)
    qt = q.T.contiguous()
    xx = qt @ qt.T
    xx.diagonal().copy_(qt.sum(1))
    szz, szy = _assemble(ld, xx, qt)
    w, sigma2, _ = m_step_linear(ld, szz, szy)
    history: list[float] = []
    converged = False
    sweeps = 0
    prev = -math.inf
    for sweeps in range(1, max_sweeps + 1):
        wz, wrest = w[:k], w[k:]
        r = ld.y - ld.uaug @ wrest  # [N, D]
        wzs = wz / sigma2  # [K, D]
        g = wzs @ wz.T
        quad = ((c @ g) * c).sum(-1)  # [M]
        lo1, lo0 = torch.log1p(-eps), torch.log(eps)
        const = -0.5 * (ld.y.shape[1] * _LOG_2PI + float(torch.log(sigma2).sum()))
        weight_sum = torch.zeros(m, dtype=torch.float64)
        qs = []
        log_ev = 0.0
        for i in range(0, n, chunk):
            rc = r[i : i + chunk]
            # log p(z = c | s): logits (2s - 1) log((1 - eps) / eps), 0 where missing
            logit = ld.sm[:, i : i + chunk].T * (lo1 - lo0)  # [n, K]
            lp = -F.softplus(-logit) @ c.T - F.softplus(logit) @ (1 - c).T  # [n, M]
            ll = const - 0.5 * ((rc * rc) / sigma2).sum(-1, keepdim=True) + (rc @ wzs.T) @ c.T - 0.5 * quad
            lj = lp + ll  # [n, M]
            ev = torch.logsumexp(lj, -1)
            log_ev += float(ev.sum())
            p = torch.exp(lj - ev[:, None])
            weight_sum += p.sum(0)
            qs.append(p @ c)
        q = torch.cat(qs, 0)  # [N, K] exact marginals
        history.append(log_ev)
        qt = q.T.contiguous()
        xx = c.T @ (weight_sum[:, None] * c)  # sum_n E[z z^T] under the exact posterior
        szz, szy = _assemble(ld, xx, qt)
        w, sigma2, _ = m_step_linear(ld, szz, szy)
        agree_k = ld.c0 + (ld.sm * qt).sum(1)
        eps = update_eps(ld.count - agree_k, ld.count, eps, start.learn)
        if log_ev - prev < tol * n:
            converged = True
            break
        prev = log_ev
    dtype = data.targets.dtype
    return FitResult(
        q=q.to(dtype),
        eps=eps.to(dtype),
        decoupled=start.decoupled.clone(),
        link=linear_link_from(w, k, dtype),
        sigma2=sigma2.to(dtype),
        bound_history=history,
        converged=converged,
        wall_time=time.perf_counter() - t0,
        engine="exact",
        num_sweeps=sweeps,
        feature_names=data.feature_names,
        info={"objective": "exact log marginal likelihood log p(y | s, u) before each M step", "tol_per_item": tol},
    )


def _assemble(ld: LinearData, xx: torch.Tensor, qt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Szz``, ``Szy`` from the feature block ``xx [K, K]`` and ``E[z]^T`` (``qt [K, N]``)."""
    if qt.shape[0] == 0:
        return ld.aa, ld.ay
    xa = qt @ ld.uaug
    szz = torch.cat([torch.cat([xx, xa], 1), torch.cat([xa.T, ld.aa], 1)], 0)
    szy = torch.cat([qt @ ld.y, ld.ay], 0)
    return szz, szy
