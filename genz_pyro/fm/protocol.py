"""The protocol every foundation model implements: judge, mine, propose.

Items are identified by string ids and passed as an ordered mapping
``{item_id: item}``; an item is an ``int``, a ``str`` or a record (a ``dict`` of
JSON-serialisable values). Answers are keyed by the same ids, so a judgment can
never land on the wrong item.

Async is first-class (``ajudge``, ``amine``, ``apropose``); :class:`FoundationModel`
adds the sync facade (``judge``, ``mine``, ``propose``) that notebooks use, which
works whether or not an event loop is already running.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Mapping, TypeVar, Union

__all__ = [
    "Item",
    "CallRecord",
    "Judgment",
    "MinedFeature",
    "Usage",
    "FoundationModel",
    "render_item",
    "run_sync",
]

Item = Union[int, str, Mapping[str, Any]]
T = TypeVar("T")


def render_item(item: Item) -> str:
    """The text a foundation model sees for ``item``: strings as they are, ints in
    decimal, records as canonical JSON (sorted keys)."""
    if isinstance(item, bool):
        raise TypeError("render_item: a bool is not an item; use an int, a str or a dict record")
    if isinstance(item, (int, str)):
        return str(item)
    if isinstance(item, Mapping):
        return json.dumps(dict(item), sort_keys=True, ensure_ascii=False, default=str)
    raise TypeError(f"render_item: items must be int, str or dict records, got {type(item).__name__}")


@dataclass(frozen=True)
class Judgment:
    """One yes/no answer: does the feature hold for item ``item_id``?

    ``probability`` is the model's probability of "yes" when it reports one.
    """

    item_id: str
    value: bool
    probability: float | None = None


@dataclass(frozen=True)
class MinedFeature:
    """A mined feature description and the model's rationale for it."""

    description: str
    rationale: str = ""


@dataclass
class Usage:
    """Cumulative usage accounting (calls made to the provider, not cache hits)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0

    def add(self, other: "Usage") -> None:
        """Accumulate ``other`` into this record."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.cache_hits += other.cache_hits

    def copy(self) -> "Usage":
        return Usage(self.calls, self.input_tokens, self.output_tokens, self.cost_usd, self.cache_hits)


@dataclass(frozen=True)
class CallRecord:
    """One provider call as billed, reported by models with ``reports_calls = True``
    through the ``on_call`` hook of ``ajudge`` / ``amine`` / ``apropose``.

    Attributes:
        template: the prompt template (``"judge_batch"``, ``"judge_single"``, ``"mine"``,
            ``"propose"``).
        item_ids: the ids the call asked about (judge calls; ``()`` otherwise).
        raw: the answer text as the provider sent it (a tool-use answer: its input as JSON).
        usage: this call's usage (``calls == 1``; tokens as billed).
        used: ``False`` when the answer was discarded (malformed or truncated) and re-sent.
        answered: the ids whose judgment came from this answer (judge calls).
        judgments: ``{id: (value, probability or None)}`` parsed from this answer (judge
            calls), so a caller can keep a call's answers even when a later call of the same
            job fails.
    """

    template: str
    item_ids: tuple[str, ...]
    raw: str
    usage: Usage
    used: bool = True
    answered: tuple[str, ...] = ()
    judgments: Mapping[str, tuple[bool, float | None]] = field(default_factory=dict)


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion from sync code, also inside a running loop
    (a Jupyter kernel), by using a worker thread there."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, awaitable).result()  # type: ignore[arg-type]


class FoundationModel(abc.ABC):
    """Base class of every foundation model (offline, Anthropic, OpenAI, wrappers).

    Subclasses implement the three async methods. ``name`` identifies the model in
    cache keys and run histories (e.g. ``"offline"``, ``"anthropic:claude-sonnet-4-5"``).
    ``usage`` accumulates provider calls, tokens and cost.
    """

    name: str = "abstract"
    #: ``True`` when ``ajudge``, ``amine`` and ``apropose`` accept a keyword-only
    #: ``on_call: Callable[[CallRecord], None]`` hook, called once per provider call with its
    #: raw answer and exact usage (the SDK backends). Wrappers such as the cache use it to
    #: store raw answers and to book usage per call even when calls overlap.
    reports_calls: bool = False

    def __init__(self) -> None:
        self.usage = Usage()

    @abc.abstractmethod
    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Judge ``description`` on every item.

        Args:
            description: a feature in plain words ("Directed by Steven Spielberg").
            items: ordered ``{item_id: item}``.

        Returns:
            ``{item_id: Judgment}`` with exactly the ids of ``items``.
        """

    @abc.abstractmethod
    async def amine(
        self,
        positives: Mapping[str, Item],
        negatives: Mapping[str, Item],
        *,
        avoid: tuple[str, ...] = (),
    ) -> MinedFeature:
        """Describe a yes/no feature that holds for ``positives`` and not ``negatives``.

        Args:
            positives: exemplars of the positive group, ``{item_id: item}``.
            negatives: exemplars of the negative group.
            avoid: descriptions already in the model (the answer should differ).
        """

    @abc.abstractmethod
    async def apropose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        """Propose ``n`` yes/no feature descriptions for ``task`` (the zero-shot baseline)."""

    # ---------------------------------------------------------------- sync facade
    def judge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Sync version of :meth:`ajudge`."""
        return run_sync(self.ajudge(description, items))

    def mine(
        self, positives: Mapping[str, Item], negatives: Mapping[str, Item], *, avoid: tuple[str, ...] = ()
    ) -> MinedFeature:
        """Sync version of :meth:`amine`."""
        return run_sync(self.amine(positives, negatives, avoid=avoid))

    def propose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        """Sync version of :meth:`apropose`."""
        return run_sync(self.apropose(task, examples, n))
