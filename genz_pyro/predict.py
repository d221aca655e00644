"""Prediction for new items from their judgments (and covariates) alone; the held-out bound.

For a new item only the foundation model's judgments ``s`` (and covariates ``u``) are known,
so ``z`` comes from its prior given ``s`` and the fitted flip probabilities::

    z_nk ~ Bernoulli(s_nk (1 - eps_k) + (1 - s_nk) eps_k)      (0.5 where s is missing)
    y_n  ~ Normal(f(z_n, u_n), diag(sigma2))

:func:`predict` draws from this posterior predictive with a vectorised sampler (the link
takes a leading sample dimension) and returns the mean and central intervals. For the
linear link the mean is exact: ``f(E[z], u)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from genz_pyro.data import GenZData
from genz_pyro.judge_data import JudgesData
from genz_pyro.infer.bound import link_dtype, mean_field_bound
from genz_pyro.infer.fit import posterior
from genz_pyro.infer.judge_rates import prior_logits
from genz_pyro.infer.judges import JudgesFit
from genz_pyro.infer.result import FitResult
from genz_pyro.models.links import LinearLink

__all__ = ["Prediction", "predict", "predict_judges", "predictive", "heldout_bound"]


@dataclass(frozen=True)
class Prediction:
    """Posterior predictive summary of new items.

    Attributes:
        mean: ``[N, D]`` predictive mean ``E[y_n | s_n, u_n]``.
        lower: ``[N, D]`` lower end of the central ``level`` interval.
        upper: ``[N, D]`` upper end.
        level: interval probability (e.g. 0.9).
        z_prob: ``[N, K]`` prior probability ``p(z_nk = 1 | s_nk, eps_k)`` used for the draws.
    """

    mean: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    level: float
    z_prob: torch.Tensor


def _as_data(result: FitResult, judgments: Any, covariates: Any | None, missing: Any | None) -> GenZData:
    k = int(result.eps.shape[0])
    d = int(result.sigma2.shape[0])
    s = torch.as_tensor(judgments).detach() if not isinstance(judgments, torch.Tensor) else judgments.detach()
    if s.dim() == 1:
        s = s.reshape(1, -1) if k > 1 or s.numel() == k else s.reshape(-1, 1)
    n = int(s.shape[0]) if s.dim() == 2 else 0
    if s.dim() != 2 or s.shape[1] != k:
        raise ValueError(f"judgments: expected shape [N, {k}] (the fitted features), got {tuple(s.shape)}")
    return _new_items(GenZData.create, n, d, s, covariates, missing)


def _new_items(create: Callable[..., Any], n: int, d: int, answers: Any, covariates: Any, missing: Any) -> Any:
    """``create(answers, zeros [N, D], covariates=, missing=)``: the new items validated by their
    container; one item (the containers need N >= 2) is validated as a duplicated row."""
    pad = n == 1
    dup = (lambda x: None if x is None else torch.cat([torch.as_tensor(x)] * 2, 0)) if pad else (lambda x: x)
    data = create(dup(answers), torch.zeros(2 if pad else n, d), covariates=dup(covariates), missing=dup(missing))
    return data.subset(range(1)) if pad else data


def _check_covariates(link: torch.nn.Module, c: int) -> None:
    c_fit = getattr(link, "covariate_dim", None)
    if c_fit is not None and c != c_fit:
        raise ValueError(f"covariates: the fit used C = {c_fit} covariate columns, got C = {c}")


def predict(
    result: FitResult,
    judgments: Any,
    *,
    covariates: Any | None = None,
    missing: Any | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    level: float = 0.9,
) -> Prediction:
    """Posterior predictive mean and ``level`` intervals of new items.

    Args:
        result: a fit (any engine, any link).
        judgments: ``[N, K]`` judgments of the new items (0/1; NaN = missing).
        covariates: ``[N, C]`` covariates if the fit used them.
        missing: ``[N, K]`` bool mask of missing judgments.
        num_samples: draws of ``(z, y)`` per item for the intervals (and the mean of a
            non-linear link).
        seed: seed of the draws.
        level: central interval probability in (0, 1).

    Returns:
        :class:`Prediction`.

    Raises:
        ValueError: bad shapes or values (named), ``level`` outside (0, 1), ``num_samples < 1``,
            covariates missing or unexpected for the fitted link.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), e.g. 0.9, got {level}")
    if num_samples < 1:
        raise ValueError(f"num_samples: must be >= 1, got {num_samples}")
    data = _as_data(result, judgments, covariates, missing)
    _check_covariates(result.link, data.covariate_dim)
    p = torch.sigmoid(data.prior_logits(result.eps.double()).double())  # [N, K]
    return predictive(result.link, result.sigma2, p, data.covariates, num_samples=num_samples, seed=seed, level=level)


