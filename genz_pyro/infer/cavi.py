"""Exact mean-field coordinate ascent (CAVI) for the linear link (paper appendix B).

One sweep = an E step over all features, then a closed-form M step::

    E (feature k, all items at once, features in turn):
        logit q_nk = prior_nk + [Wz^T S^-1 (y_n - Wu u_n - b)]_k - sum_{j != k} G_kj q_nj - G_kk / 2
        with G = Wz^T S^-1 Wz  [K, K],   S = diag(sigma2)
    M: W = (sum_n E[zt zt^T])^-1 sum_n zt_n y_n^T,  sigma2_d = mean expected squared residual,
       eps_k = expected disagreement (eq. 14), clipped to [1e-3, 0.5]

The E step is *exact* Gauss-Seidel: feature k sees the already-updated ``q`` of features
``< k``, so every update maximises the bound in ``q_.k`` and the bound never decreases.
Speed comes from never forming an ``[N, D]`` residual per feature: the field of a block of
``b`` features is one matrix product ``base[J] - G[J, :] @ q^T`` (``[b, K] x [K, N]``); inside
the block each update is a rank-1 correction ``H[later] -= G[later, k] delta_k^T`` of the
block's ``[b, N]`` field. A sweep costs ``O(N K (K + D))`` flops, mostly in BLAS-3 calls, with
``K`` short vector operations of length ``N``. State is kept transposed (``[K, N]``, rows
contiguous) in float64.

The same kernel draws ``z`` from its exact conditional (Gibbs) for :mod:`genz_pyro.infer.sem`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import torch

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import bernoulli_entropy, bernoulli_entropy_from_logit, expected_log_prior
from genz_pyro.infer.result import FitResult, engine_result
from genz_pyro.infer.start import Start, eps_log_prior, sigma2_floor, soft_update_eps, update_eps
from genz_pyro.models.links import LinearLink

__all__ = [
    "LinearData",
    "prepare_linear",
    "suff_stats",
    "m_step_linear",
    "e_field",
    "SweepSums",
    "gauss_seidel",
    "bound_linear",
    "soft_prior",
    "soft_step",
    "linear_link_from",
    "weight_from_link",
    "CaviRun",
    "cavi_sweeps",
    "fit_cavi",
]

_LOG_2PI = math.log(2.0 * math.pi)

S = TypeVar("S")


@dataclass(frozen=True)
class LinearData:
    """Data-side quantities of the linear-Gaussian model, computed once (float64).

    Attributes:
        y: ``[N, D]`` targets.
        uaug: ``[N, C + 1]`` covariates with a trailing column of ones.
        sm: ``[K, N]`` ``(2 s - 1)`` with 0 where missing (prior sign, transposed).
        c0: ``[K]`` ``sum_n (1 - s_nk)`` over non-missing items.
        count: ``[K]`` non-missing judgments per feature.
        n_missing: total number of missing judgments.
        yy: ``[D]`` ``sum_n y_nd^2``.
        aa: ``[C + 1, C + 1]`` ``uaug^T uaug``.
        ay: ``[C + 1, D]`` ``uaug^T y``.
        floor: ``[D]`` noise variance floor.
    """

    y: torch.Tensor
    uaug: torch.Tensor
    sm: torch.Tensor
    c0: torch.Tensor
    count: torch.Tensor
    n_missing: int
    yy: torch.Tensor
    aa: torch.Tensor
    ay: torch.Tensor
    floor: torch.Tensor

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @property
    def k(self) -> int:
        return int(self.sm.shape[0])


def prepare_linear(data: GenZData) -> LinearData:
    """Precompute :class:`LinearData` from validated data."""
    y = data.targets.double()
    n = y.shape[0]
    ones = torch.ones(n, 1, dtype=torch.float64)
    uaug = ones if data.covariates is None else torch.cat([data.covariates.double(), ones], dim=1)
    s = data.judgments.double()
    mask = torch.ones_like(s) if data.missing is None else (~data.missing).double()
    sm = ((2.0 * s - 1.0) * mask).T.contiguous()
    return LinearData(
        y=y,
        uaug=uaug,
        sm=sm,
        c0=((1.0 - s) * mask).sum(0),
        count=mask.sum(0),
        n_missing=int(0 if data.missing is None else data.missing.sum()),
        yy=(y * y).sum(0),
        aa=uaug.T @ uaug,
        ay=uaug.T @ y,
        floor=sigma2_floor(y),
    )


def suff_stats(ld: LinearData, xt: torch.Tensor, *, mean_field: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Szz [P, P], Szy [P, D])`` with ``P = K + C + 1`` for feature values ``xt [K, N]``.

    ``Szz = sum_n E[zt zt^T]``. With ``mean_field=True`` (``xt`` holds probabilities ``q``)
    the variances ``sum_n q (1 - q)`` are added on the feature diagonal, which makes the
    diagonal ``sum_n q`` (computed as ``rowsum(q) - diag(q q^T)`` + ``diag(q q^T)``).
    """
    k = xt.shape[0]
    if k == 0:
        return ld.aa, ld.ay
    xx = xt @ xt.T
    if mean_field:
        xx.diagonal().copy_(xt.sum(1))
    xa = xt @ ld.uaug
    szz = torch.cat([torch.cat([xx, xa], 1), torch.cat([xa.T, ld.aa], 1)], 0)
    szy = torch.cat([xt @ ld.y, ld.ay], 0)
    return szz, szy


