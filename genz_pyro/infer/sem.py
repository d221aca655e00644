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

import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import mean_field_bound
from genz_pyro.infer.cavi import (
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
from genz_pyro.infer.start import Start, sigma2_floor, soft_update_eps, update_eps
from genz_pyro.models.links import LinearLink

__all__ = ["fit_sem"]


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
    module = init_link(link, data, seed=seed)
    if isinstance(module, LinearLink) and not link_options:
        if warm_sweeps > 0 and data.num_features:
            warm = fit_cavi(data, start, max_sweeps=warm_sweeps, tol=0.0, block_size=block_size, ridge=ridge)
            start = Start(eps=warm.eps.double(), decoupled=start.decoupled, q=warm.q.double(), learn=start.learn)
        res = _sem_linear(data, start, gen, max_sweeps, tol, num_average, window, block_size, eps_tol, ridge)
    else:
        if ridge:
            raise ValueError(f"ridge: only the linear link has a closed-form ridge; got link={link!r} (use weight decay)")
        res = _sem_any(data, start, module, gen, max_sweeps, tol, num_average, window, seed, link_options)
    res.wall_time = time.perf_counter() - t0
    return res


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
    soft = data.is_soft
    zt = (torch.rand(k, n, generator=gen, dtype=torch.float64) < start.q.T).double()
    eps = start.eps.clone()
    szz, szy = suff_stats(ld, start.q.T.contiguous(), mean_field=True)
    w, sigma2, _ = m_step_linear(ld, szz, szy, ridge=ridge)
    probs = torch.empty(k, n, dtype=torch.float64)
    history: list[float] = []
    acc_q = torch.zeros(k, n, dtype=torch.float64)
    acc_w = torch.zeros_like(w)
    acc_s2 = torch.zeros_like(sigma2)
    acc_eps = torch.zeros_like(eps)
    converged = k == 0
    averaging = 0
    sweeps = 0
    eps_trace: list[torch.Tensor] = []
    while averaging < num_average:
        sweeps += 1
        ent = 0.0
        agree = ld.c0
        if k:
            base, g = e_field(ld, w, sigma2)
            uni = torch.rand(k, n, generator=gen, dtype=torch.float32)
            sums = gauss_seidel(zt, base, g, ld.sm, eps, block=block_size, uniforms=uni, probs=probs, entropy=False,
                                prior=soft_prior(data, eps))
            agree = ld.c0 + sums.agree
        szz, szy = suff_stats(ld, zt, mean_field=False)
        w, sigma2, _ = m_step_linear(ld, szz, szy, ridge=ridge)
        if soft and k:
            eps, prior = soft_step(data, probs.T, eps, start.learn)
            history.append(bound_linear(ld, w, sigma2, eps, szz, szy, agree, ent, prior=prior))
        else:
            eps = update_eps(ld.count - agree, ld.count, eps, start.learn)
            history.append(bound_linear(ld, w, sigma2, eps, szz, szy, agree, ent))
        eps_trace.append(eps)
        if averaging == 0 and not converged:
            converged = _window_stop(history, window, tol * n) or _eps_stable(eps_trace, window, eps_tol)
            if not converged and sweeps < max_sweeps:
                continue
        averaging += 1
        acc_q += probs if k else 0.0
        acc_w += w
        acc_s2 += sigma2
        acc_eps += eps
    dtype = data.targets.dtype
    q = (acc_q / num_average).T
    eps = torch.where(start.learn, acc_eps / num_average, start.eps)
    w = acc_w / num_average
    sigma2 = acc_s2 / num_average
    link = linear_link_from(w, k, torch.float64)
    final = float(mean_field_bound(data, q, eps, link, sigma2).sum())
    history.append(final)
    return engine_result(
        data,
        start,
        q=q,
        eps=eps,
        link=link.to(dtype),
        sigma2=sigma2,
        bound_history=history,
        converged=converged,
        wall_time=0.0,
        engine="sem",
        num_sweeps=sweeps,
        info={"num_average": num_average, "burn_in": sweeps - num_average, "tol_per_item": tol, "ridge": ridge},
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
    z = (torch.rand(n, k, generator=gen, dtype=torch.float64) < start.q).double()
    eps = start.eps.clone()
    trainer.pretrain(z)
    sigma2 = trainer.residual_variance(z)
    floor = sigma2_floor(data.targets)
    mask = torch.ones(n, k, dtype=torch.float64) if data.missing is None else (~data.missing).double()
    s = data.judgments.double()
    soft = data.is_soft
    count = mask.sum(0)
    history: list[float] = []
    acc_q = torch.zeros(n, k, dtype=torch.float64)
    acc_eps = torch.zeros_like(eps)
    acc_s2 = torch.zeros_like(sigma2)
    converged = k == 0
    averaging = 0
    sweeps = 0
    probs = torch.zeros(n, k, dtype=torch.float64)
    while averaging < num_average:
        sweeps += 1
        prior = data.prior_logits(eps).double()
        for j in range(k):  # Gibbs: one feature at a time, all items at once
            logit = prior[:, j] + forced_logits(trainer, z, sigma2, features=[j])[:, 0]
            p = torch.sigmoid(logit)
            probs[:, j] = p
            z[:, j] = (torch.rand(n, generator=gen, dtype=torch.float64) < p).double()
        trainer.m_step(z)
        sigma2 = torch.maximum(trainer.residual_variance(z), floor)
        if soft:
            eps = soft_update_eps(probs, s, mask, eps, start.learn)
        else:
            disagree = (mask * (probs * (1 - s) + (1 - probs) * s)).sum(0)
            eps = update_eps(disagree, count, eps, start.learn)
        history.append(float(mean_field_bound(data, probs, eps, module, sigma2, seed=seed).sum()))
        if averaging == 0 and not converged:
            converged = _window_stop(history, window, tol * n)
            if not converged and sweeps < max_sweeps:
                continue
        averaging += 1
        acc_q += probs
        acc_eps += eps
        acc_s2 += sigma2
    q = acc_q / num_average
    eps = torch.where(start.learn, acc_eps / num_average, start.eps)
    sigma2 = acc_s2 / num_average
    module.eval()
    history.append(float(mean_field_bound(data, q, eps, module, sigma2, seed=seed).sum()))
    return engine_result(
        data,
        start,
        q=q,
        eps=eps,
        link=module,
        sigma2=sigma2,
        bound_history=history,
        converged=converged,
        wall_time=0.0,
        engine="sem",
        num_sweeps=sweeps,
        info={"num_average": num_average, "burn_in": sweeps - num_average, "tol_per_item": tol},
    )
