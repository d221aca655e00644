"""The judges' side of the several-judges model: parameters, prior log-odds, closed-form M step.

Generative form (one latent feature ``z_nk`` per item and feature, ``J`` judges)::

    z_nk          ~ Bernoulli(pi_k)
    s_nkj | z_nk  ~ Bernoulli(1 - b_kj)   if z_nk = 1      b: false-no rate  P(no | z = 1)
                    Bernoulli(a_kj)       if z_nk = 0      a: false-yes rate P(yes | z = 0)

A soft answer ``s in [0, 1]`` (the judge's P(yes)) enters as virtual evidence: its likelihood
is ``L(z) = s P(yes | z) + (1 - s) P(no | z)``, which is the Bernoulli likelihood above for
``s in {0, 1}`` (a latent hard answer ``t ~ Bernoulli(s)`` that the judge would have given).

Given the parameters, the answers of item ``n`` on feature ``k`` give ``z_nk`` the prior
log-odds (everything the engines need from the judges)::

    l_nk = log(pi_k / (1 - pi_k)) + sum_j [log L_nkj(1) - log L_nkj(0)]     (observed answers)

and ``log p(z_nk = 0, s_nk.) = log(1 - pi_k) + sum_j log L_nkj(0)``. A *decoupled* feature
ignores its answers (``l = 0``, ``z ~ Bernoulli(1/2)``). With one judge, ``a = b = eps`` and
``pi = 1/2`` the log-odds are ``(2 s - 1) log((1 - eps) / eps)``: today's model
(:mod:`genz_pyro.models.genz`) exactly.

M step (closed form, from the posterior marginals ``q [N, K]``): ``pi_k = mean_n q_nk``; with
the expected counts ``n0 = sum (1 - q)``, ``n0y = sum (1 - q) P(t = yes | z = 0, s)``,
``n1 = sum q``, ``n1n = sum q P(t = no | z = 1, s)`` over the observed answers (summed over
features too when the rates are *shared* by a judge's features)::

    a = n0y / n0,   b = n1n / n1                   (asymmetric)
    a = b = (n0y + n1n) / (n0 + n1)                (symmetric: one flip rate, the paper's eps)

constrained to ``a + b <= 1`` (a judge is no worse than a coin: this fixes the meaning of
``z = 1`` as the judges' "yes"; where the counts say otherwise the constrained maximum is the
uninformative judge ``a = 1 - b`` = its overall rate of yes) and clipped to
``[EPS_MIN, 1 - EPS_MIN]`` (symmetric: ``[EPS_MIN, 0.5]``). For hard answers
``P(t = yes | z, s) = s``; for soft ones the step is an EM step over ``t`` (the bound never
decreases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from genz_pyro.infer.start import EPS_MIN
from genz_pyro.models.genz import check_prior
from genz_pyro.judge_data import JudgesData
from genz_pyro.models.judges import RATE_MAX, rates_log_density

__all__ = [
    "JudgeParams",
    "JudgesStart",
    "prepare_judges_start",
    "answer_logliks",
    "prior_logits",
    "log_p_zero",
    "expected_log_prior",
    "m_step_judges",
    "rates_log_prior",
    "RATE_MAX",
]

@dataclass(frozen=True)
class JudgeParams:
    """Parameters of the judges (float64).

    Attributes:
        pi: ``[K]`` prior probability ``p(z_nk = 1)``.
        false_yes: ``[K, J]`` ``a_kj = P(judge j says yes | z_nk = 0)``.
        false_no: ``[K, J]`` ``b_kj = P(judge j says no | z_nk = 1)``.
    """

    pi: torch.Tensor
    false_yes: torch.Tensor
    false_no: torch.Tensor

    def error_rate(self) -> torch.Tensor:
        """``[K, J]`` probability that judge ``j`` contradicts ``z`` on feature ``k``:
        ``pi b + (1 - pi) a``."""
        p = self.pi[:, None]
        return p * self.false_no + (1 - p) * self.false_yes


@dataclass(frozen=True)
class JudgesStart:
    """Starting point and switches of a fit (float64 / bool tensors).

    Attributes:
        params: initial :class:`JudgeParams` (pi 0.5 on decoupled features).
        q: ``[N, K]`` initial posterior.
        decoupled: ``[K]`` bool: these features ignore their answers (``z ~ Bernoulli(1/2)``).
        learn_pi: ``[K]`` bool, where pi is re-estimated.
        learn_rates: ``[K]`` bool, where the rates are re-estimated.
        shared: one pair of rates per judge, shared by all its (coupled) features.
        symmetric: false-yes rate = false-no rate (one flip rate per judge and feature).
        rate_prior: strength ``a >= 0`` of a ``Beta(1 + a, 1 + a)`` prior on each learnt rate
            (the one-judge model's ``eps_prior``), a float or one per judge ``[J]``: the M step
            is the MAP and the engines' bound gains :func:`rates_log_prior`; 0: none.
    """

    params: JudgeParams
    q: torch.Tensor
    decoupled: torch.Tensor
    learn_pi: torch.Tensor
    learn_rates: torch.Tensor
    shared: bool
    symmetric: bool
    rate_prior: float | torch.Tensor = 0.0


def _tensor(value: Any, name: str) -> torch.Tensor:
    try:
        t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: could not convert to a tensor ({exc}); pass numbers") from exc
    return t.double() if t.dtype != torch.bool else t


def _rates(value: Any, name: str, k: int, j: int, hi: float) -> torch.Tensor:
    """``[K, J]`` rates from a scalar, ``[J]`` (one per judge) or ``[K, J]``."""
    t = _tensor(0.1 if value is None else value, name)
    if t.dim() == 0:
        t = t.expand(k, j)
    elif t.dim() == 1 and t.shape[0] == j:
        t = t.expand(k, j)
    if tuple(t.shape) != (k, j):
        raise ValueError(f"{name}: expected a scalar, [J] = [{j}] or [K, J] = [{k}, {j}] rates, got {tuple(t.shape)}")
    bad = ~(torch.isfinite(t) & (t > 0) & (t <= hi))
    if bool(bad.any()):
        f, g = (int(v) for v in bad.nonzero()[0])
        raise ValueError(
            f"{name}: rate of feature {f}, judge {g} is {float(t[f, g])}; it must lie in (0, {hi}] "
            "(a judge that is wrong more often than right on a feature: reverse its answers)"
        )
    return t.clamp(min=EPS_MIN).clone()


def prepare_judges_start(
    data: JudgesData,
    *,
    pi: Any | None = None,
    false_yes: Any | None = None,
    false_no: Any | None = None,
    learn_pi: bool = True,
    learn_rates: bool = True,
    shared: bool = False,
    symmetric: bool = False,
    decoupled: Any | None = None,
    q_init: Any | None = None,
    rate_prior: float | Any = 0.0,
) -> JudgesStart:
    """Check the starting values and switches against ``data``.

    Defaults: ``pi = 0.5``, both rates 0.1 (``symmetric``: ``false_no`` must equal
    ``false_yes`` or be omitted), ``q`` the prior given the answers at these values.

    Raises:
        ValueError: naming the argument and the fix.
    """
    n, k, j = data.answers.shape
    if decoupled is None:
        dec = torch.zeros(k, dtype=torch.bool)
    else:
        dec = _tensor(decoupled, "decoupled")
        if tuple(dec.shape) != (k,):
            raise ValueError(f"decoupled: expected a bool vector of shape ({k},) (one per feature), got {tuple(dec.shape)}")
        if dec.dtype != torch.bool:
            if not bool(((dec == 0) | (dec == 1)).all()):
                raise ValueError("decoupled: must be booleans (True where a feature ignores its answers)")
            dec = dec.bool()
    p = _tensor(0.5 if pi is None else pi, "pi")
    if p.dim() == 0:
        p = p.expand(k)
    if tuple(p.shape) != (k,):
        raise ValueError(f"pi: expected a scalar or shape ({k},) (one prior probability per feature), got {tuple(p.shape)}")
    if bool((~torch.isfinite(p) | (p <= 0) | (p >= 1)).any()):
        raise ValueError(f"pi: prior probabilities must lie in (0, 1), got {p.tolist()}")
    p = torch.where(dec, torch.full_like(p, 0.5), p.clamp(EPS_MIN, RATE_MAX))
    hi = 0.5 if symmetric else RATE_MAX
    a = _rates(false_yes, "false_yes", k, j, hi)
    if symmetric:
        if false_no is not None and not torch.equal(_rates(false_no, "false_no", k, j, hi), a):
            raise ValueError("false_no: symmetric=True uses one flip rate per judge; pass false_yes only")
        b = a.clone()
    else:
        b = _rates(false_no, "false_no", k, j, hi)
    if bool((a + b > 1 + 1e-12).any()):
        raise ValueError("false_yes, false_no: a judge needs false_yes + false_no <= 1 (better than a coin)")
    if shared and not (torch.equal(a, a[:1].expand(k, j)) and torch.equal(b, b[:1].expand(k, j))):
        raise ValueError("false_yes/false_no: shared=True needs one rate per judge ([J] or a scalar), not [K, J]")
    params = JudgeParams(pi=p, false_yes=a, false_no=b)
    if q_init is None:
        q = torch.sigmoid(prior_logits(data, params, dec))
    else:
        q = _tensor(q_init, "q_init")
        if tuple(q.shape) != (n, k):
            raise ValueError(f"q_init: expected shape {(n, k)} (items x features), got {tuple(q.shape)}")
        if not bool(torch.isfinite(q).all()) or bool(((q < 0) | (q > 1)).any()):
            raise ValueError("q_init: values must be probabilities in [0, 1]")
        q = q.clone()
    return JudgesStart(
        params=params,
        q=q,
        decoupled=dec,
        learn_pi=(~dec) & bool(learn_pi),
        learn_rates=(~dec) & bool(learn_rates),
        shared=bool(shared),
        symmetric=bool(symmetric),
        rate_prior=check_prior(rate_prior, "rate_prior", size=j),
    )


def rates_log_prior(params: JudgeParams, start: JudgesStart) -> float:
    """``a sum log(r (1 - r))`` over the learnt rates (``a = start.rate_prior``): the log density
    of their ``Beta(1 + a, 1 + a)`` prior up to its constant. A symmetric pair counts once
    (one flip rate), and shared rates once per judge."""
    a = torch.as_tensor(start.rate_prior, dtype=torch.float64)  # scalar or [J]
    if not bool((a > 0).any()):
        return 0.0
    return float(rates_log_density(params.false_yes, params.false_no, start.learn_rates, a,
                                   shared=start.shared, symmetric=start.symmetric))


def _likelihoods(data: JudgesData, params: JudgeParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(s, L1, L0)``, each ``[N, K, J]`` float64: the answers and ``L(z) = s P(yes|z) + (1-s) P(no|z)``."""
    s = data.answers.double()
    a, b = params.false_yes, params.false_no
    return s, s * (1 - b) + (1 - s) * b, s * a + (1 - s) * (1 - a)


def answer_logliks(data: JudgesData, params: JudgeParams) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log L(z = 1), log L(z = 0))``, each ``[N, K, J]`` float64, 0 where the answer is missing."""
    a, b = params.false_yes, params.false_no
    if not data.is_soft:  # log L is log(1 - b) or log b (z = 1), log a or log(1 - a) (z = 0)
        yes, no, _ = (w.permute(1, 0, 2) for w in data.answer_weights)
        return yes * torch.log1p(-b) + no * torch.log(b), yes * torch.log(a) + no * torch.log1p(-a)
    _, l1, l0 = _likelihoods(data, params)
    obs = data.observed()
    return torch.log(l1) * obs, torch.log(l0) * obs


def _summed(data: JudgesData, params: JudgeParams) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum_j [log L(1) - log L(0)], sum_j log L(0))``, each ``[N, K]`` (hard answers: two
    products with the answer weights, no ``[N, K, J]`` logarithm)."""
    a, b = params.false_yes, params.false_no
    if not data.is_soft:  # [K, N, 2J] x [K, 2J, 2]: the log-likelihood ratio and log L(0), summed over j
        la, l1a, lb, l1b = torch.log(a), torch.log1p(-a), torch.log(b), torch.log1p(-b)
        coef = torch.stack([torch.cat([l1b - la, lb - l1a], -1), torch.cat([la, l1a], -1)], -1)
        out = torch.bmm(data.yes_no, coef)  # [K, N, 2]
        return out[..., 0].T, out[..., 1].T
    ll1, ll0 = answer_logliks(data, params)
    return (ll1 - ll0).sum(-1), ll0.sum(-1)