def predictive(
    link: torch.nn.Module,
    sigma2: torch.Tensor,
    z_prob: torch.Tensor,
    covariates: torch.Tensor | None,
    *,
    num_samples: int = 1000,
    seed: int = 0,
    level: float = 0.9,
) -> Prediction:
    """Predictive mean and ``level`` intervals given ``p(z_nk = 1) = z_prob [N, K]`` (independent
    features), the link, ``sigma2 [D]`` and ``covariates [N, C]``: what :func:`predict` does once
    it has the prior of ``z`` (also used by the several-judges model,
    :func:`predict_judges`)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), e.g. 0.9, got {level}")
    if num_samples < 1:
        raise ValueError(f"num_samples: must be >= 1, got {num_samples}")
    was = link.training
    link.eval()
    p = z_prob.double()
    n, k = p.shape
    d = int(sigma2.shape[0])
    sd = sigma2.double().sqrt()
    gen = torch.Generator().manual_seed(int(seed))
    dtype = torch.get_default_dtype()
    ldt = link_dtype(link)
    c = 0 if covariates is None else int(covariates.shape[1])
    width = max(k + c, d, 64)
    chunk = max(1, 4_000_000 // (num_samples * width))
    means, lows, highs = [], [], []
    qs = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    try:
        with torch.no_grad():
            for i in range(0, n, chunk):
                pc = p[i : i + chunk]
                uc = None if covariates is None else covariates[i : i + chunk].to(ldt)
                z = (torch.rand((num_samples, *pc.shape), generator=gen, dtype=torch.float64) < pc).to(ldt)
                f = link(z, uc).double()  # [S, n, D]
                yv = f + sd * torch.randn(f.shape, generator=gen, dtype=torch.float64)
                if isinstance(link, LinearLink):
                    means.append(link(pc.to(ldt), uc).double())
                else:
                    means.append(f.mean(0))
                band = torch.quantile(yv, qs, dim=0)  # [2, n, D]
                lows.append(band[0])
                highs.append(band[1])
    finally:
        link.train(was)
    return Prediction(
        mean=torch.cat(means, 0).to(dtype),
        lower=torch.cat(lows, 0).to(dtype),
        upper=torch.cat(highs, 0).to(dtype),
        level=float(level),
        z_prob=p.to(dtype),
    )


def predict_judges(
    result: JudgesFit,
    answers: Any,
    *,
    covariates: Any | None = None,
    missing: Any | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    level: float = 0.9,
) -> Prediction:
    """:func:`predict` for the several-judges model: new items known by their answers
    ``[N, K, J]`` (the judges of the fit, NaN = missing) and covariates; ``z`` comes from its
    prior given every judge's answers (:func:`genz_pyro.infer.judge_rates.prior_logits`)."""
    k, j = result.params.false_yes.shape
    a = torch.as_tensor(answers).detach() if not isinstance(answers, torch.Tensor) else answers.detach()
    if a.dim() != 3 or tuple(a.shape[1:]) != (k, j):
        raise ValueError(f"answers: expected shape [N, {k}, {j}] (the fitted features and judges), got {tuple(a.shape)}")
    data = _new_items(JudgesData.create, int(a.shape[0]), int(result.sigma2.shape[0]), a, covariates, missing)
    _check_covariates(result.link, data.covariate_dim)
    p = torch.sigmoid(prior_logits(data, result.params, result.decoupled))
    return predictive(result.link, result.sigma2, p, data.covariates, num_samples=num_samples, seed=seed, level=level)


def heldout_bound(result: FitResult, data: GenZData, *, sweeps: int = 100) -> float:
    """Total mean-field bound (nats) of ``data`` under the fitted parameters.

    ``q`` comes from a mean-field E step with the parameters fixed
    (:func:`genz_pyro.infer.fit.posterior`); divide by ``data.num_items`` for a per-item figure.
    """
    q = posterior(result, data, sweeps=sweeps, exact=False)
    return float(mean_field_bound(data, q, result.eps, result.link, result.sigma2).sum())
