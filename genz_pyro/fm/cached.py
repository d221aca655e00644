"""A caching wrapper around any foundation model: a resumed run repeats no call.

``CachedModel(inner, cache)`` is itself a :class:`FoundationModel`. ``ajudge``
looks up every (description, item) pair in the :class:`JudgmentCache`, forwards
only the misses to ``inner.ajudge`` (one representative per distinct item
content), writes the answers and returns the full dict in the caller's id order;
a warm cache makes zero inner calls. ``amine`` and ``apropose`` are cached too,
keyed by the exemplar ids and contents, the avoid list, the task and ``n``.

Misses are forwarded in chunks (:meth:`CachedModel.chunks`) that run
concurrently and are each written as soon as they are answered, so a job stopped
part-way (a budget cap, a crash, a persistent provider error) keeps every answer
it paid for. When a job fails part-way, the answers of its calls that came back before
the failure are written too (:attr:`~genz_pyro.fm.protocol.CallRecord.judgments`, from
models that report their calls), so a resumed job pays only for the rest. A failed cache
write is logged and the answers are still returned, except on a full disk, which stops
the caller (an ``OSError``). Chunks are multiples of the
inner model's ``batch_size`` so batched extraction still makes ``ceil(N / B)``
calls per feature.

The cache identity is ``inner.cache_identity()`` when the inner model has one
(provider, model, prompt versions, decoding parameters), else ``{"name": inner.name}``.

Raw answers and usage: when the inner model reports its calls (``inner.reports_calls``,
the SDK backends), every forwarded call passes an ``on_call`` hook that collects one
:class:`~genz_pyro.fm.protocol.CallRecord` per provider call; each judgment is stored
with the raw answer text and the exact usage of the call that answered it (a malformed
answer that was re-sent is stored too, without judgments, so the stored usage adds up to
what was paid), and :attr:`CachedModel.usage` books exactly the calls of this wrapper, also
when several wrappers share one inner model concurrently. Other models (the offline
model, wrappers) fall back to the usage delta of ``inner.usage`` and store no raw text.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any, Mapping

from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.protocol import CallRecord, FoundationModel, Item, Judgment, MinedFeature, Usage

__all__ = ["CachedModel", "model_identity", "store_quietly"]

logger = logging.getLogger("genz_pyro.fm.cached")


def _judgment(item_id: str, value: bool, probability: float | None, _new: Any = object.__new__) -> Judgment:
    """``Judgment(item_id, value, probability)`` without the frozen-dataclass ``__init__``
    (about half the cost; the warm-cache path builds one per item)."""
    j = _new(Judgment)
    d = j.__dict__
    d["item_id"] = item_id
    d["value"] = value
    d["probability"] = probability
    return j


def model_identity(model: FoundationModel) -> dict[str, Any]:
    """``model.cache_identity()`` when the model defines it, else ``{"name": model.name}``."""
    ident = getattr(model, "cache_identity", None)
    if callable(ident):
        out = ident()
        if not isinstance(out, Mapping):
            raise ValueError(f"{type(model).__name__}.cache_identity() must return a dict, got {type(out).__name__}")
        return dict(out)
    return {"name": model.name}


def store_quietly(cache: JudgmentCache, write: Any) -> None:
    """Run a cache write; a damaged database is counted (``cache.damage``, logged once), not
    raised: the answers were paid for and are returned to the caller, they are just not
    remembered. A full disk raises (``OSError``): it would lose every later answer too."""
    try:
        write()
    except sqlite3.DatabaseError as exc:  # a damaged file: counted, logged once (a full disk raises OSError)
        cache.note_damage("writes", exc)


def records_usage(records: list[CallRecord]) -> Usage:
    """The summed usage of ``records``."""
    total = Usage()
    for r in records:
        total.add(r.usage)
    return total


class CachedModel(FoundationModel):
    """Serve judgments, mined features and proposals from a cache; forward misses to ``inner``.

    Args:
        inner: any foundation model (an SDK backend, the offline model, a wrapper).
        cache: the judgment cache.
        chunk_size: misses per forwarded ``ajudge`` call (written as each returns).
            Default: ``8 * batch_size * max_concurrency`` of the inner model when it
            has those attributes, else all misses in one call. Rounded down to a
            multiple of ``inner.batch_size``.

    Attributes:
        usage: provider calls, tokens and cost accrued by ``inner`` through this
            wrapper (the exact sum of its own calls when ``inner.reports_calls``), plus
            ``cache_hits`` (judgments, mined features and proposals served from the cache).
    """

    def __init__(self, inner: FoundationModel, cache: JudgmentCache, *, chunk_size: int | None = None) -> None:
        super().__init__()
        if not isinstance(inner, FoundationModel):
            raise ValueError(f"inner: expected a FoundationModel, got {type(inner).__name__}")
        if not isinstance(cache, JudgmentCache):
            raise ValueError(f"cache: expected a JudgmentCache, got {type(cache).__name__}; JudgmentCache(path)")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                       or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
        self.inner = inner
        self.cache = cache
        self._chunk_size = chunk_size
        self._inner_seen = inner.usage.copy()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def __repr__(self) -> str:
        return f"CachedModel({self.inner!r}, {self.cache!r})"

    def cache_identity(self) -> dict[str, Any]:
        """The inner model's identity (so wrappers compose)."""
        return model_identity(self.inner)

    # ---------------------------------------------------------------- usage
    @property
    def _reports(self) -> bool:
        return bool(getattr(self.inner, "reports_calls", False))

    def _book(self, records: list[CallRecord]) -> Usage:
        """Book the usage of one forwarded call into ``self.usage``: the exact sum of its
        call records when the inner model reports calls, else the ``inner.usage`` delta."""
        if not self._reports:
            return self._accrue()
        usage = records_usage(records)
        self.usage.add(usage)
        return usage

    def _accrue(self) -> Usage:
        """Usage the inner model accrued since the last accrual (added to ``self.usage``).

        Exact for sequential calls; under concurrency each increment is counted once,
        attributed to the call that finishes first.
        """
        now = self.inner.usage
        seen = self._inner_seen
        delta = Usage(
            now.calls - seen.calls,
            now.input_tokens - seen.input_tokens,
            now.output_tokens - seen.output_tokens,
            now.cost_usd - seen.cost_usd,
        )
        self._inner_seen = now.copy()
        self.usage.add(delta)
        return delta

    def _store(self, write: Any) -> None:
        """:func:`store_quietly` on this wrapper's cache."""
        store_quietly(self.cache, write)

    # ---------------------------------------------------------------- judge
    def chunk_size(self) -> int | None:
        """Misses per forwarded call (``None``: all at once); see the class docstring."""
        batch = getattr(self.inner, "batch_size", None)
        batch = batch if isinstance(batch, int) and batch >= 1 and getattr(
            self.inner, "extraction_shape", 2) == 2 else 1
        size = self._chunk_size
        if size is None:
            conc = getattr(self.inner, "max_concurrency", None)
            if not isinstance(conc, int) or not hasattr(self.inner, "batch_size"):
                return None
            size = 8 * batch * conc
        return max(batch, size - size % batch)

    def chunks(self, misses: Mapping[str, Item]) -> list[dict[str, Item]]:
        """Split ``misses`` into the ordered chunks forwarded to ``inner.ajudge``."""
        size = self.chunk_size()
        ids = list(misses)
        if size is None or len(ids) <= size:
            return [dict(misses)] if ids else []
        return [{i: misses[i] for i in ids[s : s + size]} for s in range(0, len(ids), size)]

    def lookup(
        self, description: str, items: Mapping[str, Item]
    ) -> tuple[dict[str, Judgment], dict[str, Item], dict[str, list[str]], bytes, str, list[bytes]]:
        """Split a judge job into cache hits and the misses to forward.

        Returns:
            ``(hits {id: Judgment}, misses {representative id: item}, same {representative
            id: [ids with the same content]}, context digest, context body, item hashes)``.
        """
        ctx, body = self.cache.context(model_identity(self.inner), "judge", description)
        hashes = self.cache.item_hashes(items)
        found = self.cache.get_many(ctx, hashes)
        hits: dict[str, Judgment] = {}
        misses: dict[str, Item] = {}
        same: dict[str, list[str]] = {}
        rep_of: dict[bytes, str] = {}
        get = found.get
        for item_id, h in zip(items, hashes):
            hit = get(h)
            if hit is not None:
                hits[item_id] = _judgment(item_id, hit[0], hit[1])
            elif h in rep_of:
                same[rep_of[h]].append(item_id)
            else:
                rep_of[h] = item_id
                misses[item_id] = items[item_id]
                same[item_id] = [item_id]
        return hits, misses, same, ctx, body, hashes

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Judge ``description`` on ``items`` (``{id: item}``); returns ``{id: Judgment}`` in ``items`` order."""
        if not items:
            return {}
        hits, misses, same, ctx, body, hashes = self.lookup(description, items)
        self.usage.cache_hits += len(hits)
        if not misses:
            return {i: hits[i] for i in items}
        hash_of = dict(zip(items, hashes))
        answered: dict[str, Judgment] = dict(hits)

        reports = self._reports

        async def forward(chunk: dict[str, Item]) -> None:
            records: list[CallRecord] = []
            try:
                if reports:
                    got = await self.inner.ajudge(description, chunk, on_call=records.append)  # type: ignore[call-arg]
                else:
                    got = await self.inner.ajudge(description, chunk)
            except BaseException:
                self._book(records)
                if records:  # keep what the calls answered before the failure: they were paid for
                    self._store(lambda: self.cache.put_calls(ctx, self._salvaged_calls(chunk, records, hash_of),
                                                             body=body))
                raise
            absent = [i for i in chunk if i not in got]
            if absent:
                self._book(records)
                raise ValueError(
                    f"{self.inner.name}: ajudge returned no answer for items {absent[:5]}; a foundation model must "
                    "answer every id it is given"
                )
            usage = self._book(records)
            if reports:
                calls = self._judgment_calls(chunk, got, records, hash_of)
                self._store(lambda: self.cache.put_calls(ctx, calls, body=body))
            else:
                self._store(lambda: self.cache.put_many(
                    ctx, [(hash_of[i], got[i].value, got[i].probability) for i in chunk], usage=usage, body=body
                ))
            for rep in chunk:
                j = got[rep]
                for i in same[rep]:
                    answered[i] = j if i == rep else Judgment(i, j.value, j.probability)

        results = await asyncio.gather(*(forward(c) for c in self.chunks(misses)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            done = sum(r is None for r in results)
            if done:
                logger.info("%s: %d of %d chunks answered and cached before the failure", self.name, done,
                            len(results))
            raise errors[0]
        return {i: answered[i] for i in items}

    @staticmethod
    def _judgment_calls(
        chunk: Mapping[str, Item], got: Mapping[str, Judgment], records: list[CallRecord], hash_of: Mapping[str, bytes]
    ) -> list[tuple[str | None, Usage | None, list[tuple[bytes, bool, float | None]]]]:
        """``(raw, usage, entries)`` per reported call for :meth:`JudgmentCache.put_calls`;
        an answered id that no record claims is stored without a call."""
        calls: list[tuple[str | None, Usage | None, list[tuple[bytes, bool, float | None]]]] = []
        claimed: set[str] = set()
        for r in records:
            ids = [i for i in r.answered if i in chunk and i not in claimed]
            claimed.update(ids)
            calls.append((r.raw, r.usage, [(hash_of[i], got[i].value, got[i].probability) for i in ids]))
        rest = [i for i in chunk if i not in claimed]
        if rest:
            calls.append((None, None, [(hash_of[i], got[i].value, got[i].probability) for i in rest]))
        return calls

    @staticmethod
    def _salvaged_calls(
        chunk: Mapping[str, Item], records: list[CallRecord], hash_of: Mapping[str, bytes]
    ) -> list[tuple[str | None, Usage | None, list[tuple[bytes, bool, float | None]]]]:
        """``(raw, usage, entries)`` of the calls of a job that failed part-way: each call's
        own parsed judgments (:attr:`CallRecord.judgments`), so a resumed job asks only the rest."""
        calls: list[tuple[str | None, Usage | None, list[tuple[bytes, bool, float | None]]]] = []
        claimed: set[str] = set()
        for r in records:
            entries = [(hash_of[i], bool(v), p) for i, (v, p) in r.judgments.items() if i in chunk and i not in claimed]
            claimed.update(i for i in r.judgments if i in chunk)
            calls.append((r.raw, r.usage, entries))
        return calls

    def plan_judge(self, description: str, items: Mapping[str, Item]) -> list[Any]:
        """The inner model's ``plan_judge`` on the cache misses, chunk by chunk (what
        :meth:`ajudge` would send)."""
        plan = getattr(self.inner, "plan_judge", None)
        if not callable(plan):
            raise ValueError(f"{type(self.inner).__name__} has no plan_judge(); only SDK backends can be planned")
        _, misses, _, _, _, _ = self.lookup(description, items)
        out: list[Any] = []
        for chunk in self.chunks(misses):
            out.extend(plan(description, chunk))
        return out

    # ---------------------------------------------------------------- mine / propose
    def _exemplars(self, group: Mapping[str, Item]) -> list[list[str]]:
        return [[i, h.hex()] for i, h in zip(group, self.cache.item_hashes(group))]

    def mine_request(
        self, positives: Mapping[str, Item], negatives: Mapping[str, Item], avoid: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The cache request of a mine call (exemplar ids and content hashes, the avoid list);
        with ``cache.answer_call(cache_identity(), "mine", request)`` it finds the stored call."""
        return {"positives": self._exemplars(positives), "negatives": self._exemplars(negatives),
                "avoid": list(avoid)}

    def propose_request(self, task: str, examples: Mapping[str, Item], n: int) -> dict[str, Any]:
        """The cache request of a propose call (task, example ids and content hashes, n)."""
        return {"task": task, "examples": self._exemplars(examples), "n": n}

    async def _forward_answer(self, operation: str, request: Any, payload: Any, call: Any) -> Any:
        """Run ``call(on_call or None)`` on the inner model, book its usage and store
        ``payload(answer)`` with the raw answer and usage of the call that gave it."""
        records: list[CallRecord] = []
        try:
            answer = await call(records.append if self._reports else None)
        finally:
            usage = self._book(records)
        ident = model_identity(self.inner)
        if self._reports and records:
            last = records[-1]
            discarded = [(r.raw, r.usage) for r in records[:-1]]
            self._store(lambda: self.cache.put_answer(ident, operation, request, payload(answer), raw=last.raw,
                                                      usage=last.usage, discarded=discarded))
        else:
            self._store(lambda: self.cache.put_answer(ident, operation, request, payload(answer), usage=usage))
        return answer

    async def amine(
        self, positives: Mapping[str, Item], negatives: Mapping[str, Item], *, avoid: tuple[str, ...] = ()
    ) -> MinedFeature:
        """Cached :meth:`FoundationModel.amine` (key: exemplar ids and contents, the avoid list)."""
        ident = model_identity(self.inner)
        request = self.mine_request(positives, negatives, tuple(avoid))
        hit = self.cache.get_answer(ident, "mine", request)
        if isinstance(hit, dict) and isinstance(hit.get("description"), str) and isinstance(
            hit.get("rationale"), str
        ):
            self.usage.cache_hits += 1
            return MinedFeature(hit["description"], hit["rationale"])
        if hit is not None:
            self.cache.note_damage("entries", "a mine answer of the wrong shape")

        async def call(on_call: Any) -> MinedFeature:
            if on_call is None:
                return await self.inner.amine(positives, negatives, avoid=tuple(avoid))
            return await self.inner.amine(positives, negatives, avoid=tuple(avoid), on_call=on_call)  # type: ignore[call-arg]

        mined: MinedFeature = await self._forward_answer(
            "mine", request, lambda m: {"description": m.description, "rationale": m.rationale}, call
        )
        return mined

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        """Cached :meth:`FoundationModel.apropose` (key: task, example ids and contents, n)."""
        ident = model_identity(self.inner)
        request = self.propose_request(task, examples, n)
        hit = self.cache.get_answer(ident, "propose", request)
        if isinstance(hit, list) and all(isinstance(d, str) for d in hit):
            self.usage.cache_hits += 1
            return list(hit)
        if hit is not None:
            self.cache.note_damage("entries", "a propose answer of the wrong shape")

        async def call(on_call: Any) -> list[str]:
            if on_call is None:
                return await self.inner.apropose(task, examples, n)
            return await self.inner.apropose(task, examples, n, on_call=on_call)  # type: ignore[call-arg]

        proposed: list[str] = await self._forward_answer("propose", request, list, call)
        return list(proposed)
