"""Data simulated from the GenZ model with a linear link (tests, benchmarks, examples).

    s_nk ~ Bernoulli(rate_k)                       (the foundation model's judgments)
    z_nk = s_nk, flipped with probability eps_k    (z | s ~ Bernoulli(s (1 - eps) + (1 - s) eps))
    y_n  = W z_n + b + noise,  noise ~ Normal(0, sigma^2 I)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genz_pyro.data import GenZData

__all__ = ["Simulated", "simulate_linear"]


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
