"""The one result type returned by every inference engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from genz_pyro.data import GenZData
    from genz_pyro.infer.start import Start

__all__ = ["FitResult", "engine_result"]


@dataclass
class FitResult:
    """What an engine returns: the fitted posterior and parameters.

    Attributes:
        q: ``[N, K]`` mean-field posterior ``q(z_nk = 1)`` of the training items.
        eps: ``[K]`` flip probabilities in ``(0, 0.5]`` (0.5 exactly for decoupled features).
        decoupled: ``[K]`` bool, True for features whose eps is held at 0.5.
        link: the fitted link module ``f(z [.., N, K], u [N, C] | None) -> [.., N, D]``.
        sigma2: ``[D]`` per-dimension noise variance.
        bound_history: the evidence lower bound (total over items, nats) after each sweep
            (for SVI: each logged step, a noisy estimate unless stated otherwise).
        converged: True when the engine's stopping rule fired before ``max_sweeps``.
        wall_time: seconds spent in the engine.
        engine: engine name (``"cavi"``, ``"em"``, ``"sem"``, ``"svi"``).
        num_sweeps: sweeps (or SVI steps) performed.
        feature_names: ``K`` names, carried over from the data.
        info: engine-specific extras (e.g. the ELBO estimator used).
    """

    q: torch.Tensor
    eps: torch.Tensor
    decoupled: torch.Tensor
    link: nn.Module
    sigma2: torch.Tensor
    bound_history: list[float]
    converged: bool
    wall_time: float
    engine: str
    num_sweeps: int
    feature_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def bound(self) -> float:
        """The last value of the bound (``nan`` when no sweep ran)."""
        return self.bound_history[-1] if self.bound_history else float("nan")

    @property
    def link_params(self) -> dict[str, torch.Tensor]:
        """The link's parameters as a detached state dict."""
        return {k: v.detach().clone() for k, v in self.link.state_dict().items()}


def engine_result(
    data: GenZData,
    start: Start,
    *,
    q: torch.Tensor,
    eps: torch.Tensor,
    link: nn.Module,
    sigma2: torch.Tensor,
    bound_history: list[float],
    converged: bool,
    wall_time: float,
    engine: str,
    num_sweeps: int,
    info: dict,
) -> FitResult:
    """The :class:`FitResult` of an engine that worked in float64 from ``start``.

    ``q [N, K]``, ``eps [K]`` and ``sigma2 [D]`` are cast to the targets' dtype; the
    decoupled switch comes from ``start`` (a copy) and the feature names from ``data``.
    ``link`` is returned as given (the engine casts it if it needs to).
    """
    dtype = data.targets.dtype
    return FitResult(
        q=q.to(dtype),
        eps=eps.to(dtype),
        decoupled=start.decoupled.clone(),
        link=link,
        sigma2=sigma2.to(dtype),
        bound_history=bound_history,
        converged=converged,
        wall_time=wall_time,
        engine=engine,
        num_sweeps=num_sweeps,
        feature_names=data.feature_names,
        info={**info, "eps_prior": start.eps_prior} if start.eps_prior else info,
    )
