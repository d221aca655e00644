"""Scoring inside the discovery loop: the metric and held-out predictions.

Predictions for any split use the judgments (and covariates) alone, with the fitted
parameters fixed (``genz_pyro.predict.predict``): the targets of validation and
test items are never seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from genz_pyro.infer.result import FitResult

__all__ = ["Scorer", "NAMED_METRICS"]

# name -> (function name in genz_pyro.metrics, greater is better)
NAMED_METRICS: dict[str, tuple[str, bool]] = {
    "r2": ("r2_score", True),
    "median_absolute_error": ("median_absolute_error", False),
    "median_relative_error": ("median_relative_error", False),
    "mean_cosine_similarity": ("mean_cosine_similarity", True),
}


@dataclass(frozen=True)
class Scorer:
    """A metric ``fn(pred [n, D], target [n, D]) -> float`` and its direction.

    Attributes:
        name: the metric's name (``"custom"`` for a callable).
        fn: the metric.
        greater_is_better: direction used when selecting (zero-shot on validation).
    """

    name: str
    fn: Callable[[Any, Any], float]
    greater_is_better: bool

    @classmethod
    def create(cls, metric: str | Callable[[Any, Any], float], greater_is_better: bool | None = None) -> "Scorer":
        """From a metric name (see ``NAMED_METRICS``) or a callable.

        Raises:
            ValueError: for an unknown name.
        """
        if callable(metric):
            return cls("custom", metric, True if greater_is_better is None else bool(greater_is_better))
        if metric not in NAMED_METRICS:
            raise ValueError(f"metric: unknown metric {metric!r}; use one of {sorted(NAMED_METRICS)} or a callable")
        from genz_pyro import metrics

        fn_name, better = NAMED_METRICS[metric]
        return cls(metric, getattr(metrics, fn_name), better if greater_is_better is None else bool(greater_is_better))

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return float(self.fn(pred, target))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b`` (``nan`` is never better)."""
        if np.isnan(a):
            return False
        if np.isnan(b):
            return True
        return a > b if self.greater_is_better else a < b

    @staticmethod
    def predict(
        result: FitResult | None, judgments: np.ndarray, covariates: torch.Tensor | None, y_train: torch.Tensor
    ) -> np.ndarray:
        """Predicted means ``[n, D]`` from ``judgments [n, K]`` and ``covariates [n, C]``.

        Without a fit (no feature yet) every item gets the training mean ``[D]``.
        """
        n = judgments.shape[0]
        if result is None:
            return np.tile(y_train.double().mean(0).numpy(), (n, 1))
        from genz_pyro.predict import predict

        from genz_pyro.models.links import LinearLink

        s = torch.as_tensor(judgments, dtype=result.q.dtype).reshape(n, -1)
        # the linear link's predictive mean is exact (f at E[z]); draws only matter otherwise
        draws = 1 if isinstance(result.link, LinearLink) else 1000
        out = predict(result, s, covariates=covariates, num_samples=draws)
        mean = out if isinstance(out, torch.Tensor) else getattr(out, "mean")
        return np.asarray(mean.detach().cpu().numpy() if isinstance(mean, torch.Tensor) else mean, dtype=np.float64)
