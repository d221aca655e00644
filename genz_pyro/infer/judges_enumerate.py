"""Exact posterior of the several-judges model by enumerating all ``2^K`` configurations.

The test oracle of the judges' engines (as :mod:`.enumerate` is for the one-judge model),
written from the generative form alone, one configuration ``c`` at a time::

    log p(z_n = c, s_n, y_n) = sum_k log Bernoulli(c_k | pi_k)
                             + sum_{k, j observed} log p(s_nkj | z_nk = c_k)
                             + log N(y_n | f(c, u_n), diag(sigma2))

with ``p(s | z) = s P(yes | z) + (1 - s) P(no | z)``, ``P(yes | 1) = 1 - b``,
``P(yes | 0) = a`` (a soft answer as virtual evidence); decoupled features ignore their
answers and have ``pi = 1/2``. Cost ``O(N 2^K (K J + D))``: K <= ~10.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genz_pyro.infer.enumerate import (
    ExactPosterior,
    all_configurations,
    config_log_lik,
    mean_field_optimum_of,
)
from genz_pyro.infer.judge_rates import JudgeParams
from genz_pyro.judge_data import JudgesData

__all__ = ["judges_exact_posterior", "judges_mean_field_optimum"]


def judges_exact_posterior(
    data: JudgesData,
    params: JudgeParams,
    *,
    link: nn.Module,
    sigma2: torch.Tensor,
    decoupled: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> ExactPosterior:
    """The exact posterior ``p(z_n | y_n, s_n)`` of every item, by enumeration.

    Returns:
        :class:`~genz_pyro.infer.enumerate.ExactPosterior`; its ``log_evidence [N]`` is
        ``log p(y_n, s_n)`` (the answers' probability included).
    """
    n, k, j = data.answers.shape
    configs = all_configurations(k)  # [M, K]
    dec = torch.zeros(k, dtype=torch.bool) if decoupled is None else decoupled
    s = data.answers.double()  # [N, K, J]
    obs = data.observed()
    pi = torch.where(dec, torch.full_like(params.pi, 0.5), params.pi.double())
    log_prior = torch.zeros(configs.shape[0], n, dtype=torch.float64)
    for m, c in enumerate(configs):
        lp = math.fsum(math.log(float(pi[f])) if c[f] else math.log1p(-float(pi[f])) for f in range(k))
        yes = torch.where(c.bool()[:, None], 1 - params.false_no, params.false_yes)  # [K, J] P(yes | z = c)
        like = torch.log(s * yes + (1 - s) * (1 - yes)) * obs  # [N, K, J]
        like = like.masked_fill(dec[None, :, None], 0.0)
        log_prior[m] = lp + like.sum((1, 2))
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // (configs.shape[0] * max(1, data.target_dim)))
    s2 = sigma2.detach().double()
    lj = log_prior.T + config_log_lik(data.targets, data.covariates, link, s2, configs, chunk_size)
    log_ev = torch.logsumexp(lj, dim=-1)
    probs = torch.exp(lj - log_ev.unsqueeze(-1))
    return ExactPosterior(configs, lj, probs, probs @ configs, log_ev)


def judges_mean_field_optimum(
    data: JudgesData,
    params: JudgeParams,
    *,
    link: nn.Module,
    sigma2: torch.Tensor,
    decoupled: torch.Tensor | None = None,
    num_random_starts: int = 4,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The best mean-field ``q [N, K]`` for fixed parameters and its bound ``[N]``, by brute
    force over the enumerated joint (starts: the exact marginals and random ones)."""
    post = judges_exact_posterior(data, params, link=link, sigma2=sigma2, decoupled=decoupled)
    return mean_field_optimum_of(post, [post.marginals], num_random_starts=num_random_starts, seed=seed)
