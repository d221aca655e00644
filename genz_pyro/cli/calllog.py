"""The ``genz fit --call-log`` wrapper: one JSON line per foundation-model call."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature

__all__ = ["CallLog"]


class CallLog(FoundationModel):
    """Delegates to ``inner`` and appends one JSON line per call to ``path``
    (operation, description or exemplar ids; written after the call returns).

    Placed under the cache, it records exactly the calls that reached the model:
    ``genz fit --call-log FILE`` proves that a resumed run repeats none. The ``on_call`` hook
    of the SDK backends passes through (:attr:`reports_calls` is the inner model's), so the
    cache above still stores each call's raw answer and exact usage.
    """

    def __init__(self, inner: FoundationModel, path: str | Path) -> None:
        super().__init__()
        self.inner = inner
        self.path = Path(path)
        self.usage = inner.usage

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def __getattr__(self, attr: str) -> Any:  # batch_size, max_concurrency, plan_judge, ...
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def cache_identity(self) -> dict:
        from genz_pyro.fm.cached import model_identity

        return model_identity(self.inner)

    @property
    def reports_calls(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.inner, "reports_calls", False))

    def _log(self, op: str, **fields: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"op": op, **fields}, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def ajudge(self, description: str, items: Mapping[str, Item], **hook: Any) -> dict[str, Judgment]:
        out = await self.inner.ajudge(description, items, **hook)
        self._log("judge", description=description, items=sorted(items))
        return out

    async def amine(self, positives: Mapping[str, Item], negatives: Mapping[str, Item], *,
                    avoid: tuple[str, ...] = (), **hook: Any) -> MinedFeature:
        out = await self.inner.amine(positives, negatives, avoid=avoid, **hook)
        self._log("mine", positives=sorted(positives), negatives=sorted(negatives), avoid=list(avoid))
        return out

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int, **hook: Any) -> list[str]:
        out = await self.inner.apropose(task, examples, n, **hook)
        self._log("propose", task=task, examples=sorted(examples), n=n)
        return out
