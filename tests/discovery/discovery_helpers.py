"""Small helpers shared by the discovery tests (no substitutes for library parts)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from genz_pyro.datasets.base import Dataset
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature


class Counting(FoundationModel):
    """Delegates to ``inner`` and counts the calls of each operation (``calls[op]``)."""

    def __init__(self, inner: FoundationModel) -> None:
        super().__init__()
        self.inner = inner
        self.name = f"counting({inner.name})"
        self.calls = {"judge": 0, "mine": 0, "propose": 0}
        self.mined: list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = []

    def cache_identity(self) -> dict:
        ident = getattr(self.inner, "cache_identity", None)
        return dict(ident()) if callable(ident) else {"name": self.inner.name}

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        self.calls["judge"] += 1
        self.usage.calls += 1
        return await self.inner.ajudge(description, items)

    async def amine(self, positives, negatives, *, avoid=()) -> MinedFeature:
        self.calls["mine"] += 1
        self.usage.calls += 1
        self.mined.append((tuple(positives), tuple(negatives), tuple(avoid)))
        return await self.inner.amine(positives, negatives, avoid=avoid)

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        self.calls["propose"] += 1
        self.usage.calls += 1
        return await self.inner.apropose(task, examples, n)


def integer_dataset(y: np.ndarray, *, train: np.ndarray | None = None, val=None, test=None, name="ints") -> Dataset:
    """Items "0".."N-1" with targets ``y [N]``."""
    n = len(y)
    return Dataset(
        name,
        {str(i): str(i) for i in range(n)},
        np.asarray(y, dtype=float).reshape(n, -1),
        train=np.arange(n) if train is None else np.asarray(train),
        val=np.zeros(0, dtype=int) if val is None else np.asarray(val),
        test=np.zeros(0, dtype=int) if test is None else np.asarray(test),
        task="Predict the target of each integer.",
    )


class SimulatedCrash(RuntimeError):
    """Raised by :class:`CrashAt` to stand for a process dying mid-run."""


class CrashAt(Counting):
    """:class:`Counting` that raises :class:`SimulatedCrash` at its ``at``-th call
    (1-based, counted over judge + mine + propose) instead of answering it."""

    def __init__(self, inner: FoundationModel, at: int) -> None:
        super().__init__(inner)
        self.at = at
        self.seen = 0

    def _tick(self) -> None:
        self.seen += 1
        if self.seen == self.at:
            raise SimulatedCrash(f"simulated crash at call {self.at}")

    async def ajudge(self, description, items):
        self._tick()
        return await super().ajudge(description, items)

    async def amine(self, positives, negatives, *, avoid=()):
        self._tick()
        return await super().amine(positives, negatives, avoid=avoid)

    async def apropose(self, task, examples, n):
        self._tick()
        return await super().apropose(task, examples, n)


def comparable(history, *, drop: tuple[str, ...] = ()) -> list[dict]:
    """History records without wall times (and without ``drop`` fields)."""
    out = []
    for r in history:
        d = r.comparable()
        for k in drop:
            d.pop(k, None)
        out.append(d)
    return out
