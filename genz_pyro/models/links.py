"""Links ``f(z, u) -> [N, D]`` from binary features (and covariates) to the target mean.

A link is any ``torch.nn.Module`` whose ``forward(z, u)`` takes

- ``z``: ``[..., N, K]`` float tensor of feature values (0/1, or probabilities),
  with any number of leading batch dimensions (the EM engine evaluates the ``K``
  forced variants of every item in one call with a leading ``[K]`` dimension);
- ``u``: ``[N, C]`` covariates or ``None``;

and returns the mean of the targets, ``[..., N, D]``. Plug in your own module with
the same signature. Links hold plain ``nn.Parameter``s; the Pyro model registers
them with ``pyro.module`` so that SVI optimises them.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LinearLink", "MLPLink", "make_link"]


def _join(z: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """``[..., N, K]`` and ``[N, C]`` -> ``[..., N, K + C]``."""
    if u is None or u.shape[-1] == 0:
        return z
    return torch.cat([z, u.expand(*z.shape[:-2], *u.shape)], dim=-1)


class LinearLink(nn.Module):
    """``f(z, u) = W [z; u; 1]``, i.e. ``z @ Wz^T + u @ Wu^T + b``.

    Args:
        num_features: K.
        target_dim: D.
        covariate_dim: C (0 for none).

    Attributes:
        weight: ``[D, K + C]`` (features first, then covariates).
        bias: ``[D]``.
    """

    def __init__(self, num_features: int, target_dim: int, covariate_dim: int = 0) -> None:
        super().__init__()
        if num_features < 0 or target_dim < 1 or covariate_dim < 0:
            raise ValueError(
                f"LinearLink: need num_features >= 0, target_dim >= 1, covariate_dim >= 0; "
                f"got {num_features}, {target_dim}, {covariate_dim}"
            )
        self.num_features = num_features
        self.target_dim = target_dim
        self.covariate_dim = covariate_dim
        self.weight = nn.Parameter(torch.zeros(target_dim, num_features + covariate_dim))
        self.bias = nn.Parameter(torch.zeros(target_dim))

    @property
    def feature_weight(self) -> torch.Tensor:
        """``[D, K]``: the columns of ``weight`` that multiply ``z``."""
        return self.weight[:, : self.num_features]

    @property
    def covariate_weight(self) -> torch.Tensor:
        """``[D, C]``: the columns of ``weight`` that multiply ``u``."""
        return self.weight[:, self.num_features :]

    def forward(self, z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """``z [..., N, K]``, ``u [N, C]`` -> ``[..., N, D]``."""
        return _join(z, u) @ self.weight.T + self.bias


class MLPLink(nn.Module):
    """The paper's neural link: ``[z; u] -> 64 -> 32 -> D`` with ReLU and dropout.

    Args:
        num_features: K.
        target_dim: D.
        covariate_dim: C (0 for none).
        hidden: hidden layer widths (paper: ``(64, 32)``).
        dropout: dropout rate after each hidden layer (paper: 0.1).
    """

    def __init__(
        self,
        num_features: int,
        target_dim: int,
        covariate_dim: int = 0,
        *,
        hidden: tuple[int, ...] = (64, 32),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLPLink: dropout must be in [0, 1), got {dropout}")
        self.num_features = num_features
        self.target_dim = target_dim
        self.covariate_dim = covariate_dim
        layers: list[nn.Module] = []
        width = num_features + covariate_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, target_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """``z [..., N, K]``, ``u [N, C]`` -> ``[..., N, D]``."""
        return self.net(_join(z, u))


def make_link(
    link: str | nn.Module, *, num_features: int, target_dim: int, covariate_dim: int = 0
) -> nn.Module:
    """Build a link from a name (``"linear"`` or ``"mlp"``) or pass a module through.

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(link, nn.Module):
        return link
    if link == "linear":
        return LinearLink(num_features, target_dim, covariate_dim)
    if link == "mlp":
        return MLPLink(num_features, target_dim, covariate_dim)
    raise ValueError(f"link: unknown link {link!r}; use 'linear', 'mlp' or pass an nn.Module f(z, u) -> [N, D]")
