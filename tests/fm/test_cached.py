"""CachedModel over a counting fake model: warm cache = zero inner calls, misses only, failures write nothing."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import pytest

from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.cached import CachedModel, model_identity
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature, Usage, render_item


class CountingFM(FoundationModel):
    """Deterministic fake: 'description' holds when its first word occurs in the item text.

    Records every call (operation, ids) so tests can count what reached the model.
    """

    name = "counting"

    def __init__(self, *, version: str = "v1", temperature: float = 0.0, batch_size: int | None = None,
                 fail_on: str | None = None, drop: str | None = None) -> None:
        super().__init__()
        self.version, self.temperature = version, temperature
        if batch_size is not None:
            self.batch_size = batch_size
            self.max_concurrency = 2
        self.fail_on, self.drop = fail_on, drop
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def cache_identity(self) -> dict[str, Any]:
        return {"provider": "fake", "model": "counting", "prompt_version": self.version,
                "temperature": self.temperature}

    @staticmethod
    def holds(description: str, item: Item) -> bool:
        return description.split()[0].lower() in render_item(item).lower()

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        self.calls.append(("judge", tuple(items)))
        await asyncio.sleep(0)
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError(f"provider down while judging {self.fail_on}")
        self.usage.add(Usage(calls=1, input_tokens=10 * len(items), output_tokens=len(items), cost_usd=0.001))
        return {i: Judgment(i, self.holds(description, it), 0.9 if self.holds(description, it) else 0.1)
                for i, it in items.items() if i != self.drop}

    async def amine(self, positives, negatives, *, avoid=()):
        self.calls.append(("mine", tuple(positives) + tuple(negatives)))
        self.usage.add(Usage(calls=1, input_tokens=50, output_tokens=10))
        return MinedFeature(f"feature {len(self.calls)}", f"avoiding {len(avoid)}")

    async def apropose(self, task, examples, n):
        self.calls.append(("propose", tuple(examples)))
        self.usage.add(Usage(calls=1, input_tokens=50, output_tokens=10))
        return [f"{task} {k} #{len(self.calls)}" for k in range(n)]


WORDS = ["garden", "pool", "garage", "attic", "porch"]
ITEMS = {f"h{n}": f"house {n} with a {WORDS[n % 5]} and a {WORDS[(n * 3) % 5]}" for n in range(40)}


def expected(description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
    return {i: Judgment(i, CountingFM.holds(description, it), 0.9 if CountingFM.holds(description, it) else 0.1)
            for i, it in items.items()}


@pytest.fixture
def cache(tmp_path):
    with JudgmentCache(tmp_path / "c.sqlite") as c:
        yield c


def test_warm_cache_makes_zero_inner_calls(cache):
    inner = CountingFM()
    m = CachedModel(inner, cache)
    cold = m.judge("garden present", ITEMS)
    assert cold == expected("garden present", ITEMS) and list(cold) == list(ITEMS)
    assert len(inner.calls) == 1 and m.usage.calls == 1 and m.usage.input_tokens == 400
    # a fresh wrapper over a fresh inner model (a resumed process) on the same cache file
    inner2 = CountingFM()
    m2 = CachedModel(inner2, JudgmentCache(cache.path))
    shuffled = {k: ITEMS[k] for k in sorted(ITEMS, reverse=True)}
    warm = m2.judge("garden present", shuffled)
    assert inner2.calls == [] and m2.usage.calls == 0 and m2.usage.cache_hits == 40
    assert warm == expected("garden present", shuffled) and list(warm) == list(shuffled)


def test_only_misses_are_forwarded(cache):
    inner = CountingFM()
    m = CachedModel(inner, cache)
    first = dict(list(ITEMS.items())[:25])
    m.judge("pool", first)
    assert m.judge("pool", ITEMS) == expected("pool", ITEMS)
    assert inner.calls[1] == ("judge", tuple(list(ITEMS)[25:]))
    assert m.usage.cache_hits == 25


@pytest.mark.parametrize("change", [{"version": "v2"}, {"temperature": 0.7}])
def test_changed_prompt_version_or_temperature_is_a_miss(cache, change):
    CachedModel(CountingFM(), cache).judge("attic", ITEMS)
    inner = CountingFM(**change)
    CachedModel(inner, cache).judge("attic", ITEMS)
    assert len(inner.calls) == 1 and len(inner.calls[0][1]) == 40


def test_identity_defaults_to_the_name():
    class Bare(CountingFM):
        cache_identity = None  # type: ignore[assignment]

    assert model_identity(Bare()) == {"name": "counting"}
    assert model_identity(CountingFM(version="v9"))["prompt_version"] == "v9"


def test_same_content_is_asked_once(cache):
    inner = CountingFM()
    items = {"a": "a porch", "b": "a porch", "c": "no", "d": "a porch"}
    got = CachedModel(inner, cache).judge("porch", items)
    assert inner.calls == [("judge", ("a", "c"))]
    assert got == expected("porch", items)


def test_failed_call_writes_nothing_but_answered_chunks_are_kept(cache):
    # batch_size 4 -> chunks of 8 (chunk_size rounded to a multiple of 4); h13 sits in chunk 2 of 5
    inner = CountingFM(batch_size=4, fail_on="h13")
    m = CachedModel(inner, cache, chunk_size=10)
    assert m.chunk_size() == 8
    with pytest.raises(RuntimeError, match="h13"):
        m.judge("garage", ITEMS)
    assert cache.counts()["judgments"] == 32  # the 4 answered chunks; nothing from the failed one
    assert set(cache.get_judgments(model_identity(inner), "garage", ITEMS)) == set(ITEMS) - {
        f"h{n}" for n in range(8, 16)}
    # resume: only the failed chunk is asked again
    inner2 = CountingFM(batch_size=4)
    m2 = CachedModel(inner2, cache, chunk_size=10)
    assert m2.judge("garage", ITEMS) == expected("garage", ITEMS)
    assert inner2.calls == [("judge", tuple(f"h{n}" for n in range(8, 16)))]


def test_everything_fails_writes_nothing(cache):
    inner = CountingFM(fail_on="h0")
    with pytest.raises(RuntimeError):
        CachedModel(inner, cache).judge("garage", ITEMS)
    assert cache.counts() == {"judgments": 0, "answers": 0, "calls": 0, "contexts": 0}


def test_inner_that_drops_an_id_is_an_error_and_writes_nothing(cache):
    with pytest.raises(ValueError, match="no answer for items \\['h7'\\]"):
        CachedModel(CountingFM(drop="h7"), cache).judge("pool", ITEMS)
    assert cache.counts()["judgments"] == 0


def test_mine_and_propose_are_cached(cache):
    inner = CountingFM()
    m = CachedModel(inner, cache)
    pos, neg = {"h1": ITEMS["h1"], "h2": ITEMS["h2"]}, {"h3": ITEMS["h3"]}
    f1 = m.mine(pos, neg, avoid=("pool",))
    assert m.mine(pos, neg, avoid=("pool",)) == f1 and len(inner.calls) == 1
    m.mine(pos, neg, avoid=("pool", "garden"))  # changed avoid list
    m.mine({"h1": ITEMS["h1"], "h2": "changed content"}, neg, avoid=("pool",))  # changed exemplar content
    m.mine({"h2": ITEMS["h2"], "h1": ITEMS["h1"]}, neg, avoid=("pool",))  # order is part of the prompt
    assert len(inner.calls) == 4
    p1 = m.propose("predict price", pos, 3)
    assert m.propose("predict price", pos, 3) == p1 and len(p1) == 3
    m.propose("predict price", pos, 4)
    assert [c[0] for c in inner.calls].count("propose") == 2
    assert m.usage.cache_hits == 2 and m.usage.calls == 6
    # survives a restart
    inner2 = CountingFM()
    m2 = CachedModel(inner2, JudgmentCache(cache.path))
    assert m2.mine(pos, neg, avoid=("pool",)) == f1 and m2.propose("predict price", pos, 3) == p1
    assert inner2.calls == []


def test_a_failing_cache_write_is_logged_and_the_answers_still_returned(cache, monkeypatch, caplog):
    import logging
    import sqlite3

    def broken(*args, **kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(cache, "_write", broken)
    inner = CountingFM()
    m = CachedModel(inner, cache)
    with caplog.at_level(logging.WARNING, logger="genz_pyro.fm.cache"):
        assert m.judge("garden", ITEMS) == expected("garden", ITEMS)
        assert m.propose("t", {"h1": ITEMS["h1"]}, 2) == ["t 0 #2", "t 1 #2"]
    assert cache.damage["writes"] == 2  # both counted, logged once
    assert sum("is damaged" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.undo()
    assert cache.counts()["judgments"] == 0


def test_a_model_without_call_reports_stores_usage_but_no_raw_text(cache):
    inner = CountingFM()
    assert not inner.reports_calls
    m = CachedModel(inner, cache)
    m.judge("garden", ITEMS)
    stored = cache.judgment_calls(model_identity(inner), "garden", ITEMS)
    assert set(stored) == set(ITEMS)
    assert {s.raw for s in stored.values()} == {None}
    assert all(s.usage == Usage(calls=1, input_tokens=400, output_tokens=40, cost_usd=0.001) for s in stored.values())
    assert cache.total_usage() == m.usage == Usage(1, 400, 40, 0.001)


def test_bad_arguments(cache):
    with pytest.raises(ValueError, match="inner"):
        CachedModel("not a model", cache)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cache"):
        CachedModel(CountingFM(), "c.sqlite")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        CachedModel(CountingFM(), cache, chunk_size=0)


def test_async_concurrent_judges_share_the_cache(cache):
    inner = CountingFM()
    m = CachedModel(inner, cache)

    async def main():
        return await asyncio.gather(*(m.ajudge(w, ITEMS) for w in WORDS))

    res = asyncio.run(main())
    assert [r == expected(w, ITEMS) for r, w in zip(res, WORDS)] == [True] * 5
    assert m.usage.calls == 5 and m.usage.input_tokens == 5 * 400  # each increment counted once
    assert sum(cache.counts()[k] for k in ("judgments",)) == 200


# ------------------------------------------------ the real SDK backends at a local server
from genz_pyro.fm.anthropic_backend import AnthropicModel  # noqa: E402
from genz_pyro.fm.errors import ProviderError  # noqa: E402
from genz_pyro.fm.openai_backend import OpenAIModel  # noqa: E402
from genz_pyro.fm.prompts import PROMPT_VERSIONS  # noqa: E402

try:  # tests/ is not a package: pytest puts tests/fm on sys.path (as conftest.py relies on)
    import servers
except ImportError:  # pragma: no cover
    from tests.fm import servers  # type: ignore[no-redef]
FakeProvider = servers.FakeProvider
Fault = servers.Fault


def backend(provider: str, server, **kw):
    kw.setdefault("max_retries", 0)
    if provider == "openai":
        return OpenAIModel(kw.pop("model", "gpt-4.1-mini"), base_url=server.url + "/v1", api_key="k", **kw)
    return AnthropicModel(kw.pop("model", "claude-haiku-4-5"), base_url=server.url, api_key="k", **kw)


@pytest.fixture
def server():
    with FakeProvider(seed=3) as s:
        yield s


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_warm_cache_makes_zero_http_requests(tmp_path, server, provider):
    path = tmp_path / "c.sqlite"
    m = CachedModel(backend(provider, server, batch_size=8), JudgmentCache(path))
    cold = {d: m.judge(d, ITEMS) for d in ("garden", "pool")}
    mined = m.mine({"h1": ITEMS["h1"]}, {"h2": ITEMS["h2"]}, avoid=("garden",))
    proposed = m.propose("predict the price", {"h1": ITEMS["h1"]}, 3)
    n_cold = len(server.model_calls())
    assert n_cold == 2 * 5 + 2
    assert list(cold["garden"]) == list(ITEMS)
    assert all(j.value == ("garden" in ITEMS[i]) for i, j in cold["garden"].items())
    # a new process: new backend object, new cache connection
    m2 = CachedModel(backend(provider, server, batch_size=8), JudgmentCache(path))
    assert {d: m2.judge(d, ITEMS) for d in ("garden", "pool")} == cold
    assert m2.mine({"h1": ITEMS["h1"]}, {"h2": ITEMS["h2"]}, avoid=("garden",)) == mined
    assert m2.propose("predict the price", {"h1": ITEMS["h1"]}, 3) == proposed
    assert len(server.model_calls()) == n_cold  # zero requests reached the server
    assert m2.usage.calls == 0 and m2.usage.cache_hits == 2 * 40 + 2


@pytest.mark.parametrize(
    "change",
    ["prompt_version", "model", "temperature", "batch_size"],
)
def test_changed_prompt_version_model_or_temperature_is_a_miss_at_the_server(tmp_path, server, monkeypatch,
                                                                               change):
    cache = JudgmentCache(tmp_path / "c.sqlite")
    CachedModel(backend("openai", server, batch_size=10), cache).judge("porch", ITEMS)
    assert len(server.model_calls()) == 4
    kw: dict[str, Any] = {"batch_size": 10}
    if change == "prompt_version":
        monkeypatch.setitem(PROMPT_VERSIONS, "judge_batch", "judge_batch/999")
    elif change == "model":
        kw["model"] = "gpt-4.1"
    elif change == "temperature":
        kw["temperature"] = 0.5
    else:
        kw["batch_size"] = 20
    CachedModel(backend("openai", server, **kw), cache).judge("porch", ITEMS)
    assert len(server.model_calls()) == 4 + (2 if change == "batch_size" else 4)
    # unchanged: a hit again
    monkeypatch.undo()
    CachedModel(backend("openai", server, batch_size=10), cache).judge("porch", ITEMS)
    assert len(server.model_calls()) == 4 + (2 if change == "batch_size" else 4)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_persistent_failure_raises_the_library_error_and_writes_nothing(tmp_path, server, provider):
    cache = JudgmentCache(tmp_path / "c.sqlite")
    server.faults = [Fault("status", 500) for _ in range(100)]
    m = CachedModel(backend(provider, server, batch_size=40, max_retries=1), cache)
    with pytest.raises(ProviderError, match="server error 500"):
        m.judge("garden", ITEMS)
    with pytest.raises(ProviderError):
        m.mine({"h1": ITEMS["h1"]}, {"h2": ITEMS["h2"]})
    assert len(server.model_calls()) == 2 * 2  # 1 + max_retries attempts each
    assert cache.counts() == {"judgments": 0, "answers": 0, "calls": 0, "contexts": 0}
    server.faults = []
    assert all(j.value == ("garden" in ITEMS[i]) for i, j in m.judge("garden", ITEMS).items())
    assert cache.counts()["judgments"] == 40
