"""Validated starting values shared by every engine: eps, the decoupled switch, q_init.

Also the constants every engine applies: eps is clipped to ``[EPS_MIN, 0.5]`` and the
noise variance has a floor (``SIGMA2_FLOOR`` times the target's variance, plus a tiny
absolute term) because a perfect reconstruction (the binary experiment: 9 bit features
rebuild the numbers 0..511 exactly) drives the residual, and so the variance, to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.models.genz import beta_log_density, check_prior

__all__ = [
    "EPS_MIN",
    "SIGMA2_FLOOR",
    "SOFT_EPS_PRIOR",
    "Start",
    "prepare_start",
    "eps_log_prior",
    "sigma2_floor",
    "soft_disagreement",
    "soft_update_eps",
    "update_eps",
]

EPS_MIN = 1e-3
SIGMA2_FLOOR = 1e-6
#: The default strength of the prior on eps (``fit``) and on the judges' rates (``fit_judges``)
#: for soft judgments: ``Beta(1.3, 1.3)``, 0.3 pseudo-disagreements and 0.3 pseudo-agreements
#: (tests/local/test_quality.py, tests/infer/test_eps_prior.py); 0 for hard judgments.
SOFT_EPS_PRIOR = 0.3


@dataclass(frozen=True)
class Start:
    """Starting point of a fit (all float64).

    Attributes:
        eps: ``[K]`` initial flip probabilities (0.5 where decoupled).
        decoupled: ``[K]`` bool.
        q: ``[N, K]`` initial posterior.
        learn: ``[K]`` bool, True where eps is re-estimated (learn_eps and not decoupled).
        eps_prior: strength ``a >= 0`` of the symmetric ``Beta(1 + a, 1 + a)`` prior on each
            learned eps (0: none, the paper's maximum likelihood); the M step is then the MAP
            (:func:`update_eps`) and the engines' bound gains :func:`eps_log_prior`.
    """

    eps: torch.Tensor
    decoupled: torch.Tensor
    q: torch.Tensor
    learn: torch.Tensor
    eps_prior: float = 0.0


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    try:
        if isinstance(value, torch.Tensor):
            return value.detach()
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: could not convert to a tensor ({exc}); pass a numpy array or torch tensor") from exc


def prepare_start(
    data: GenZData,
    *,
    eps: Any | None = None,
    decoupled: Any | None = None,
    learn_eps: bool = True,
    q_init: Any | None = None,
    eps_prior: float = 0.0,
) -> Start:
    """Check ``eps``, ``decoupled`` and ``q_init`` against ``data`` and build the start.

    Defaults: eps 0.1 for coupled features and 0.5 for decoupled ones (an eps given for a
    decoupled feature is replaced by 0.5); ``q_init`` from the judgments,
    ``q = s (1 - eps) + (1 - s) eps`` (0.5 where the judgment is missing).

    Raises:
        ValueError: naming the argument and the fix (shape, range, NaN).
    """
    n, k = data.judgments.shape
    if decoupled is None:
        dec = torch.zeros(k, dtype=torch.bool)
    else:
        dec = _as_tensor(decoupled, "decoupled")
        if tuple(dec.shape) != (k,):
            raise ValueError(f"decoupled: expected a bool vector of shape ({k},) (one per feature), got {tuple(dec.shape)}")
        if dec.dtype != torch.bool:
            if not bool(((dec == 0) | (dec == 1)).all()):
                raise ValueError("decoupled: must be booleans (True where eps is held at 0.5)")
            dec = dec.bool()
    if eps is None:
        e = torch.full((k,), 0.1, dtype=torch.float64)
    else:
        e = _as_tensor(eps, "eps").double()
        if e.dim() == 0:
            e = e.expand(k).clone()
        if tuple(e.shape) != (k,):
            raise ValueError(f"eps: expected shape ({k},) (one flip probability per feature), got {tuple(e.shape)}")
        bad = ~((e > 0) & (e <= 0.5))
        if bool(bad.any()):
            j = int(bad.nonzero()[0])
            raise ValueError(
                f"eps: flip probability of feature {j} ({data.feature_names[j] if data.feature_names else j}) "
                f"is {float(e[j])}; it must be in (0, 0.5] (0.5 = decoupled)"
            )
        if learn_eps:  # a learned eps starts inside the M step's clip; a fixed one is kept as given
            e = e.clamp(min=EPS_MIN)
    e = torch.where(dec, torch.full_like(e, 0.5), e)
    if q_init is None:
        s = data.judgments.double()
        q = s * (1.0 - e) + (1.0 - s) * e
        if data.missing is not None:
            q = q.masked_fill(data.missing, 0.5)
    else:
        q = _as_tensor(q_init, "q_init").double()
        if tuple(q.shape) != (n, k):
            raise ValueError(f"q_init: expected shape {(n, k)} (items x features), got {tuple(q.shape)}")
        if not bool(torch.isfinite(q).all()):
            raise ValueError("q_init: contains NaN or inf; pass probabilities in [0, 1]")
        if bool(((q < 0) | (q > 1)).any()):
            raise ValueError("q_init: values must be probabilities in [0, 1]; apply a sigmoid to logits first")
        q = q.clone()
    learn = (~dec) & bool(learn_eps)
    return Start(eps=e, decoupled=dec, q=q, learn=learn, eps_prior=float(check_prior(eps_prior)))


def eps_log_prior(eps: torch.Tensor, learn: torch.Tensor, prior: float) -> float:
    """``sum_k a (log eps_k + log(1 - eps_k))`` over the learned features: the log density of
    the ``Beta(1 + a, 1 + a)`` prior up to its constant (0 when ``a = 0``). ``eps, learn [K]``."""
    if prior == 0.0 or not bool(learn.any()):
        return 0.0
    return float(beta_log_density(eps.double()[learn], prior))


def sigma2_floor(y: torch.Tensor) -> torch.Tensor:
    """``[D]`` floor of the noise variance: ``SIGMA2_FLOOR * var(y_d) + 1e-12``."""
    var = y.double().var(0, unbiased=False) if y.shape[0] > 1 else torch.ones(y.shape[1], dtype=torch.float64)
    return SIGMA2_FLOOR * var + 1e-12


def update_eps(
    disagree: torch.Tensor, count: torch.Tensor, current: torch.Tensor, learn: torch.Tensor, prior: float = 0.0
) -> torch.Tensor:
    """Eq. 14: ``eps_k = expected disagreements / judged items``, clipped to ``[EPS_MIN, 0.5]``;
    with a ``Beta(1 + a, 1 + a)`` prior (``prior = a > 0``) the MAP
    ``(disagreements + a) / (judged items + 2 a)``: ``a`` pseudo-disagreements and ``a``
    pseudo-agreements, so an eps the data leave undetermined goes to 0.5 (the judge is not
    trusted) while ``N`` agreeing items still give ``a / (N + 2 a)``.

    Args:
        disagree: ``[K]`` summed expected disagreement over non-missing items.
        count: ``[K]`` number of non-missing judgments.
        current: ``[K]`` current eps (kept where ``learn`` is False or nothing was judged).
        learn: ``[K]`` bool.
        prior: the prior's strength ``a >= 0``.
    """
    est = ((disagree + prior) / (count + 2.0 * prior).clamp(min=1)).clamp(EPS_MIN, 0.5)
    return torch.where(learn & (count > 0), est, current)


def soft_disagreement(q: torch.Tensor, s: torch.Tensor, mask: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``[K]`` expected disagreements between ``z`` and a latent hard judgment drawn from a soft
    judgment ``s`` (``s~ ~ Bernoulli(s)``, so ``p(z = 1 | s) = s (1 - eps) + (1 - s) eps``),
    summed over non-missing items, under ``q(z)`` and the posterior of ``s~`` given ``z`` at ``eps``::

        d_n = q (1 - s) eps / p1 + (1 - q) s eps / (1 - p1),   p1 = s (1 - eps) + (1 - s) eps

    For hard judgments it is the usual ``q (1 - s) + (1 - q) s``. ``q, s, mask [N, K]``; ``eps [K]``.
    """
    p1 = s * (1.0 - eps) + (1.0 - s) * eps
    d = q * (1.0 - s) * eps / p1 + (1.0 - q) * s * eps / (1.0 - p1)
    return (mask * d).sum(0)


def soft_update_eps(
    q: torch.Tensor, s: torch.Tensor, mask: torch.Tensor, current: torch.Tensor, learn: torch.Tensor,
    *, iters: int = 200, tol: float = 1e-12, prior: float = 0.0,
) -> torch.Tensor:
    """The M step of eps with soft judgments: ``argmax_eps sum_n q log p1 + (1 - q) log(1 - p1)``
    (each term concave in eps), by the EM fixed point ``eps <- d(eps) / count``
    (:func:`soft_disagreement`; each step raises the objective) iterated to ``tol``; clipped to
    ``[EPS_MIN, 0.5]``. ``q, s, mask [N, K]``; ``current, learn [K]``. For hard judgments one
    step is the closed form of :func:`update_eps`. With ``prior = a > 0`` the objective gains
    ``a log(eps (1 - eps))`` (the Beta prior) and each step is :func:`update_eps`'s MAP.

    Soft judgments identify eps only weakly: where ``s`` is nearly the same for every item the
    prior ``p1`` is too, and eps sets only its base rate (matched to the mean of ``q``), so an
    unused feature's eps drifts; the prior (:func:`genz_pyro.infer.fit.fit`'s default for soft
    judgments) settles it at 0.5."""
    count = mask.sum(0)
    eps = current.clamp(EPS_MIN, 0.5)
    for _ in range(iters):
        new = update_eps(soft_disagreement(q, s, mask, eps), count, eps, learn, prior)
        done = float((new - eps).abs().max()) < tol if new.numel() else True
        eps = new
        if done:
            break
    return torch.where(learn & (count > 0), eps, current)
