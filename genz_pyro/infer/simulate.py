"""Data simulated from the GenZ model with a linear link (tests, benchmarks, examples).

    s_nk ~ Bernoulli(rate_k)                       (the foundation model's judgments)
    z_nk = s_nk, flipped with probability eps_k    (z | s ~ Bernoulli(s (1 - eps) + (1 - s) eps))
    y_n  = W z_n + b + noise,  noise ~ Normal(0, sigma^2 I)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from genz_pyro.data import GenZData

if TYPE_CHECKING:
    from genz_pyro.judge_data import JudgesData

__all__ = ["Simulated", "simulate_linear", "SimulatedJudges", "simulate_judges"]


@dataclass(frozen=True)
class Simulated:
    """Simulated data and the truth behind it.

    Attributes:
        data: :class:`GenZData` (judgments ``[N, K]``, targets ``[N, D]``).
        z: ``[N, K]`` true features.
        eps: ``[K]`` true flip probabilities.
        weight: ``[D, K]`` true feature weights.
        bias: ``[D]``.
        sigma: noise standard deviation.
    """

    data: GenZData
    z: torch.Tensor
    eps: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    sigma: float


def simulate_linear(
    n: int,
    k: int,
    d: int,
    *,
    sigma: float = 0.3,
    eps_range: tuple[float, float] = (0.05, 0.3),
    weight_scale: float = 1.0,
    rate: float = 0.5,
    seed: int = 0,
) -> Simulated:
    """Draw ``N`` items with ``K`` features and ``D`` targets from the model (float32 data).

    Args:
        n, k, d: sizes N, K, D.
        sigma: noise standard deviation.
        eps_range: true eps drawn uniformly in this range.
        weight_scale: ``W ~ Normal(0, weight_scale^2)``, ``b ~ Normal(0, 1)``.
        rate: probability of a positive judgment.
        seed: seed of a private generator.
    """
    gen = torch.Generator().manual_seed(int(seed))
    s = (torch.rand(n, k, generator=gen) < rate).float()
    eps = eps_range[0] + (eps_range[1] - eps_range[0]) * torch.rand(k, generator=gen)
    flip = (torch.rand(n, k, generator=gen) < eps).float()
    z = (s + flip) % 2
    w = weight_scale * torch.randn(d, k, generator=gen)
    b = torch.randn(d, generator=gen)
    y = z @ w.T + b + sigma * torch.randn(n, d, generator=gen)
    return Simulated(GenZData.create(s, y), z, eps, w, b, float(sigma))


@dataclass(frozen=True)
class SimulatedJudges:
    """Data simulated from the several-judges model and the truth behind it.

    Attributes:
        data: :class:`~genz_pyro.judge_data.JudgesData` (answers ``[N, K, J]``, targets ``[N, D]``).
        z: ``[N, K]`` true features.
        pi: ``[K]``. false_yes, false_no: ``[K, J]`` true rates.
        weight: ``[D, K]``. bias: ``[D]``. sigma: noise standard deviation.
    """

    data: "JudgesData"
    z: torch.Tensor
    pi: torch.Tensor
    false_yes: torch.Tensor
    false_no: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    sigma: float


def simulate_judges(
    n: int,
    k: int,
    d: int,
    *,
    false_yes: Sequence[float] | torch.Tensor,
    false_no: Sequence[float] | torch.Tensor | None = None,
    pi: float | Sequence[float] = 0.5,
    sigma: float = 0.5,
    weight_scale: float = 1.0,
    missing: float = 0.0,
    seed: int = 0,
) -> SimulatedJudges:
    """Draw ``N`` items from the several-judges model with a linear link (float32 data)::

        z_nk ~ Bernoulli(pi_k);  s_nkj ~ Bernoulli(1 - b_kj) if z_nk else Bernoulli(a_kj);
        y_n = W z_n + b + Normal(0, sigma^2 I)

    Args:
        n, k, d: sizes N, K, D.
        false_yes: rates ``a``: ``[J]`` (every feature) or ``[K, J]``.
        false_no: rates ``b`` (default: equal to ``false_yes``).
        pi: ``p(z = 1)``, scalar or ``[K]``.
        sigma, weight_scale: noise sd; ``W ~ Normal(0, weight_scale^2)``, ``b ~ Normal(0, 1)``.
        missing: probability that an answer is missing (each judge, item and feature alone).
        seed: seed of a private generator.
    """
    from genz_pyro.judge_data import JudgesData

    gen = torch.Generator().manual_seed(int(seed))
    a = torch.as_tensor(false_yes, dtype=torch.float64)
    b = a if false_no is None else torch.as_tensor(false_no, dtype=torch.float64)
    j = int(a.shape[-1])
    a, b = a.expand(k, j), b.expand(k, j)
    p = torch.as_tensor(pi, dtype=torch.float64).expand(k)
    z = (torch.rand(n, k, generator=gen, dtype=torch.float64) < p).double()
    yes = z[..., None] * (1 - b) + (1 - z[..., None]) * a  # [N, K, J]
    s = (torch.rand(n, k, j, generator=gen, dtype=torch.float64) < yes).float()
    if missing > 0:
        s = s.masked_fill(torch.rand(n, k, j, generator=gen) < missing, float("nan"))
    w = weight_scale * torch.randn(d, k, generator=gen)
    bias = torch.randn(d, generator=gen)
    y = z.float() @ w.T + bias + sigma * torch.randn(n, d, generator=gen)
    return SimulatedJudges(JudgesData.create(s, y), z.float(), p, a.clone(), b.clone(), w, bias, float(sigma))
