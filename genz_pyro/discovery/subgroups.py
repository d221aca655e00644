"""Algorithm 2's target: the combination of feature values with the largest total error.

Items whose other features ``zhat_1..zhat_K`` share one combination ``c`` form a
subgroup; its total error is

    E_c = sum_{n in c} sum_d (y_nd - f_d(zhat_n, u_n))^2 / sigma2_d

and Algorithm 2 mines the new feature from exemplars of the subgroup with the
largest ``E_c`` only (the new description is still judged on every item).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Subgroup", "scaled_sq_error", "largest_error_subgroup", "ranked_subgroups"]


@dataclass(frozen=True)
class Subgroup:
    """One combination of feature values and its members.

    Attributes:
        combination: ``K`` 0/1 values (``()`` when ``K = 0``: every item).
        members: sorted row indices of the items with that combination.
        total_error: ``E_c``.
        totals: ``E_c`` of every observed combination (keyed by combination), for the history.
    """

    combination: tuple[int, ...]
    members: np.ndarray
    total_error: float
    totals: dict[tuple[int, ...], float]


def scaled_sq_error(y: torch.Tensor, mean: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Per-item error ``sum_d (y_nd - mean_nd)^2 / sigma2_d``.

    Args:
        y: ``[N, D]`` targets.
        mean: ``[N, D]`` predicted means ``f(zhat_n, u_n)``.
        sigma2: ``[D]`` noise variances.

    Returns:
        ``[N]``.
    """
    if y.shape != mean.shape:
        raise ValueError(f"mean: expected shape {tuple(y.shape)} like the targets, got {tuple(mean.shape)}")
    return ((y - mean) ** 2 / sigma2).sum(-1)


def ranked_subgroups(
    zhat: torch.Tensor | np.ndarray, error: torch.Tensor | np.ndarray, *, min_size: int = 2
) -> list[Subgroup]:
    """Every combination of ``zhat`` values with at least ``min_size`` members, by
    decreasing total error (ties broken by the combination, so never by dict order).
    When no combination is large enough, all combinations are ranked.

    Args:
        zhat: ``[N, K]`` 0/1 feature values (the posterior mode of the current features).
        error: ``[N]`` per-item errors (see :func:`scaled_sq_error`).
        min_size: smallest eligible subgroup (an exemplar split needs items on both sides).

    Raises:
        ValueError: for mismatched shapes or negative / non-finite errors.
    """
    z = np.asarray(zhat.detach().cpu().numpy() if isinstance(zhat, torch.Tensor) else zhat)
    e = np.asarray(error.detach().cpu().numpy() if isinstance(error, torch.Tensor) else error, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"zhat: expected shape [N, K], got {z.shape}")
    if e.shape != (z.shape[0],):
        raise ValueError(f"error: expected shape ({z.shape[0]},) with one error per item, got {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e < 0):
        raise ValueError("error: per-item errors must be finite and non-negative")
    zb = (z > 0.5).astype(np.int64)
    keys = [tuple(int(v) for v in row) for row in zb]
    totals: dict[tuple[int, ...], float] = {}
    members: dict[tuple[int, ...], list[int]] = {}
    for i, (key, err) in enumerate(zip(keys, e)):
        totals[key] = totals.get(key, 0.0) + float(err)
        members.setdefault(key, []).append(i)
    eligible = [c for c in totals if len(members[c]) >= min_size] or list(totals)
    order = sorted(eligible, key=lambda c: (totals[c], c), reverse=True)
    return [
        Subgroup(combination=c, members=np.array(members[c], dtype=np.int64), total_error=totals[c], totals=totals)
        for c in order
    ]


def largest_error_subgroup(
    zhat: torch.Tensor | np.ndarray, error: torch.Tensor | np.ndarray, *, min_size: int = 2
) -> Subgroup:
    """The combination of ``zhat`` values with the largest total error ``E_c``
    (first of :func:`ranked_subgroups`; same arguments and errors)."""
    return ranked_subgroups(zhat, error, min_size=min_size)[0]