def prior_logits(data: JudgesData, params: JudgeParams, decoupled: torch.Tensor | None = None) -> torch.Tensor:
    """``[N, K]`` prior log-odds of ``z_nk = 1`` given every judge's answers (0 where decoupled)."""
    pi = params.pi
    out = (torch.log(pi) - torch.log1p(-pi)) + _summed(data, params)[0]
    if decoupled is not None and bool(decoupled.any()):
        out = out.masked_fill(decoupled, 0.0)
    return out


def log_p_zero(data: JudgesData, params: JudgeParams, decoupled: torch.Tensor | None = None) -> torch.Tensor:
    """``[N, K]`` ``log p(z_nk = 0, s_nk.)`` (``log 1/2`` where decoupled: the answers are ignored)."""
    out = torch.log1p(-params.pi) + _summed(data, params)[1]
    if decoupled is not None and bool(decoupled.any()):
        out = out.masked_fill(decoupled, math.log(0.5))
    return out


def expected_log_prior(
    data: JudgesData, q: torch.Tensor, params: JudgeParams, decoupled: torch.Tensor | None = None
) -> torch.Tensor:
    """``[N]`` ``E_q[log p(z_n, s_n)] = sum_k [log p(z = 0, s) + q l]`` (answers included)."""
    q = q.double()
    lr, l0 = _summed(data, params)
    pi = params.pi
    logit, zero = (torch.log(pi) - torch.log1p(-pi)) + lr, torch.log1p(-pi) + l0
    if decoupled is not None and bool(decoupled.any()):
        logit, zero = logit.masked_fill(decoupled, 0.0), zero.masked_fill(decoupled, math.log(0.5))
    return (zero + q * logit).sum(-1)


