"""Validated inputs of the several-judges model: answers ``[N, K, J]``, targets, covariates.

Each of ``J`` judges (two foundation models, two phrasings of a question, a local model, a
few human labels...) answers every feature ``k`` on every item ``n``: ``answers[n, k, j]``
is judge ``j``'s yes (1) / no (0) on feature ``k`` of item ``n``, or a soft answer in
``[0, 1]`` (its probability of "yes", read from the model's logprobs). An answer may be
missing (NaN, or True in ``missing``): a judge that did not answer says nothing.

:class:`JudgesData` is to :mod:`genz_pyro.models.judges` what
:class:`~genz_pyro.data.GenZData` is to the one-judge model; building one checks the
inputs once and raises a ``ValueError`` that names the argument, the item, feature or
judge, and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from genz_pyro.data import GenZData, TargetDims, as_float_tensor

__all__ = ["JudgesData"]


def _stack_answers(answers: Any) -> tuple[torch.Tensor, tuple[str, ...] | None]:
    """``[N, K, J]`` float tensor from an array, a list of ``J`` ``[N, K]`` arrays or a
    mapping ``{judge name: [N, K]}`` (whose keys become the judge names)."""
    names: tuple[str, ...] | None = None
    if isinstance(answers, Mapping):
        names = tuple(str(x) for x in answers)
        answers = list(answers.values())
    if isinstance(answers, (list, tuple)):
        if not answers:
            raise ValueError("answers: got no judge; pass at least one [N, K] matrix of answers")
        mats = [as_float_tensor(a, name=f"answers (judge {j})") for j, a in enumerate(answers)]
        for j, m in enumerate(mats):
            if m.dim() != 2 or m.shape != mats[0].shape:
                raise ValueError(
                    f"answers: judge {j} has shape {tuple(m.shape)}, judge 0 {tuple(mats[0].shape)}; "
                    "every judge answers the same [N, K] items x features (NaN where it did not answer)"
                )
        return torch.stack(mats, -1), names
    t = as_float_tensor(answers, name="answers")
    if t.dim() != 3:
        raise ValueError(
            f"answers: expected shape [N, K, J] (items x features x judges), got {tuple(t.shape)}; "
            "for one judge use GenZData, or pass [answers] (a list of [N, K] matrices)"
        )
    return t, names


@dataclass(frozen=True)
class JudgesData(TargetDims):
    """The observed part of the several-judges model.

    Attributes:
        answers: ``[N, K, J]`` float tensor in ``[0, 1]``; 0 where ``missing`` (ignored).
        targets: ``[N, D]`` float tensor.
        covariates: ``[N, C]`` float tensor or ``None``.
        missing: ``[N, K, J]`` bool tensor or ``None`` (every judge answered everything).
        feature_names: ``K`` distinct names (default ``"f0" ..``).
        judge_names: ``J`` distinct names (default ``"judge0" ..``).
    """

    answers: torch.Tensor
    targets: torch.Tensor
    covariates: torch.Tensor | None = None
    missing: torch.Tensor | None = None
    feature_names: tuple[str, ...] = field(default_factory=tuple)
    judge_names: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def create(
        cls,
        answers: Any,
        targets: Any,
        *,
        covariates: Any | None = None,
        missing: Any | None = None,
        feature_names: Sequence[str] | None = None,
        judge_names: Sequence[str] | None = None,
    ) -> "JudgesData":
        """Validate and convert raw inputs.

        Args:
            answers: ``[N, K, J]`` array, a list of ``J`` ``[N, K]`` arrays (one per judge),
                or a dict ``{judge name: [N, K] array}``. Values 0 / 1, or soft answers in
                ``[0, 1]`` (P(yes)); NaN marks a missing answer when ``missing`` is not given.
            targets: ``[N, D]`` or ``[N]`` finite numbers.
            covariates: optional ``[N, C]`` or ``[N]`` finite numbers.
            missing: optional ``[N, K, J]`` bool mask, True where judge ``j`` gave no answer.
            feature_names: optional ``K`` distinct names.
            judge_names: optional ``J`` distinct names (default: the dict's keys, else
                ``"judge0" ..``).

        Raises:
            ValueError: naming the argument (and the item, feature or judge) and the fix.
        """
        a, dict_names = _stack_answers(answers)
        n, k, j = a.shape
        if j < 1:
            raise ValueError("answers: got J = 0 judges; pass at least one judge's answers")
        # targets, covariates and feature names: GenZData's checks (its judgments are placeholders)
        base = GenZData.create(torch.zeros(n, k), targets, covariates=covariates, feature_names=feature_names)
        a = a.to(base.targets.dtype)
        if missing is not None:
            m = missing if isinstance(missing, torch.Tensor) else torch.as_tensor(np.asarray(missing))
            if m.dtype != torch.bool:
                if not bool(((m == 0) | (m == 1)).all()):
                    raise ValueError("missing: must be a boolean mask [N, K, J] (True where a judge gave no answer)")
                m = m.bool()
            if tuple(m.shape) != (n, k, j):
                raise ValueError(f"missing: expected shape {(n, k, j)} like answers, got {tuple(m.shape)}")
        else:
            m = torch.isnan(a)
        a = torch.where(m, torch.zeros_like(a), a)
        bad = ~torch.isfinite(a) | (a < 0) | (a > 1)
        if bad.any():
            i, f, g = (int(v) for v in bad.nonzero()[0])
            raise ValueError(
                f"answers: must lie in [0, 1] (0 = no, 1 = yes, between = P(yes)), found {float(a[i, f, g])} "
                f"at item {i}, feature {f}, judge {g}; mark unknown answers NaN or in `missing`"
            )
        if judge_names is None:
            names = dict_names if dict_names is not None else tuple(f"judge{x}" for x in range(j))
        else:
            names = tuple(str(x) for x in judge_names)
            if dict_names is not None and names != dict_names:
                raise ValueError(
                    f"judge_names: {names} differ from the keys of the answers dict {dict_names}; pass one of them"
                )
        if len(names) != j:
            raise ValueError(f"judge_names: got {len(names)} names for J = {j} judges")
        if len(set(names)) != j:
            dup = next(x for x in names if names.count(x) > 1)
            raise ValueError(f"judge_names: {dup!r} appears twice; judge names must be unique")
        return cls(
            answers=a,
            targets=base.targets,
            covariates=base.covariates,
            missing=m if bool(m.any()) else None,
            feature_names=base.feature_names,
            judge_names=names,
        )

    @classmethod
    def from_genz(cls, data: GenZData, *, judge_name: str = "judge0") -> "JudgesData":
        """One judge: the judgments of ``data`` as ``answers [N, K, 1]``."""
        return cls(
            answers=data.judgments.unsqueeze(-1),
            targets=data.targets,
            covariates=data.covariates,
            missing=None if data.missing is None else data.missing.unsqueeze(-1),
            feature_names=data.feature_names,
            judge_names=(str(judge_name),),
        )

    # -------------------------------------------------------------- properties
    @property
    def num_items(self) -> int:
        """N."""
        return int(self.answers.shape[0])

    @property
    def num_features(self) -> int:
        """K."""
        return int(self.answers.shape[1])

    @property
    def num_judges(self) -> int:
        """J."""
        return int(self.answers.shape[2])

    @cached_property
    def is_soft(self) -> bool:
        """True when some observed answer lies strictly between 0 and 1."""
        return bool(((self.answers != 0) & (self.answers != 1)).any())

    @cached_property
    def soft_judges(self) -> torch.Tensor:
        """``[J]`` bool: the judges with some answer strictly between 0 and 1."""
        return ((self.answers != 0) & (self.answers != 1)).flatten(0, 1).any(0)

    @cached_property
    def answer_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(yes, no, seen)``, each ``[K, N, J]`` float64 (feature-major, contiguous): ``s``,
        ``1 - s`` and 1 where the judge answered, 0 where it did not (computed once; the engines'
        hard-answer sums are batched products with them)."""
        s = self.answers.double().permute(1, 0, 2)
        obs = self.observed().permute(1, 0, 2)
        return (obs * s).contiguous(), (obs * (1 - s)).contiguous(), obs.contiguous()

    @cached_property
    def yes_no(self) -> torch.Tensor:
        """``[K, N, 2 J]``: :attr:`answer_weights`' yes and no side by side (one batched product
        gives every judge's log-likelihood of both values of ``z``)."""
        yes, no, _ = self.answer_weights
        return torch.cat([yes, no], dim=-1)

    def observed(self) -> torch.Tensor:
        """``[N, K, J]`` float64 mask: 1 where the judge answered, 0 where it did not."""
        if self.missing is None:
            return torch.ones(self.answers.shape, dtype=torch.float64)
        return (~self.missing).double()

    def targets_only(self) -> GenZData:
        """A :class:`GenZData` with these targets, covariates and feature names and all-zero
        placeholder judgments: what the link-side code of the engines reads (never its judgments)."""
        return GenZData(
            judgments=torch.zeros(self.num_items, self.num_features, dtype=self.targets.dtype),
            targets=self.targets,
            covariates=self.covariates,
            missing=None,
            feature_names=self.feature_names,
        )

    def _index(self, j: int | str, name: str) -> int:
        idx = self.judge_names.index(j) if isinstance(j, str) and j in self.judge_names else j
        if not isinstance(idx, int) or not 0 <= idx < self.num_judges:
            raise ValueError(f"{name}: no judge {j!r}; the judges are {list(self.judge_names)} (or 0 .. {self.num_judges - 1})")
        return idx

    def judge(self, j: int | str) -> GenZData:
        """Judge ``j``'s answers (an index or a name) as one-judge :class:`GenZData`."""
        idx = self._index(j, "j")
        return GenZData.create(
            self.answers[..., idx],
            self.targets,
            covariates=self.covariates,
            missing=None if self.missing is None else self.missing[..., idx],
            feature_names=self.feature_names,
        )

    def subset(self, index: torch.Tensor | Sequence[int] | np.ndarray) -> "JudgesData":
        """Rows ``index`` of every item-indexed tensor (no re-validation)."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return JudgesData(
            answers=self.answers[idx],
            targets=self.targets[idx],
            covariates=None if self.covariates is None else self.covariates[idx],
            missing=None if self.missing is None else self.missing[idx],
            feature_names=self.feature_names,
            judge_names=self.judge_names,
        )

    def select_judges(self, judges: Sequence[int | str]) -> "JudgesData":
        """Keep the judges ``judges`` (indices or names, in that order)."""
        idx = [self._index(j, "judges") for j in judges]
        if not idx:
            raise ValueError("judges: keep at least one judge")
        cols = torch.as_tensor(idx, dtype=torch.long)
        return JudgesData(
            answers=self.answers[..., cols],
            targets=self.targets,
            covariates=self.covariates,
            missing=None if self.missing is None else self.missing[..., cols],
            feature_names=self.feature_names,
            judge_names=tuple(self.judge_names[i] for i in idx),
        )
