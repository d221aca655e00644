"""The final refit: the discovered features' parameters re-estimated on training + validation rows.

Discovery fits on the training rows only and uses the validation rows to choose settings.
Once the features are fixed, the baselines' protocol (``genz_pyro.baselines``: penalty chosen
on validation, then refitted on train + validation and scored on test) can be applied to
GenZ too: :func:`refit_train_val` refits the statistical model (same link, engine, eps
setting, ridge) on the judgments of the training and validation items and scores the test
items from their judgments alone. No foundation-model call is made and the features do not
change; the test targets are never used.
"""

from __future__ import annotations


import numpy as np
import torch

from genz_pyro.discovery.state import DiscoveryState
from genz_pyro.infer.result import FitResult


__all__ = ["refit_rows", "refit_train_val"]


def refit_rows(disc: DiscoveryState, rows: np.ndarray, *, seed: int = 0) -> FitResult | None:
    """Fit the current features on ``rows`` (indices into the dataset) with the run's fit spec.

    The posterior starts from the judgments; eps from the current fit (or the run's fixed
    value). Returns ``None`` when the run has no feature.

    Args:
        disc: a discovery run; rows: ``[n]`` row indices (``n >= 2``).

    Raises:
        ValueError: when ``rows`` has fewer than 2 rows or indices out of range.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size < 2:
        raise ValueError(f"rows: need at least 2 rows to refit, got {rows.size}")
    if rows.min() < 0 or rows.max() >= len(disc.ids):
        raise ValueError(f"rows: indices must lie in [0, {len(disc.ids)})")
    if disc.result is None or not disc.descriptions:
        return None
    data = disc._data(rows, disc.judgments)
    return disc.spec(data, eps=disc.result.eps.detach().clone(), decoupled=None, q_init=None, seed=seed)


def refit_train_val(disc: DiscoveryState, *, seed: int = 0) -> dict[str, float]:
    """Refit on train + validation rows and score the test rows (the baselines' protocol).

    Returns:
        ``{"test": metric, "num_rows": n}`` (``test`` is ``nan`` when the test split is empty;
        with no feature the prediction is the train + validation mean).
    """
    rows = np.concatenate([disc.train, disc.val])
    if disc.test.size == 0:
        return {"test": float("nan"), "num_rows": float(rows.size)}
    res = refit_rows(disc, rows, seed=seed)
    test = torch.as_tensor(disc.test, dtype=torch.long)
    u = None if disc._u is None else disc._u[test]
    pred = disc.scorer.predict(res, disc.judgments[disc.test], u, disc._y[torch.as_tensor(rows, dtype=torch.long)])
    return {"test": float(disc.scorer(pred, disc._y[test].numpy())), "num_rows": float(rows.size)}
