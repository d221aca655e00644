"""Stochastic EM: ``z`` drawn from its exact conditional, then the M step.

One sweep:

1. **Gibbs sweep** over the features, vectorised over items: ``z_nk`` is drawn from
   ``p(z_nk | z_n,-k, s_nk, y_n)`` (the exact conditional, not a mean-field factor).
   For the linear link this is the blocked kernel of :mod:`genz_pyro.infer.cavi`; for any
   other link the two forced variants ``z^{+k}``, ``z^{-k}`` are evaluated for all items.
2. **M step** on the sample: closed-form least squares and ``sigma2`` for the linear link,
   Adam steps on the link for any other link. ``eps_k`` is the expected disagreement under
   the conditional probabilities ``p_nk`` (Rao-Blackwellised: lower variance than counting
   the sampled flips).

After a burn-in, the last ``num_average`` sweeps are averaged: ``q`` is the mean of the
conditional probabilities (an estimate of the *exact* posterior marginals), and ``eps``,
``W`` and ``sigma2`` are the averages of their per-sweep estimates. Sampling removes the
mean-field bias of eps toward 0 when the data say little about ``z`` (genz-math.md,
"Pitfalls") at the cost per sweep of a CAVI sweep.

Burn-in ends (``converged = True``) when the mean of the per-sweep objective over the last
``window`` sweeps no longer exceeds that of the ``window`` before by more than ``tol`` nats
per item or two standard errors of the difference (no progress detectable above the noise),
or when no eps moved by more than ``eps_tol`` between the two windows' means.
The per-sweep objective in ``bound_history`` is the noisy complete-data value
``log p(y | z) + E_p[log p(z | s)]`` at the sweep's sample (for a non-linear link: the
mean-field bound at ``p``); the final entry is the exact mean-field bound of the averaged
result (and :func:`genz_pyro.infer.fit.fit` appends the comparable bound).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import mean_field_bound
from genz_pyro.infer.cavi import (
    LinearData,
    SweepSums,
    soft_prior,
    soft_step,
    bound_linear,
    e_field,
    fit_cavi,
    gauss_seidel,
    linear_link_from,
    m_step_linear,
    prepare_linear,
    suff_stats,
)
from genz_pyro.infer.em import LinkTrainer, forced_logits, init_link
from genz_pyro.infer.result import FitResult, engine_result
from genz_pyro.infer.start import Start, eps_log_prior, sigma2_floor, soft_update_eps, update_eps
from genz_pyro.models.links import LinearLink

__all__ = [
    "sem_link",
    "SemRun",
    "sem_average",
    "linear_sem_start",
    "linear_gibbs_step",
    "link_sem_start",
    "link_gibbs_step",
    "fit_sem",
]


def _window_stop(history: list[float], window: int, tol_total: float) -> bool:
    """True when the last window's mean objective exceeds the previous window's by less
    than ``max(tol_total, 2 standard errors of that difference)``: no detectable progress."""
    if len(history) < 2 * window:
        return False
    last = torch.tensor(history[-window:], dtype=torch.float64)
    before = torch.tensor(history[-2 * window : -window], dtype=torch.float64)
    se = float((last.var() / window + before.var() / window).sqrt())
    return float(last.mean() - before.mean()) < max(tol_total, 2.0 * se)


def _eps_stable(trace: list[torch.Tensor], window: int, eps_tol: float) -> bool:
    """True when no eps moved by more than ``eps_tol`` between the last two window means."""
    if len(trace) < 2 * window or not trace[-1].numel():
        return False
    last = torch.stack(trace[-window:]).mean(0)
    before = torch.stack(trace[-2 * window : -window]).mean(0)
    return float((last - before).abs().max()) < eps_tol


def sem_link(
    link: str | nn.Module, data: GenZData, *, seed: int, ridge: float, link_options: dict
) -> nn.Module | None:
    """``None`` when SEM takes the closed-form linear path (a linear link without link
    options), else the link module to train (built by :func:`~.em.init_link` under ``seed``).

    Raises:
        ValueError: ``ridge`` with a link that has no closed-form M step.
    """
    module = init_link(link, data, seed=seed)
    if isinstance(module, LinearLink) and not link_options:
        return None
    if ridge:
        raise ValueError(f"ridge: only the linear link has a closed-form ridge; got link={link!r} (use weight decay)")
    return module


def fit_sem(
    data: GenZData,
    start: Start,
    *,
    link: str | nn.Module = "linear",
    max_sweeps: int = 200,
    tol: float = 1e-3,
    num_average: int = 10,
    window: int = 10,
    block_size: int = 16,
    seed: int = 0,
    warm_sweeps: int = 5,
    eps_tol: float = 0.003,
    ridge: float = 0.0,
    **link_options: object,
) -> FitResult:
    """Fit by stochastic EM (Gibbs-sampled ``z`` + M step).

    Args:
        data: validated data.
        start: starting values; ``z`` is first drawn from ``Bernoulli(start.q)``.
        link: ``"linear"`` (closed form), ``"mlp"`` or any module ``f(z, u)`` (Adam M step).
        max_sweeps: cap on burn-in sweeps (the averaging sweeps come on top).
        tol: burn-in stops when the windowed objective improves by less than ``tol`` nats/item.
        num_average: sweeps averaged at the end.
        window: sweeps per window of the burn-in rule.
        block_size: feature block of the linear Gibbs kernel.
        seed: seed of the sampler (and of the link's initialisation).
        eps_tol: burn-in also stops when no eps moved by more than ``eps_tol`` between the
            means of the last two windows (eps, the quantity SEM is for, is stable).
        ridge: linear link only: ``ridge * I`` added to the feature block of the M step's normal
            equations (a Gaussian prior on the feature weights; 0 = the paper's estimator).
        warm_sweeps: linear link only: CAVI sweeps run first; ``z`` then starts from
            ``Bernoulli(q_cavi)`` (0 = start from ``Bernoulli(start.q)``). A better start keeps
            the single-site Gibbs moves out of poor local modes.
        link_options: for a non-linear link, options of
            :class:`genz_pyro.infer.em.LinkTrainer` (``lr``, ``batch_size``, ``m_epochs``,
            ``init_epochs``, ``chunk``).
    """
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))
    module = sem_link(link, data, seed=seed, ridge=ridge, link_options=link_options)
    if module is None:
        if warm_sweeps > 0 and data.num_features:
            warm = fit_cavi(data, start, max_sweeps=warm_sweeps, tol=0.0, block_size=block_size, ridge=ridge)
            start = replace(start, eps=warm.eps.double(), q=warm.q.double())
        res = _sem_linear(data, start, gen, max_sweeps, tol, num_average, window, block_size, eps_tol, ridge)
    else:
        res = _sem_any(data, start, module, gen, max_sweeps, tol, num_average, window, seed, link_options)
    res.wall_time = time.perf_counter() - t0
    return res


@dataclass
class SemRun:
    """What :func:`sem_average` returns.

    Attributes:
        means: the step's averaged values over the last ``num_average`` sweeps, in its order.
        bound_history: the per-sweep objective. converged: burn-in ended by its rule (not by
            ``max_sweeps``). num_sweeps: burn-in plus averaging sweeps.
    """

    means: list[torch.Tensor]
    bound_history: list[float]
    converged: bool
    num_sweeps: int
    num_average: int

    def info(self, tol: float, **extra: object) -> dict:
        """The engines' ``info`` dict: ``num_average``, ``burn_in``, ``tol_per_item`` and ``extra``."""
        return {"num_average": self.num_average, "burn_in": self.num_sweeps - self.num_average, "tol_per_item": tol, **extra}


def sem_average(
    step: Callable[[], tuple[float, torch.Tensor | None, tuple[torch.Tensor, ...]]],
    *,
    num_average: int,
    max_sweeps: int,
    window: int,
    tol_total: float,
    eps_tol: float,
    converged: bool,
) -> SemRun:
    """Burn-in, then averaging: the sweep bookkeeping shared by every SEM engine.

    ``step()`` runs one sweep and returns ``(objective, trace, values)``: the per-sweep
    objective (total nats), the flat ``[P]`` prior-side parameters for the ``eps_tol`` rule
    (``None``: no such rule) and the tensors to average. Burn-in ends when ``converged`` (given:
    nothing to learn), by :func:`_window_stop` (``tol_total`` nats) or :func:`_eps_stable`, or
    after ``max_sweeps`` sweeps; the next ``num_average`` sweeps (the ending one included)
    are averaged.
    """
    history: list[float] = []
    trace: list[torch.Tensor] = []
    acc: list[torch.Tensor] = []
    averaging = 0
    sweeps = 0
    while averaging < num_average:
        sweeps += 1
        objective, flat, values = step()
        history.append(objective)
        if flat is not None:
            trace.append(flat)
        if averaging == 0 and not converged:
            converged = _window_stop(history, window, tol_total) or _eps_stable(trace, window, eps_tol)
            if not converged and sweeps < max_sweeps:
                continue
        averaging += 1
        if not acc:
            acc = [torch.zeros_like(v) for v in values]
        for total, v in zip(acc, values):
            total += v
    return SemRun([total / num_average for total in acc], history, converged, sweeps, num_average)


def linear_sem_start(
    ld: LinearData, q: torch.Tensor, gen: torch.Generator, *, ridge: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(zt [K, N], W [P, D], sigma2 [D])``: ``z ~ Bernoulli(q [N, K])`` (transposed) and the
    mean-field M step at ``q``."""
    zt = (torch.rand(ld.k, ld.n, generator=gen, dtype=torch.float64) < q.T).double()
    szz, szy = suff_stats(ld, q.T.contiguous(), mean_field=True)
    w, sigma2, _ = m_step_linear(ld, szz, szy, ridge=ridge)
    return zt, w, sigma2


def linear_gibbs_step(
    ld: LinearData,
    zt: torch.Tensor,
    w: torch.Tensor,
    sigma2: torch.Tensor,
    gen: torch.Generator,
    probs: torch.Tensor,
    field: Callable[[], tuple[torch.Tensor, torch.Tensor | None]],
    *,
    block_size: int,
    ridge: float,
) -> tuple[SweepSums | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One linear-link SEM sweep: a blocked Gibbs draw of ``zt [K, N]`` (in place; the
    conditionals go to ``probs [K, N]``), then the least-squares M step on the sample.

    ``field()`` gives :func:`gauss_seidel`'s ``(eps, prior)`` (called only when ``K > 0``).

    Returns:
        ``(sums or None when K = 0, Szz, Szy, W [P, D], sigma2 [D], E [D])``.
    """
    sums = None
    if ld.k:
        base, g = e_field(ld, w, sigma2)
        uni = torch.rand(ld.k, ld.n, generator=gen, dtype=torch.float32)
        eps, prior = field()
        sums = gauss_seidel(zt, base, g, ld.sm, eps, block=block_size, uniforms=uni, probs=probs, entropy=False, prior=prior)
    szz, szy = suff_stats(ld, zt, mean_field=False)
    w, sigma2, e = m_step_linear(ld, szz, szy, ridge=ridge)
    return sums, szz, szy, w, sigma2, e


def link_sem_start(trainer: LinkTrainer, q: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z [N, K], sigma2 [D])``: ``z ~ Bernoulli(q)``, the link pretrained at ``z`` and its
    residual variance (no floor)."""
    z = (torch.rand(*q.shape, generator=gen, dtype=torch.float64) < q).double()
    trainer.pretrain(z)
    return z, trainer.residual_variance(z)


def link_gibbs_step(
    trainer: LinkTrainer,
    z: torch.Tensor,
    probs: torch.Tensor,
    prior: torch.Tensor,
    sigma2: torch.Tensor,
    gen: torch.Generator,
    floor: torch.Tensor,
) -> torch.Tensor:
    """One SEM sweep for any link: Gibbs over the features (all items at once) of ``z [N, K]``
    in place, the conditionals to ``probs [N, K]``, the prior log-odds ``prior [N, K]``; then
    the link's M step at the sample. Returns the new ``sigma2 [D]`` (floored)."""
    n, k = z.shape
    for j in range(k):
        logit = prior[:, j] + forced_logits(trainer, z, sigma2, features=[j])[:, 0]
        p = torch.sigmoid(logit)
        probs[:, j] = p
        z[:, j] = (torch.rand(n, generator=gen, dtype=torch.float64) < p).double()
    trainer.m_step(z)
    return torch.maximum(trainer.residual_variance(z), floor)


def _sem_linear(
    data: GenZData,
    start: Start,
    gen: torch.Generator,
    max_sweeps: int,
    tol: float,
    num_average: int,
    window: int,
    block_size: int,
    eps_tol: float,
    ridge: float,
) -> FitResult:
    ld = prepare_linear(data)
    k, n = ld.k, ld.n
    zt, w, sigma2 = linear_sem_start(ld, start.q, gen, ridge=ridge)
    probs = torch.empty(k, n, dtype=torch.float64)
    eps = start.eps.clone()

    def step() -> tuple[float, torch.Tensor, tuple[torch.Tensor, ...]]:
        nonlocal w, sigma2, eps
        sums, szz, szy, w, sigma2, _ = linear_gibbs_step(
            ld, zt, w, sigma2, gen, probs, lambda: (eps, soft_prior(data, eps)), block_size=block_size, ridge=ridge
        )
        agree = ld.c0 if sums is None else ld.c0 + sums.agree
        if data.is_soft and k:
            eps, prior = soft_step(data, probs.T, eps, start.learn, start.eps_prior)
            b = bound_linear(ld, w, sigma2, eps, szz, szy, agree, 0.0, prior=prior)
        else:
            eps = update_eps(ld.count - agree, ld.count, eps, start.learn, start.eps_prior)
            b = bound_linear(ld, w, sigma2, eps, szz, szy, agree, 0.0)
        return b + eps_log_prior(eps, start.learn, start.eps_prior), eps, (probs, w, sigma2, eps)

    run = sem_average(
        step, num_average=num_average, max_sweeps=max_sweeps, window=window, tol_total=tol * n, eps_tol=eps_tol,
        converged=k == 0,
    )
    q_mean, w, sigma2, eps_mean = run.means
    q = q_mean.T
    eps = torch.where(start.learn, eps_mean, start.eps)
    link = linear_link_from(w, k, torch.float64)
    run.bound_history.append(float(mean_field_bound(data, q, eps, link, sigma2).sum())
                             + eps_log_prior(eps, start.learn, start.eps_prior))
    return engine_result(
        data,
        start,
        q=q,
        eps=eps,
        link=link.to(data.targets.dtype),
        sigma2=sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        wall_time=0.0,
        engine="sem",
        num_sweeps=run.num_sweeps,
        info=run.info(tol, ridge=ridge),
    )


def _sem_any(
    data: GenZData,
    start: Start,
    module: nn.Module,
    gen: torch.Generator,
    max_sweeps: int,
    tol: float,
    num_average: int,
    window: int,
    seed: int,
    link_options: dict,
) -> FitResult:
    trainer = LinkTrainer(module, data, seed=seed, **link_options)  # type: ignore[arg-type]
    n, k = data.judgments.shape
    z, sigma2 = link_sem_start(trainer, start.q, gen)
    eps = start.eps.clone()
    floor = sigma2_floor(data.targets)
    mask = torch.ones(n, k, dtype=torch.float64) if data.missing is None else (~data.missing).double()
    s = data.judgments.double()
    count = mask.sum(0)
    probs = torch.zeros(n, k, dtype=torch.float64)

    def step() -> tuple[float, None, tuple[torch.Tensor, ...]]:
        nonlocal sigma2, eps
        sigma2 = link_gibbs_step(trainer, z, probs, data.prior_logits(eps).double(), sigma2, gen, floor)
        if data.is_soft:
            eps = soft_update_eps(probs, s, mask, eps, start.learn, prior=start.eps_prior)
        else:
            disagree = (mask * (probs * (1 - s) + (1 - probs) * s)).sum(0)
            eps = update_eps(disagree, count, eps, start.learn, start.eps_prior)
        b = float(mean_field_bound(data, probs, eps, module, sigma2, seed=seed).sum())
        return b + eps_log_prior(eps, start.learn, start.eps_prior), None, (probs, eps, sigma2)

    run = sem_average(
        step, num_average=num_average, max_sweeps=max_sweeps, window=window, tol_total=tol * n, eps_tol=0.0,
        converged=k == 0,
    )
    q, eps_mean, sigma2 = run.means
    eps = torch.where(start.learn, eps_mean, start.eps)
    module.eval()
    run.bound_history.append(float(mean_field_bound(data, q, eps, module, sigma2, seed=seed).sum())
                             + eps_log_prior(eps, start.learn, start.eps_prior))
    return engine_result(
        data,
        start,
        q=q,
        eps=eps,
        link=module,
        sigma2=sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        wall_time=0.0,
        engine="sem",
        num_sweeps=run.num_sweeps,
        info=run.info(tol),
    )
