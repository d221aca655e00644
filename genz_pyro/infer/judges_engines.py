"""The engines of the several-judges model: CAVI, stochastic EM and the paper's EM.

Each is its one-judge counterpart (:mod:`.cavi`, :mod:`.sem`, :mod:`.em`) with two changes,
both closed form (:mod:`.judge_rates`):

- the prior part of the E step is the table of prior log-odds given every judge's answers,
  ``l_nk = logit(pi_k) + sum_j log-likelihood ratio of judge j's answer``, in place of
  ``(2 s_nk - 1) log((1 - eps_k) / eps_k)`` (the field of ``z_nk`` is ``l_nk`` plus the link
  term, exactly as before; the kernels are shared: :func:`~.cavi.gauss_seidel` takes the
  table as ``prior``, :func:`~.em.forced_logits` gives the link term);
- the M step of eps becomes the M step of ``pi``, the false-yes and false-no rates
  (:func:`~.judge_rates.m_step_judges`), from the same posterior marginals (SEM: the
  Gibbs conditionals, Rao-Blackwellised).

The bound adds ``log p(s)`` of the answers: the objective is the mean-field bound on
``log p(y, s)``. With one judge, symmetric rates and ``pi = 1/2`` held, every update is
the one-judge engine's update (the prior table is ``(2 s - 1) log((1 - eps)/eps)`` and the
symmetric rate is the expected disagreement, eq. 14) and the bound differs from the
one-judge bound by the constant ``count log 1/2``: the fit is today's fit (tested to 1e-6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from genz_pyro.infer.bound import bernoulli_entropy, expected_log_lik
from genz_pyro.infer.cavi import (
    LinearData,
    cavi_sweeps,
    linear_link_from,
    m_step_linear,
    prepare_linear,
    suff_stats,
)
from genz_pyro.infer.em import LinkTrainer, em_sweeps, init_link
from genz_pyro.infer.judge_rates import (
    JudgeParams,
    JudgesStart,
    expected_log_prior,
    m_step_judges,
    prior_logits,
    rates_log_prior,
)
from genz_pyro.infer.sem import sem_link, link_gibbs_step, link_sem_start, linear_gibbs_step, linear_sem_start, sem_average
from genz_pyro.infer.start import sigma2_floor
from genz_pyro.judge_data import JudgesData

__all__ = ["EngineOutput", "judges_bound", "judges_cavi", "judges_sem", "judges_em"]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class EngineOutput:
    """What a judges engine hands to :func:`genz_pyro.infer.judges.fit_judges` (float64).

    Attributes:
        q: ``[N, K]`` posterior. params: the judges' parameters. link: the fitted link.
        sigma2: ``[D]``. bound_history, converged, engine, num_sweeps, info: as
        :class:`~genz_pyro.infer.judges.JudgesFit`.
    """

    q: torch.Tensor
    params: JudgeParams
    link: nn.Module
    sigma2: torch.Tensor
    bound_history: list[float]
    converged: bool
    engine: str
    num_sweeps: int
    info: dict


def judges_bound(
    data: JudgesData,
    q: torch.Tensor,
    params: JudgeParams,
    link: nn.Module,
    sigma2: torch.Tensor,
    decoupled: torch.Tensor | None = None,
    *,
    num_samples: int = 32,
    seed: int = 0,
) -> torch.Tensor:
    """Per-item mean-field bound on ``log p(y_n, s_n)``, ``[N]`` float64.

    ``E_q[log p(y_n | z_n)] + E_q[log p(z_n, s_n)] + H(q_n)``: the first term exact for the
    linear link, a common-random-number Monte Carlo average otherwise (as
    :func:`~genz_pyro.infer.bound.mean_field_bound`).
    """
    q64 = q.detach().double()
    ll = expected_log_lik(data.targets_only(), q64, link, sigma2, num_samples=num_samples, seed=seed)
    if data.num_features == 0:
        return ll
    return ll + expected_log_prior(data, q64, params, decoupled) + bernoulli_entropy(q64).sum(-1)


def _loglik(ld: LinearData, sigma2: torch.Tensor, e: torch.Tensor) -> float:
    """Expected Gaussian log-likelihood from the expected squared residuals ``e [D]``."""
    return -0.5 * ld.n * (ld.y.shape[1] * _LOG_2PI + float(torch.log(sigma2).sum())) - 0.5 * float((e / sigma2).sum())


def _flat(params: JudgeParams) -> torch.Tensor:
    return torch.cat([params.pi, params.false_yes.flatten(), params.false_no.flatten()])


def judges_cavi(
    data: JudgesData,
    start: JudgesStart,
    *,
    max_sweeps: int = 200,
    tol: float = 1e-5,
    block_size: int = 16,
    ridge: float = 0.0,
    e_sweeps: int = 1,
    anneal: int = 0,
) -> EngineOutput:
    """Exact mean-field coordinate ascent, linear link (options as :func:`~.cavi.fit_cavi`).

    The bound never decreases from sweep ``anneal + 1`` on (hard answers; soft ones too: the
    rates' step is an EM step)."""
    ld = prepare_linear(data.targets_only())
    k = ld.k
    dec = start.decoupled
    qt = start.q.T.contiguous().clone()

    def m_step(params: JudgeParams, agree: torch.Tensor, ent: float) -> tuple[torch.Tensor, torch.Tensor, JudgeParams, float]:
        szz, szy = suff_stats(ld, qt, mean_field=True)
        w, sigma2, e = m_step_linear(ld, szz, szy, ridge=ridge)
        params = m_step_judges(data, qt.T, start, params)
        prior = float(expected_log_prior(data, qt.T, params, dec).sum()) if k else 0.0
        return w, sigma2, params, _loglik(ld, sigma2, e) + prior + ent + rates_log_prior(params, start)

    run = cavi_sweeps(
        ld,
        qt,
        start.params,
        prior=lambda params: (params.pi, prior_logits(data, params, dec).T.contiguous()),
        m_step=m_step,
        max_sweeps=max_sweeps,
        tol=tol,
        block_size=block_size,
        e_sweeps=e_sweeps,
        anneal=anneal,
    )
    return EngineOutput(
        q=qt.T,
        params=run.state,
        link=linear_link_from(run.w, k, data.targets.dtype),
        sigma2=run.sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        engine="cavi",
        num_sweeps=run.num_sweeps,
        info=run.info(tol, block_size, ridge),
    )


def judges_sem(
    data: JudgesData,
    start: JudgesStart,
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
) -> EngineOutput:
    """Stochastic EM (options as :func:`~.sem.fit_sem`; ``eps_tol`` applies to pi and every rate)."""
    gen = torch.Generator().manual_seed(int(seed))
    module = sem_link(link, data.targets_only(), seed=seed, ridge=ridge, link_options=link_options)
    if module is None:
        if warm_sweeps > 0 and data.num_features:
            warm = judges_cavi(data, start, max_sweeps=warm_sweeps, tol=0.0, block_size=block_size, ridge=ridge)
            start = replace(start, params=warm.params, q=warm.q)
        return _sem_linear(data, start, gen, max_sweeps, tol, num_average, window, block_size, eps_tol, ridge)
    return _sem_any(data, start, module, gen, max_sweeps, tol, num_average, window, seed, link_options)


def _averaged(start: JudgesStart, pi: torch.Tensor, false_yes: torch.Tensor, false_no: torch.Tensor) -> JudgeParams:
    """The averaged parameters (``pi [K]``, rates ``[K, J]``) where they are learnt, the
    starting values elsewhere."""
    p0 = start.params
    rates = start.learn_rates[:, None]
    return JudgeParams(
        pi=torch.where(start.learn_pi, pi, p0.pi),
        false_yes=torch.where(rates, false_yes, p0.false_yes),
        false_no=torch.where(rates, false_no, p0.false_no),
    )


def _sem_linear(
    data: JudgesData,
    start: JudgesStart,
    gen: torch.Generator,
    max_sweeps: int,
    tol: float,
    num_average: int,
    window: int,
    block_size: int,
    eps_tol: float,
    ridge: float,
) -> EngineOutput:
    ld = prepare_linear(data.targets_only())
    k, n = ld.k, ld.n
    dec = start.decoupled
    zt, w, sigma2 = linear_sem_start(ld, start.q, gen, ridge=ridge)
    params = start.params
    probs = torch.empty(k, n, dtype=torch.float64)

    def step() -> tuple[float, torch.Tensor, tuple[torch.Tensor, ...]]:
        nonlocal w, sigma2, params
        _, _, _, w, sigma2, e = linear_gibbs_step(
            ld,
            zt,
            w,
            sigma2,
            gen,
            probs,
            lambda: (params.pi, prior_logits(data, params, dec).T.contiguous()),
            block_size=block_size,
            ridge=ridge,
        )
        if k:
            params = m_step_judges(data, probs.T, start, params)
        lp = float(expected_log_prior(data, probs.T, params, dec).sum()) if k else 0.0
        lp += rates_log_prior(params, start)
        return _loglik(ld, sigma2, e) + lp, _flat(params), (probs, w, sigma2, params.pi, params.false_yes, params.false_no)

    run = sem_average(
        step, num_average=num_average, max_sweeps=max_sweeps, window=window, tol_total=tol * n, eps_tol=eps_tol,
        converged=k == 0,
    )
    q_mean, w, sigma2, *rates = run.means
    q = q_mean.T
    params = _averaged(start, *rates)
    link = linear_link_from(w, k, torch.float64)
    run.bound_history.append(float(judges_bound(data, q, params, link, sigma2, dec).sum())
                             + rates_log_prior(params, start))
    return EngineOutput(
        q=q,
        params=params,
        link=link.to(data.targets.dtype),
        sigma2=sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        engine="sem",
        num_sweeps=run.num_sweeps,
        info=run.info(tol, ridge=ridge),
    )


def _sem_any(
    data: JudgesData,
    start: JudgesStart,
    module: nn.Module,
    gen: torch.Generator,
    max_sweeps: int,
    tol: float,
    num_average: int,
    window: int,
    seed: int,
    link_options: dict,
) -> EngineOutput:
    trainer = LinkTrainer(module, data.targets_only(), seed=seed, **link_options)  # type: ignore[arg-type]
    n, k = data.num_items, data.num_features
    dec = start.decoupled
    z, sigma2 = link_sem_start(trainer, start.q, gen)
    params = start.params
    floor = sigma2_floor(data.targets)
    probs = torch.zeros(n, k, dtype=torch.float64)

    def step() -> tuple[float, None, tuple[torch.Tensor, ...]]:
        nonlocal sigma2, params
        sigma2 = link_gibbs_step(trainer, z, probs, prior_logits(data, params, dec), sigma2, gen, floor)
        params = m_step_judges(data, probs, start, params)
        b = float(judges_bound(data, probs, params, module, sigma2, dec, seed=seed).sum()) + rates_log_prior(params, start)
        return b, None, (probs, sigma2, params.pi, params.false_yes, params.false_no)

    run = sem_average(
        step, num_average=num_average, max_sweeps=max_sweeps, window=window, tol_total=tol * n, eps_tol=0.0,
        converged=k == 0,
    )
    q, sigma2, *rates = run.means
    params = _averaged(start, *rates)
    module.eval()
    run.bound_history.append(float(judges_bound(data, q, params, module, sigma2, dec, seed=seed).sum())
                             + rates_log_prior(params, start))
    return EngineOutput(
        q=q,
        params=params,
        link=module,
        sigma2=sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        engine="sem",
        num_sweeps=run.num_sweeps,
        info=run.info(tol),
    )


def judges_em(
    data: JudgesData,
    start: JudgesStart,
    *,
    link: str | nn.Module = "linear",
    max_sweeps: int = 100,
    tol: float = 1e-5,
    at: str = "mode",
    seed: int = 0,
    bound_samples: int = 32,
    **trainer_options: object,
) -> EngineOutput:
    """The paper's EM, any link (options as :func:`~.em.fit_em`)."""
    if at not in ("mode", "mean"):
        raise ValueError(f"at: must be 'mode' (paper) or 'mean', got {at!r}")
    base_data = data.targets_only()
    module = init_link(link, base_data, seed=seed)
    trainer = LinkTrainer(module, base_data, seed=seed, **trainer_options)  # type: ignore[arg-type]
    k = data.num_features
    dec = start.decoupled
    run = em_sweeps(
        trainer,
        data.targets,
        start.q,
        start.params,
        prior=lambda params: prior_logits(data, params, dec),
        m_step=lambda params, q: m_step_judges(data, q, start, params) if k else params,
        bound=lambda q, params, sigma2: float(
            judges_bound(data, q, params, module, sigma2, dec, num_samples=bound_samples, seed=seed).sum()
        ) + rates_log_prior(params, start),
        at=at,
        max_sweeps=max_sweeps,
        tol=tol,
    )
    return EngineOutput(
        q=run.q,
        params=run.state,
        link=module,
        sigma2=run.sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        engine="em",
        num_sweeps=run.num_sweeps,
        info=run.info(at, trainer, tol),
    )
