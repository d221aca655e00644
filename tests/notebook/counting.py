"""A foundation model that counts what reaches it: the offline model behind a counter.

Every test instance gets its own cache identity, so the process's shared judgment cache
(``genz_pyro.shared_cache``) holds nothing for it when a test starts: the first pass
over folds must pay, and what a later pass pays is measured from zero.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, Mapping

from genz_pyro.fm.offline import OfflineModel
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature, render_item


class CountingModel(FoundationModel):
    """Forwards to :class:`OfflineModel`; counts calls per operation and every
    ``(description, item text)`` pair judged."""

    name = "counting-offline"

    def __init__(self) -> None:
        super().__init__()
        self.inner = OfflineModel()
        self.tag = uuid.uuid4().hex
        self.calls: Counter[str] = Counter()
        self.pairs: Counter[tuple[str, str]] = Counter()

    def cache_identity(self) -> dict[str, Any]:
        return {**self.inner.cache_identity(), "test": self.tag}

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        self.calls["judge"] += 1
        self.pairs.update((description, render_item(it)) for it in items.values())
        return await self.inner.ajudge(description, items)

    async def amine(self, positives: Mapping[str, Item], negatives: Mapping[str, Item], *,
                    avoid: tuple[str, ...] = ()) -> MinedFeature:
        self.calls["mine"] += 1
        return await self.inner.amine(positives, negatives, avoid=avoid)

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        self.calls["propose"] += 1
        return await self.inner.apropose(task, examples, n)