def _counts(
    data: JudgesData, q: torch.Tensor, a: torch.Tensor, b: torch.Tensor, start: JudgesStart
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Expected counts ``(n0, n0y, n1, n1n)``, each ``[K, J]``, at the rates ``(a, b)``: weight of
    ``z = 0``, its expected "yes", weight of ``z = 1``, its expected "no" (pooled over a judge's
    learnt features when ``shared``)."""
    if not data.is_soft:  # P(t = yes | z, s) = s: the counts are products with the answer weights
        yes, no, seen = data.answer_weights  # [K, N, J]
        q1 = q.T.contiguous().unsqueeze(1)  # [K, 1, N]
        q0 = 1 - q1

        def dot(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # sum_n x[k, n] w[k, n, j] -> [K, J]
            return torch.bmm(x, w).squeeze(1)

        out = (dot(seen, q0), dot(yes, q0), dot(seen, q1), dot(no, q1))
    else:
        obs = data.observed()
        s = data.answers.double()
        l1 = s * (1 - b) + (1 - s) * b
        l0 = s * a + (1 - s) * (1 - a)
        w1 = obs * q[..., None]
        w0 = obs * (1 - q[..., None])
        out = (w0.sum(0), (w0 * (s * a / l0)).sum(0), w1.sum(0), (w1 * ((1 - s) * b / l1)).sum(0))
    if start.shared:
        lw = start.learn_rates[:, None].expand_as(out[0]).double()
        out = tuple((x * lw).sum(0, keepdim=True).expand_as(lw) for x in out)  # type: ignore[assignment]
    return out


def m_step_judges(
    data: JudgesData, q: torch.Tensor, start: JudgesStart, params: JudgeParams, *, iters: int = 200, tol: float = 1e-12
) -> JudgeParams:
    """The M step of pi and the rates from the marginals ``q [N, K]`` (module doc).

    Hard answers: the closed form (one step). Soft answers: the EM step over each judge's
    latent hard answer iterated to its fixed point (``tol``, at most ``iters`` steps): the
    maximum in the rates of ``E_q[log p(s | z)]``, concave in each rate. A judge worse than a
    coin (``a + b > 1`` at that maximum) gets the maximum on ``a + b = 1``, its rate of yes.
    Entries that are not learnt (decoupled, ``learn_*=False``) or have no weight (nobody
    answered) keep their value in ``params``.
    """
    q = q.double()
    steps = iters if data.is_soft else 1
    a0, b0 = params.false_yes, params.false_no
    learn = start.learn_rates[:, None].expand_as(a0)
    hi = 0.5 if start.symmetric else RATE_MAX
    pr = torch.as_tensor(start.rate_prior, dtype=torch.float64)  # Beta(1 + pr, 1 + pr): scalar or [J]
    a, b = a0.clamp(EPS_MIN, hi), b0.clamp(EPS_MIN, hi)
    for _ in range(steps):
        n0, n0y, n1, n1n = _counts(data, q, a, b, start)
        if start.symmetric:
            tot = n0 + n1
            eps = ((n0y + n1n + pr) / (tot + 2 * pr).clamp(min=1e-300)).clamp(EPS_MIN, 0.5)
            new_a = new_b = torch.where(learn & (tot > 0), eps, a)
        else:
            new_a = torch.where(n0 > 0, (n0y + pr) / (n0 + 2 * pr).clamp(min=1e-300), a).clamp(EPS_MIN, RATE_MAX)
            new_b = torch.where(n1 > 0, (n1n + pr) / (n1 + 2 * pr).clamp(min=1e-300), b).clamp(EPS_MIN, RATE_MAX)
        done = float(torch.maximum((new_a - a).abs(), (new_b - b).abs()).max()) < tol if a.numel() else True
        a, b = new_a, new_b
        if done:
            break
    if not start.symmetric:
        coin = learn & (a + b > 1)
        if bool(coin.any()):  # the constrained maximum: an uninformative judge, a = 1 - b = its rate of yes
            yes = a
            for _ in range(steps):
                n0, n0y, n1, n1n = _counts(data, q, yes, 1 - yes, start)
                new = ((n0y + n1 - n1n + 2 * pr) / (n0 + n1 + 4 * pr).clamp(min=1e-300)).clamp(EPS_MIN, RATE_MAX)
                done = float((new - yes)[coin].abs().max()) < tol
                yes = new
                if done:
                    break
            a, b = torch.where(coin, yes, a), torch.where(coin, 1 - yes, b)
    new_a = torch.where(learn, a, a0)
    new_b = torch.where(learn, b, b0)
    pi = torch.where(start.learn_pi, q.mean(0).clamp(EPS_MIN, RATE_MAX), params.pi)
    return replace(params, pi=pi, false_yes=new_a, false_no=new_b)