def m_step_linear(
    ld: LinearData, szz: torch.Tensor, szy: torch.Tensor, *, ridge: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed-form ``W [P, D]``, ``sigma2 [D]`` and the expected squared residuals ``E [D]``.

    ``ridge`` (default 0) adds ``ridge * I`` on the feature block; a jitter of ``1e-10``
    times the mean diagonal keeps the solve defined when a feature column is constant.
    """
    a = szz.clone()
    jitter = 1e-10 * float(a.diagonal().mean()) + 1e-300
    a.diagonal().add_(jitter)
    if ridge > 0:
        k = ld.k
        a.diagonal()[:k] += ridge
    try:
        chol = torch.linalg.cholesky(a)
        w = torch.cholesky_solve(szy, chol)
    except RuntimeError:  # pragma: no cover - singular beyond jitter
        w = torch.linalg.lstsq(a, szy).solution
    e = ld.yy - 2.0 * (w * szy).sum(0) + (w * (szz @ w)).sum(0)
    sigma2 = torch.maximum(e / ld.n, ld.floor)
    return w, sigma2, e


def e_field(ld: LinearData, w: torch.Tensor, sigma2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(base [K, N], G [K, K])``: the data part of the field, ``Wz_k^T S^-1 (y_n - Wu u_n - b)``.

    The full field of feature ``k`` is
    ``base_k + lo_k sm_k - G_kk / 2 - sum_{j != k} G_kj q_j`` with ``lo_k = log((1 - eps_k) / eps_k)``
    (added inside :func:`gauss_seidel`).
    """
    k = ld.k
    wz = w[:k]  # [K, D]
    r0 = ld.y - ld.uaug @ w[k:]  # [N, D]
    wzs = wz / sigma2
    return wzs @ r0.T, wzs @ wz.T


@dataclass
class SweepSums:
    """Per-feature sums collected during a sweep (float64 ``[K]`` each).

    Attributes:
        agree: ``sum_n sm_nk p_nk`` (add ``LinearData.c0`` for the expected agreement).
        entropy: ``sum_n H(p_nk)`` of the updated probabilities.
    """

    agree: torch.Tensor
    entropy: torch.Tensor


def gauss_seidel(
    state: torch.Tensor,
    base: torch.Tensor,
    g: torch.Tensor,
    sm: torch.Tensor,
    eps: torch.Tensor,
    *,
    block: int = 16,
    uniforms: torch.Tensor | None = None,
    probs: torch.Tensor | None = None,
    entropy: bool = True,
    prior: torch.Tensor | None = None,
) -> SweepSums:
    """One in-place sweep over the features of ``state [K, N]``.

    Field of feature ``k``: ``h_k = base_k + lo_k sm_k - G_kk / 2 - sum_{j != k} G_kj state_j``.
    ``prior [K, N]`` (optional) replaces the prior part ``lo_k sm_k`` by any table of prior
    log-odds (the several-judges model, :mod:`genz_pyro.infer.judges`); ``sm`` then only
    enters the agreement sums and ``eps`` is not used.

    Without ``uniforms``: ``state_k <- sigmoid(h_k)`` (exact CAVI coordinate update).
    With ``uniforms [K, N]``: ``state_k <- 1[u_k < sigmoid(h_k)]`` (a Gibbs draw from the exact
    conditional); ``probs [K, N]`` (if given) receives the conditional probabilities.

    Returns:
        :class:`SweepSums` of the conditional probabilities ``sigmoid(h_k)`` (entropy left at 0
        when ``entropy=False``, which saves one transcendental function per element).
    """
    k_all, n = state.shape
    gd = g.diagonal().tolist()
    lo = (torch.log1p(-eps) - torch.log(eps)).tolist() if prior is None else None
    agree = torch.zeros(k_all, dtype=torch.float64)
    ent = torch.zeros(k_all, dtype=torch.float64)
    for j0 in range(0, k_all, block):
        j1 = min(j0 + block, k_all)
        h = torch.addmm(base[j0:j1], g[j0:j1], state, alpha=-1.0)  # [b, N]
        for i in range(j1 - j0):
            k = j0 + i
            hk = h[i].add_(state[k], alpha=gd[k])
            hk = hk.add_(sm[k], alpha=lo[k]) if lo is not None else hk.add_(prior[k])  # type: ignore[index]
            hk = hk.sub_(0.5 * gd[k])
            p = torch.sigmoid(hk)
            agree[k] = torch.dot(sm[k], p)
            if entropy:
                ent[k] = bernoulli_entropy_from_logit(hk).sum()
            if uniforms is None:
                new = p
            else:
                if probs is not None:
                    probs[k] = p
                new = (uniforms[k] < p).to(state.dtype)
            if k + 1 < j1:
                delta = (new - state[k])[None]
                h[i + 1 :].addmm_(g[k + 1 : j1, k : k + 1], delta, alpha=-1.0)
            state[k] = new
    return SweepSums(agree=agree, entropy=ent)


def bound_linear(
    ld: LinearData,
    w: torch.Tensor,
    sigma2: torch.Tensor,
    eps: torch.Tensor,
    szz: torch.Tensor,
    szy: torch.Tensor,
    agree: torch.Tensor,
    entropy: float,
    *,
    e: torch.Tensor | None = None,
    prior: float | None = None,
) -> float:
    """Total mean-field bound from sufficient statistics (no ``O(N)`` work).

    Args:
        agree: ``[K]`` summed expected agreement over non-missing items.
        entropy: summed entropy of ``q``.
        e: ``[D]`` expected squared residuals, when already known (then ``szz`` and ``szy``
            are not used and may be ``None``).
        prior: the summed expected log prior, when already known (soft judgments:
            :func:`soft_prior_term`); then ``agree`` is not used.
    """
    if e is None:
        e = ld.yy - 2.0 * (w * szy).sum(0) + (w * (szz @ w)).sum(0)
    ll = -0.5 * ld.n * (ld.y.shape[1] * _LOG_2PI + float(torch.log(sigma2).sum())) - 0.5 * float((e / sigma2).sum())
    if prior is not None:
        return ll + prior + entropy
    prior_sum = float((agree * torch.log1p(-eps) + (ld.count - agree) * torch.log(eps)).sum())
    return ll + prior_sum + ld.n_missing * math.log(0.5) + entropy


def soft_prior(data: GenZData, eps: torch.Tensor) -> torch.Tensor | None:
    """``[K, N]`` prior log-odds table for :func:`gauss_seidel` when ``data`` has soft
    judgments (``logit(s (1 - eps) + (1 - s) eps)``, 0 where missing); ``None`` for hard ones
    (the engine then uses ``(2 s - 1) log((1 - eps) / eps)`` through ``sm``)."""
    if not data.is_soft:
        return None
    return data.prior_logits(eps.double()).double().T.contiguous()


def soft_step(
    data: GenZData, q: torch.Tensor, eps: torch.Tensor, learn: torch.Tensor, eps_prior: float = 0.0
) -> tuple[torch.Tensor, float]:
    """Soft judgments: the eps M step at ``q [N, K]`` (:func:`~genz_pyro.infer.start.soft_update_eps`,
    the MAP under a ``Beta(1 + eps_prior, 1 + eps_prior)`` prior) and the summed expected log
    prior of ``z`` at the new eps (for :func:`bound_linear`)."""
    s = data.judgments.double()
    mask = torch.ones_like(s) if data.missing is None else (~data.missing).double()
    eps = soft_update_eps(q, s, mask, eps, learn, prior=eps_prior)
    return eps, float(expected_log_prior(q, s, eps, data.missing).sum())


def linear_link_from(w: torch.Tensor, k: int, dtype: torch.dtype) -> LinearLink:
    """A :class:`LinearLink` holding ``W [P, D]`` (rows: features, covariates, bias)."""
    p, d = w.shape
    link = LinearLink(k, d, p - k - 1).to(w.dtype)  # copy at full precision, then cast once
    with torch.no_grad():
        link.weight.copy_(w[:-1].T.to(link.weight.dtype))
        link.bias.copy_(w[-1].to(link.bias.dtype))
    return link.to(dtype)


def weight_from_link(link: LinearLink) -> torch.Tensor:
    """``W [P, D]`` float64 from a :class:`LinearLink` (inverse of :func:`linear_link_from`)."""
    return torch.cat([link.weight.detach().double().T, link.bias.detach().double()[None]], 0)


def _agreement(ld: LinearData, xt: torch.Tensor) -> torch.Tensor:
    """``[K]`` summed expected agreement ``sum_n a_nk`` over non-missing items."""
    return ld.c0 + (ld.sm * xt).sum(1)


@dataclass
class CaviRun(Generic[S]):
    """What :func:`cavi_sweeps` returns (float64).

    Attributes:
        state: the prior-side parameters after the last M step (eps ``[K]``, or the judges').
        w: ``[P, D]`` link weights. sigma2: ``[D]`` noise variances.
        bound_start: the bound after the initial M step.
        bound_history: the bound after every sweep.
        converged: the stopping rule fired. num_sweeps: sweeps performed.
    """

    state: S
    w: torch.Tensor
    sigma2: torch.Tensor
    bound_start: float
    bound_history: list[float]
    converged: bool
    num_sweeps: int

    def info(self, tol: float, block_size: int, ridge: float) -> dict:
        """The engines' ``info`` dict."""
        return {"bound_start": self.bound_start, "tol_per_item": tol, "block_size": block_size, "ridge": ridge}


def cavi_sweeps(
    ld: LinearData,
    qt: torch.Tensor,
    state: S,
    *,
    prior: Callable[[S], tuple[torch.Tensor, torch.Tensor | None]],
    m_step: Callable[[S, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor, S, float]],
    max_sweeps: int,
    tol: float,
    block_size: int,
    e_sweeps: int,
    anneal: int,
) -> CaviRun[S]:
    """The CAVI loop shared by the one-judge and several-judges models (``qt [K, N]`` in place).

    An initial M step, then sweeps of E (exact Gauss-Seidel, :func:`gauss_seidel`) + M until
    a sweep gains less than ``tol`` nats per item (from sweep ``anneal + 1`` on).

    Args:
        ld: the linear-Gaussian data.
        qt: ``[K, N]`` starting ``q`` (transposed), updated in place.
        state: starting prior-side parameters (any type ``S``).
        prior: ``state -> (eps [K], table [K, N] or None)``: the prior part of the field
            (:func:`gauss_seidel`'s ``eps`` and ``prior``).
        m_step: ``(state, agree [K], entropy) -> (W [P, D], sigma2 [D], state, bound)`` at the
            current ``qt``; ``agree`` is the summed expected agreement with ``ld.sm``
            (``ld.c0 + sum_n sm q``) and ``entropy`` the summed entropy of ``q``.
        max_sweeps, tol, block_size, e_sweeps, anneal: as :func:`fit_cavi`.
    """
    k = ld.k
    w, sigma2, state, b0 = m_step(state, _agreement(ld, qt), float(bernoulli_entropy(qt).sum()))
    history: list[float] = []
    converged = False
    sweeps = 0
    prev = b0
    for sweeps in range(1, max_sweeps + 1):
        if k:
            base, g = e_field(ld, w, sigma2)
            if sweeps <= anneal:
                beta = sweeps / (anneal + 1)
                base, g = base * beta, g * beta
            eps, table = prior(state)
            for _ in range(e_sweeps):
                sums = gauss_seidel(qt, base, g, ld.sm, eps, block=block_size, prior=table)
            w, sigma2, state, b = m_step(state, ld.c0 + sums.agree, float(sums.entropy.sum()))
        else:
            w, sigma2, state, b = m_step(state, ld.c0, 0.0)
        history.append(b)
        if k == 0 or (sweeps > anneal and b - prev < tol * ld.n):
            converged = True
            break
        prev = b
    return CaviRun(state, w, sigma2, b0, history, converged, sweeps)


def fit_cavi(
    data: GenZData,
    start: Start,
    *,
    max_sweeps: int = 200,
    tol: float = 1e-5,
    block_size: int = 16,
    ridge: float = 0.0,
    e_sweeps: int = 1,
    anneal: int = 0,
) -> FitResult:
    """Fit the linear link by exact mean-field coordinate ascent.

    Args:
        data: validated data.
        start: starting values from :func:`genz_pyro.infer.start.prepare_start`.
        max_sweeps: at most this many sweeps (E + M).
        tol: stop when a sweep improves the bound by less than ``tol`` nats per item.
        block_size: features per BLAS-3 block of the E step.
        ridge: optional ridge on the feature weights (0 = the paper's estimator).
        e_sweeps: Gauss-Seidel passes over the features per E step.
        anneal: the first ``anneal`` sweeps temper the likelihood part of the E step by
            ``beta = t / (anneal + 1)`` (deterministic annealing against poor local optima);
            the bound is monotone from sweep ``anneal + 1`` on.

    Returns:
        :class:`FitResult` with ``engine="cavi"``; ``info["bound_start"]`` is the bound after
        the initial M step.
    """
    t0 = time.perf_counter()
    ld = prepare_linear(data)
    qt = start.q.T.contiguous().clone()

    def m_step(eps: torch.Tensor, agree: torch.Tensor, ent: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        szz, szy = suff_stats(ld, qt, mean_field=True)
        w, sigma2, _ = m_step_linear(ld, szz, szy, ridge=ridge)
        lp = start.eps_prior
        if data.is_soft:
            eps, prior = soft_step(data, qt.T, eps, start.learn, lp)
            b = bound_linear(ld, w, sigma2, eps, szz, szy, agree, ent, prior=prior)
        else:
            eps = update_eps(ld.count - agree, ld.count, eps, start.learn, lp)
            b = bound_linear(ld, w, sigma2, eps, szz, szy, agree, ent)
        return w, sigma2, eps, b + eps_log_prior(eps, start.learn, lp)

    run = cavi_sweeps(
        ld,
        qt,
        start.eps.clone(),
        prior=lambda eps: (eps, soft_prior(data, eps)),
        m_step=m_step,
        max_sweeps=max_sweeps,
        tol=tol,
        block_size=block_size,
        e_sweeps=e_sweeps,
        anneal=anneal,
    )
    return engine_result(
        data,
        start,
        q=qt.T,
        eps=run.state,
        link=linear_link_from(run.w, ld.k, data.targets.dtype),
        sigma2=run.sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        wall_time=time.perf_counter() - t0,
        engine="cavi",
        num_sweeps=run.num_sweeps,
        info=run.info(tol, block_size, ridge),
    )
