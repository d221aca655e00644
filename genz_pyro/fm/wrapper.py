"""``Wrapper``: the base of models that change some answers of an inner model.

It shares the inner model's ``usage`` record (call counts add up), forwards other
attributes (``batch_size``, ``max_concurrency``, ...) and the ``on_call`` hook, and passes
mining and proposing through; a subclass overrides ``ajudge`` (and ``name`` /
``cache_identity``, starting from :meth:`Wrapper.inner_identity`). Used by
:class:`~genz_pyro.fm.flip.FlipModel` and :class:`~genz_pyro.discovery.judges.PromptVariant`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from genz_pyro.fm.protocol import CallRecord, FoundationModel, Item, MinedFeature

__all__ = ["Wrapper"]


class Wrapper(FoundationModel):
    """Wrap ``inner`` (any :class:`FoundationModel`); see the module docstring."""

    def __init__(self, inner: FoundationModel) -> None:
        super().__init__()
        if not isinstance(inner, FoundationModel):
            raise ValueError(f"inner: expected a FoundationModel, got {type(inner).__name__}")
        self.inner = inner
        self.usage = inner.usage

    def __getattr__(self, attr: str) -> Any:
        """Other attributes (``batch_size``, ``max_concurrency``, ...) are the inner model's."""
        if attr.startswith("__") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    @property
    def reports_calls(self) -> bool:  # type: ignore[override]
        """The inner model's: the ``on_call`` hook is passed through."""
        return bool(getattr(self.inner, "reports_calls", False))

    @staticmethod
    def _hook(on_call: Callable[[CallRecord], None] | None) -> dict[str, Any]:
        return {} if on_call is None else {"on_call": on_call}

    def inner_identity(self) -> dict[str, Any]:
        """The inner model's ``cache_identity()`` (``{"name": ...}`` when it has none)."""
        ident = getattr(self.inner, "cache_identity", None)
        return dict(ident()) if callable(ident) else {"name": self.inner.name}

    async def amine(
        self,
        positives: Mapping[str, Item],
        negatives: Mapping[str, Item],
        *,
        avoid: tuple[str, ...] = (),
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> MinedFeature:
        """Passed through to the inner model."""
        return await self.inner.amine(positives, negatives, avoid=avoid, **self._hook(on_call))  # type: ignore[call-arg]

    async def apropose(
        self, task: str, examples: Mapping[str, Item], n: int, *, on_call: Callable[[CallRecord], None] | None = None
    ) -> list[str]:
        """Passed through to the inner model."""
        return await self.inner.apropose(task, examples, n, **self._hook(on_call))  # type: ignore[call-arg]
