"""Validated inputs of the GenZ model: judgments, targets, covariates, missing mask.

Every engine, the Pyro model and the discovery loop take a :class:`GenZData`.
Building one checks the inputs once, up front, and raises a ``ValueError`` that
names the offending argument and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["TargetDims", "GenZData", "as_float_tensor"]


def as_float_tensor(value: Any, *, name: str, ndim: int | None = None) -> torch.Tensor:
    """Convert ``value`` (array-like or tensor) to a float64-compatible torch tensor.

    1-d targets are promoted to ``[N, 1]`` by the caller, not here.

    Raises:
        ValueError: naming ``name`` when the value cannot be converted or has the
            wrong number of dimensions.
    """
    try:
        if isinstance(value, torch.Tensor):
            t = value.detach()
            if not torch.is_floating_point(t):
                t = t.to(torch.get_default_dtype())
        else:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=torch.get_default_dtype())
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}: could not convert to a numeric tensor ({exc}); pass a numpy array or torch tensor of numbers"
        ) from exc
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {tuple(t.shape)}")
    return t


class TargetDims:
    """``target_dim`` and ``covariate_dim`` of a data class with ``targets [N, D]`` and
    ``covariates [N, C] | None`` (:class:`GenZData`, :class:`~genz_pyro.judge_data.JudgesData`)."""

    targets: torch.Tensor
    covariates: torch.Tensor | None

    @property
    def target_dim(self) -> int:
        """D."""
        return int(self.targets.shape[1])

    @property
    def covariate_dim(self) -> int:
        """C (0 when there are no covariates)."""
        return 0 if self.covariates is None else int(self.covariates.shape[1])


@dataclass(frozen=True)
class GenZData(TargetDims):
    """The observed part of a GenZ model.

    Attributes:
        judgments: ``[N, K]`` float tensor with values in ``[0, 1]``: the foundation
            model's yes/no answer for feature ``k`` on item ``n`` (0 or 1), or a soft
            judgment, the model's P(yes) (then the prior of ``z`` is
            ``s (1 - eps) + (1 - s) eps``; :attr:`is_soft`). Entries where ``missing`` is
            True hold 0 and are ignored (uninformative prior 0.5).
        targets: ``[N, D]`` float tensor, ``D >= 1``.
        covariates: ``[N, C]`` float tensor or ``None``: numeric inputs given straight
            to the link (the link adds its own intercept; do not include a constant
            column unless you want it twice).
        missing: ``[N, K]`` bool tensor or ``None`` (no missing judgments).
        feature_names: ``K`` distinct strings (defaults ``"f0" .. "f{K-1}"``).
    """

    judgments: torch.Tensor
    targets: torch.Tensor
    covariates: torch.Tensor | None = None
    missing: torch.Tensor | None = None
    feature_names: tuple[str, ...] = field(default_factory=tuple)

    # ------------------------------------------------------------------ build
    @classmethod
    def create(
        cls,
        judgments: Any,
        targets: Any,
        *,
        covariates: Any | None = None,
        missing: Any | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> "GenZData":
        """Validate and convert raw inputs.

        Args:
            judgments: ``[N, K]`` array of 0/1 (bool or numbers) or of soft judgments
                P(yes) in ``[0, 1]``. ``K = 0`` is valid:
                pass an array of shape ``[N, 0]``. NaN entries are treated as missing
                judgments when ``missing`` is not given.
            targets: ``[N, D]`` or ``[N]`` (promoted to ``[N, 1]``) finite numbers.
            covariates: optional ``[N, C]`` or ``[N]`` finite numbers.
            missing: optional ``[N, K]`` bool mask, True where the judgment is missing.
            feature_names: optional ``K`` distinct names.

        Raises:
            ValueError: naming the argument (and the item or feature) and the fix.
        """
        y = as_float_tensor(targets, name="targets")
        if y.dim() == 1:
            y = y.unsqueeze(-1)
        if y.dim() != 2:
            raise ValueError(f"targets: expected shape [N, D] or [N], got {tuple(y.shape)}")
        n, d = y.shape
        if n < 2:
            raise ValueError(f"targets: need at least N = 2 items to fit a model, got N = {n}")
        if d < 1:
            raise ValueError("targets: need at least one target dimension (D >= 1), got D = 0")
        bad = ~torch.isfinite(y)
        if bad.any():
            i, j = (int(v) for v in bad.nonzero()[0])
            raise ValueError(
                f"targets: {int(bad.sum())} non-finite value(s) (NaN or inf), first at item {i}, "
                f"dimension {j}; drop those items or impute the targets before fitting"
            )

        s = as_float_tensor(judgments, name="judgments").to(y.dtype)
        if s.dim() == 1 and s.numel() == 0:
            s = s.reshape(n, 0)
        if s.dim() != 2:
            raise ValueError(f"judgments: expected shape [N, K], got {tuple(s.shape)}")
        if s.shape[0] != n:
            raise ValueError(
                f"judgments: has {s.shape[0]} rows but targets has {n}; judgments must have one row per item"
            )
        k = s.shape[1]

        if missing is not None:
            m = torch.as_tensor(np.asarray(missing)) if not isinstance(missing, torch.Tensor) else missing
            if m.dtype != torch.bool:
                if not bool(((m == 0) | (m == 1)).all()):
                    raise ValueError("missing: must be a boolean mask (True where a judgment is missing)")
                m = m.bool()
            if tuple(m.shape) != (n, k):
                raise ValueError(f"missing: expected shape {(n, k)} like judgments, got {tuple(m.shape)}")
        else:
            m = torch.isnan(s)
        s = torch.where(m, torch.zeros_like(s), s)
        if not torch.isfinite(s).all():
            raise ValueError("judgments: contains inf; judgments must be 0 or 1 (NaN marks a missing judgment)")
        outside = (s < 0) | (s > 1)
        if outside.any():
            i, j = (int(v) for v in outside.nonzero()[0])
            raise ValueError(
                f"judgments: must be 0 or 1, or a soft judgment P(yes) in [0, 1]; found {float(s[i, j]):g} at "
                f"item {i}, feature {j}; pass probabilities, not logits or percentages, and mark unknown "
                "answers in `missing`"
            )
        mask = m if bool(m.any()) else None

        u = None
        if covariates is not None:
            u = as_float_tensor(covariates, name="covariates").to(y.dtype)
            if u.dim() == 1:
                u = u.unsqueeze(-1)
            if u.dim() != 2 or u.shape[0] != n:
                raise ValueError(
                    f"covariates: expected shape [N, C] with N = {n} rows like targets, got {tuple(u.shape)}"
                )
            bad = ~torch.isfinite(u)
            if bad.any():
                i, j = (int(v) for v in bad.nonzero()[0])
                raise ValueError(
                    f"covariates: non-finite value (NaN or inf) at item {i}, column {j}; impute or drop it"
                )

        if feature_names is None:
            names = tuple(f"f{j}" for j in range(k))
        else:
            names = tuple(str(x) for x in feature_names)
            if len(names) != k:
                raise ValueError(f"feature_names: got {len(names)} names for K = {k} judgment columns")
            seen: dict[str, int] = {}
            for j, nm in enumerate(names):
                if nm in seen:
                    raise ValueError(
                        f"feature_names: {nm!r} appears twice (features {seen[nm]} and {j}); "
                        "feature names must be unique: drop the duplicate column"
                    )
                seen[nm] = j
        return cls(judgments=s, targets=y, covariates=u, missing=mask, feature_names=names)

    # -------------------------------------------------------------- properties
    @property
    def num_items(self) -> int:
        """N."""
        return int(self.judgments.shape[0])

    @property
    def num_features(self) -> int:
        """K."""
        return int(self.judgments.shape[1])

    @property
    def is_soft(self) -> bool:
        """True when some judgment is strictly between 0 and 1 (a soft judgment P(yes))."""
        s = self.judgments
        return bool(((s > 0) & (s < 1)).any())

    def prior_logits(self, eps: torch.Tensor) -> torch.Tensor:
        """Prior log-odds of ``z_nk = 1``: ``logit(s (1 - eps) + (1 - s) eps)``, which is
        ``(2 s - 1) log((1 - eps) / eps)`` for a hard judgment; 0 where missing.

        Args:
            eps: ``[K]`` flip probabilities in ``(0, 0.5]``.

        Returns:
            ``[N, K]`` tensor.
        """
        lo = torch.log1p(-eps) - torch.log(eps)
        if self.is_soft:
            s = self.judgments
            p1 = s * (1 - eps) + (1 - s) * eps  # P(z = 1 | s), in [eps, 1 - eps]
            out = torch.log(p1) - torch.log1p(-p1)
        else:
            out = (2 * self.judgments - 1) * lo
        if self.missing is not None:
            out = out.masked_fill(self.missing, 0.0)
        return out

    def subset(self, index: torch.Tensor | Sequence[int] | np.ndarray) -> "GenZData":
        """Rows ``index`` of every item-indexed tensor (no re-validation)."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return GenZData(
            judgments=self.judgments[idx],
            targets=self.targets[idx],
            covariates=None if self.covariates is None else self.covariates[idx],
            missing=None if self.missing is None else self.missing[idx],
            feature_names=self.feature_names,
        )

    def select_features(self, columns: Sequence[int]) -> "GenZData":
        """Keep judgment columns ``columns`` (in that order)."""
        cols = torch.as_tensor(list(columns), dtype=torch.long)
        return GenZData(
            judgments=self.judgments[:, cols],
            targets=self.targets,
            covariates=self.covariates,
            missing=None if self.missing is None else self.missing[:, cols],
            feature_names=tuple(self.feature_names[int(c)] for c in cols),
        )
