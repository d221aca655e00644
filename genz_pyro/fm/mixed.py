"""Mining by one model, judging by another; hard or soft judgments as numbers.

The usual way to cut cost: a strong model words the features (a few ``mine`` / ``propose``
calls), a cheap or local one answers for every item (``judge``: N calls or N / B batches per
feature). :class:`MixedModel` is a :class:`~genz_pyro.fm.protocol.FoundationModel` that routes
``amine`` / ``apropose`` to the miner and ``ajudge`` to the judge; its ``usage`` is the sum of
both. Cache each model on its own (``CachedModel``) before mixing them, so that each answer
is keyed by the identity of the model that gave it.

:func:`judgment_column` turns answers into the numbers the statistical model takes: the hard
answer (0 or 1), or, with soft judgments, P(yes) where the answer has one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .protocol import FoundationModel, Item, Judgment, MinedFeature, Usage

__all__ = ["MixedModel", "judgment_column", "uses_soft_judgments"]


def uses_soft_judgments(model: FoundationModel) -> bool:
    """Whether ``model``'s judgments enter the statistical model as P(yes): its ``soft``
    attribute (a backend asked for soft judgments, a :class:`MixedModel`, a cache wrapper of
    either), else ``False``."""
    soft = getattr(model, "soft", None)
    if soft is None and hasattr(model, "inner"):
        return uses_soft_judgments(model.inner)
    return bool(soft)


def judgment_column(answers: Mapping[str, Judgment], ids: Sequence[str], *, soft: bool) -> np.ndarray:
    """``[len(ids)]`` judgments in the order of ``ids``: ``1.0`` / ``0.0``, or with ``soft`` the
    answer's probability of yes where it has one (the hard answer elsewhere)."""
    if not soft:
        return np.array([1.0 if answers[i].value else 0.0 for i in ids])
    out = np.empty(len(ids))
    for r, i in enumerate(ids):
        j = answers[i]
        out[r] = j.probability if j.probability is not None else (1.0 if j.value else 0.0)
    return out


class MixedModel(FoundationModel):
    """Mine (and propose) with ``miner``, judge with ``judge``.

    Args:
        miner: the model that words features (``amine``, ``apropose``).
        judge: the model that answers for every item (``ajudge``).
        soft: use the judge's P(yes) as the judgment (``True``), its yes/no (``False``), or
            what the judge does (``None``: soft when it was asked for soft judgments).

    Attributes:
        usage: the miner's and the judge's usage added (a fresh :class:`Usage` each read).
    """

    def __init__(self, miner: FoundationModel, judge: FoundationModel, *, soft: bool | None = None) -> None:
        for arg, m in (("miner", miner), ("judge", judge)):
            if not isinstance(m, FoundationModel):
                raise ValueError(f"{arg}: expected a FoundationModel, got {type(m).__name__}; e.g. make_model('gguf:')")
        if soft is not None and not isinstance(soft, bool):
            raise ValueError(f"soft: must be True, False or None, got {soft!r}")
        self.miner = miner
        self.judge_model = judge
        self._soft = soft

    @property
    def usage(self) -> Usage:  # type: ignore[override]
        total = self.miner.usage.copy()
        if self.judge_model is not self.miner:
            total.add(self.judge_model.usage)
        return total

    @usage.setter
    def usage(self, value: Usage) -> None:  # FoundationModel.__init__ is not called; nothing to store
        raise AttributeError("MixedModel.usage is the sum of its models' usage and cannot be set")

    @property
    def soft(self) -> bool:
        """Judgments enter the statistical model as P(yes) (see ``soft=``)."""
        return uses_soft_judgments(self.judge_model) if self._soft is None else self._soft

    @property
    def name(self) -> str:  # type: ignore[override]
        if self.judge_model is self.miner:
            return self.miner.name
        return f"{self.miner.name} (mining) + {self.judge_model.name} (judging)"

    def __repr__(self) -> str:
        return f"MixedModel(miner={self.miner!r}, judge={self.judge_model!r}, soft={self._soft!r})"

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """The judge's answers."""
        return await self.judge_model.ajudge(description, items)

    async def amine(
        self, positives: Mapping[str, Item], negatives: Mapping[str, Item], *, avoid: tuple[str, ...] = ()
    ) -> MinedFeature:
        """The miner's description."""
        return await self.miner.amine(positives, negatives, avoid=avoid)

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        """The miner's proposals."""
        return await self.miner.apropose(task, examples, n)

    @property
    def plan_judge(self) -> Any:
        """The judge's ``plan_judge`` (dry runs); an ``AttributeError`` when the judge runs
        locally and has no plan (so ``getattr(mixed, "plan_judge", None)`` is ``None``, as for
        the judge itself)."""
        plan = getattr(self.judge_model, "plan_judge", None)
        if not callable(plan):
            raise AttributeError(f"{type(self.judge_model).__name__} runs locally and has no plan_judge()")
        return plan
