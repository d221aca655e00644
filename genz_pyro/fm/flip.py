"""``FlipModel``: flip a foundation model's judgments at a known rate (for tests of eps).

Judgment ``(description, item_id)`` is flipped when
``u = blake2b(seed, description, item_id) / 2^64 < rate``: a hash, not a random
stream, so the same judgment is flipped whatever the call order, batching or
caching, and a different seed flips a different, independent set. Mining and
proposing pass through unchanged. The flipped judgments are what a GenZ model
should learn ``eps_k ~= rate`` from (when the inner model is exact).

Behind a ``CachedModel`` (which forwards one representative id per distinct item
content), items with identical content share the representative's flip. When the inner
model reports its calls (the SDK backends), so does the wrapper: the ``on_call`` hook is
passed through, and a cache stores each call's raw provider answer (the unflipped text)
beside the flipped judgment values it returned.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Callable, Mapping

from genz_pyro.fm.protocol import CallRecord, FoundationModel, Item, Judgment
from genz_pyro.fm.wrapper import Wrapper

__all__ = ["FlipModel", "flip_uniform"]


def flip_uniform(description: str, item_id: str, seed: int) -> float:
    """The deterministic uniform number in ``[0, 1)`` of one judgment."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{int(seed)}\x1f{description}\x1f{item_id}".encode("utf-8"))
    return int.from_bytes(h.digest(), "big") / 2.0**64


class FlipModel(Wrapper):
    """Wrap ``inner`` and flip each of its judgments with probability ``rate``.

    Args:
        inner: any foundation model.
        rate: flip probability in ``[0, 1]``.
        seed: selects which judgments flip (see the module docstring).

    ``usage`` is the inner model's usage record (shared, so call counts add up).
    A flipped judgment's ``probability`` (when the inner model reports one) becomes
    ``1 - probability``.
    """

    def __init__(self, inner: FoundationModel, rate: float, seed: int = 0) -> None:
        super().__init__(inner)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"rate: expected a flip probability in [0, 1], got {rate!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an int, got {seed!r}")
        self.rate = float(rate)
        self.seed = seed

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"flip({self.inner.name},rate={self.rate:g},seed={self.seed})"

    def cache_identity(self) -> dict[str, Any]:
        """The inner model's identity plus the flip rate and seed."""
        return {**self.inner_identity(), "flip_rate": self.rate, "flip_seed": self.seed}

    def flips(self, description: str, item_id: str) -> bool:
        """Whether judgment ``(description, item_id)`` is flipped."""
        return flip_uniform(description, str(item_id), self.seed) < self.rate

    async def ajudge(
        self, description: str, items: Mapping[str, Item], *, on_call: Callable[[CallRecord], None] | None = None
    ) -> dict[str, Judgment]:
        """The inner judgments, each flipped when :meth:`flips` says so (``on_call``: passed
        to the inner model, see :attr:`reports_calls`)."""
        answers = await self.inner.ajudge(description, items, **self._hook(on_call))  # type: ignore[call-arg]
        out: dict[str, Judgment] = {}
        for k, j in answers.items():
            if self.flips(description, k):
                prob = None if j.probability is None else 1.0 - j.probability
                j = replace(j, value=not j.value, probability=prob)
            out[k] = j
        return out
