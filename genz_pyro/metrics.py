"""Evaluation metrics of the paper's experiments (numpy or torch input, float output).

- houses: :func:`median_absolute_error` of log price and :func:`median_relative_error`
  of price (``exp`` of the log targets);
- movies: :func:`mean_cosine_similarity` between predicted and true embedding rows;
- any target: :func:`r2_score` (multi-output R^2, pooled or averaged).

Every function takes ``pred`` and ``target`` of the same shape, ``[N]`` or ``[N, D]``
(``[N]`` is read as ``[N, 1]``; ``[N]`` against ``[N, 1]`` is accepted), converts them to
float64 numpy arrays and raises ``ValueError`` naming the argument on bad shapes,
empty input or non-finite values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "as_2d",
    "median_absolute_error",
    "median_relative_error",
    "mean_absolute_error",
    "mean_relative_error",
    "mean_cosine_similarity",
    "cosine_similarities",
    "r2_score",
]


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: could not convert to a float array ({exc}); pass numbers") from exc
    return arr


def as_2d(value: Any, name: str) -> np.ndarray:
    """``value`` as a finite float64 ``[N, D]`` array (``[N]`` becomes ``[N, 1]``).

    Raises:
        ValueError: naming ``name`` if it is not 1-d/2-d, is empty or holds NaN/inf.
    """
    arr = _to_numpy(value, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape [N] or [N, D], got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: is empty (shape {arr.shape}); pass at least one item and one dimension")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"{name}: non-finite value at item {i}, dimension {j}; drop or impute it first")
    return arr


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p = as_2d(pred, "pred")
    t = as_2d(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred: shape {p.shape} does not match target shape {t.shape}; "
            "pass one prediction row per target row with the same number of dimensions"
        )
    return p, t


def median_absolute_error(pred: Any, target: Any) -> float:
    """``median |pred - target|`` over all entries (for houses: of log price).

    Args:
        pred, target: ``[N]`` or ``[N, D]``.
    """
    p, t = _pair(pred, target)
    return float(np.median(np.abs(p - t)))


def median_relative_error(pred_log: Any, target_log: Any) -> float:
    """Median relative error of the exponentiated values: ``median |e^p - e^t| / e^t``.

    For houses the arguments are log prices, so this is the median relative error of
    the price (``|exp(p - t) - 1|``, computed stably in that form).

    Args:
        pred_log, target_log: ``[N]`` or ``[N, D]`` (on the log scale).
    """
    p, t = _pair(pred_log, target_log)
    return float(np.median(np.abs(np.expm1(p - t))))


def mean_absolute_error(pred: Any, target: Any) -> float:
    """``mean |pred - target|`` over all entries (the smooth companion of
    :func:`median_absolute_error`, on which the discovery's choices are made).

    Args:
        pred, target: ``[N]`` or ``[N, D]``.
    """
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def mean_relative_error(pred_log: Any, target_log: Any) -> float:
    """Mean relative error of the exponentiated values, ``mean |exp(p - t) - 1|`` (the smooth
    companion of :func:`median_relative_error`).

    Args:
        pred_log, target_log: ``[N]`` or ``[N, D]`` (on the log scale).
    """
    p, t = _pair(pred_log, target_log)
    return float(np.mean(np.abs(np.expm1(p - t))))


def cosine_similarities(pred: Any, target: Any, *, eps: float = 1e-12) -> np.ndarray:
    """Row-wise cosine similarity ``<p_n, t_n> / (|p_n| |t_n|)``, shape ``[N]``.

    A zero row (e.g. predicting the training mean of a centred target) has
    similarity 0: norms are floored at ``eps``.
    """
    p, t = _pair(pred, target)
    num = np.sum(p * t, axis=1)
    den = np.maximum(np.linalg.norm(p, axis=1), eps) * np.maximum(np.linalg.norm(t, axis=1), eps)
    return num / den


def mean_cosine_similarity(pred: Any, target: Any, *, eps: float = 1e-12) -> float:
    """Mean over rows of :func:`cosine_similarities` (the paper's movie metric).

    Args:
        pred, target: ``[N, D]`` (``D = 1`` reduces to the sign agreement).
    """
    return float(np.mean(cosine_similarities(pred, target, eps=eps)))


def r2_score(pred: Any, target: Any, *, multioutput: str = "pooled") -> float:
    """Coefficient of determination.

    ``multioutput="pooled"`` (default): ``1 - sum_nd (t - p)^2 / sum_nd (t - mean_n t)^2``,
    the fraction of the total variance (summed over the ``D`` columns, each about its own
    mean) that is explained; columns with more variance weigh more, which suits
    embeddings whose leading SVD directions matter most.
    ``multioutput="average"``: the unweighted mean of the ``D`` per-column R^2 values.
    Both equal the usual R^2 when ``D = 1``.

    Args:
        pred, target: ``[N]`` or ``[N, D]`` with ``N >= 2``.

    Raises:
        ValueError: if ``multioutput`` is unknown, ``N < 2`` or a target column is
            constant (R^2 undefined).
    """
    if multioutput not in ("pooled", "average"):
        raise ValueError(f"multioutput: must be 'pooled' or 'average', got {multioutput!r}")
    p, t = _pair(pred, target)
    if t.shape[0] < 2:
        raise ValueError("target: R^2 needs at least 2 rows")
    sse = np.sum((t - p) ** 2, axis=0)
    sst = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    if multioutput == "pooled":
        if sst.sum() == 0:
            raise ValueError("target: is constant, so R^2 is undefined; use an error metric instead")
        return float(1.0 - sse.sum() / sst.sum())
    if np.any(sst == 0):
        j = int(np.argmax(sst == 0))
        raise ValueError(
            f"target: column {j} is constant, so its R^2 is undefined; use multioutput='pooled'"
        )
    return float(np.mean(1.0 - sse / sst))
