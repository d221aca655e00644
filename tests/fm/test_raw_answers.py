"""Raw answers and exact per-call usage in the cache, for both providers at a local server.

The expected values come from the wire: the fake provider keeps every answer it sent
(``Recorded.response``), and each stored call must carry that answer's text and the
token counts the server billed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import backend
from servers import FakeProvider, Recorded, parse_items

from genz_pyro.fm.batch import BatchJob
from genz_pyro.fm.cache import JudgmentCache, StoredCall
from genz_pyro.fm.cached import CachedModel, model_identity
from genz_pyro.fm.llm import LLMBackend
from genz_pyro.fm.protocol import CallRecord, Usage

PROVIDERS = ["openai", "anthropic"]
WORDS = ["garden", "pool", "garage", "attic", "porch"]
ITEMS = {f"h{n}": f"house {n} with a {WORDS[n % 5]} and a {WORDS[(n * 3) % 5]}" for n in range(24)}
MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5"}


def make(provider: str, server: FakeProvider, **kw: Any) -> LLMBackend:
    return backend(provider, server, model=MODELS[provider], **kw)


def wire_raw(rec: Recorded) -> str:
    """The answer text as the server sent it (a tool-use answer: its input as JSON)."""
    body = rec.response
    if "choices" in body:
        return body["choices"][0]["message"]["content"]
    blocks = body["content"]
    tools = [b for b in blocks if b["type"] == "tool_use"]
    return json.dumps(tools[0]["input"]) if tools else "".join(b.get("text", "") for b in blocks)


def wire_usage(rec: Recorded, model: LLMBackend, discount: float = 1.0) -> Usage:
    """The usage the server billed for one answer, priced like the model does."""
    u = rec.response["usage"]
    n_in, n_out = (u["prompt_tokens"], u["completion_tokens"]) if "choices" in rec.response else (
        u["input_tokens"], u["output_tokens"])
    return Usage(1, n_in, n_out, model.price().cost(n_in, n_out) * discount)


def asked_ids(rec: Recorded) -> list[str]:
    """The item ids a model call asked about."""
    msgs = rec.body["messages"]
    return [i for i, _ in parse_items(msgs[-1]["content"])]


def same_usage(a: Usage | None, b: Usage) -> bool:
    return a is not None and (a.calls, a.input_tokens, a.output_tokens) == (b.calls, b.input_tokens, b.output_tokens) \
        and a.cost_usd == pytest.approx(b.cost_usd, rel=1e-12) and b.cost_usd > 0


def total(usages: list[Usage]) -> Usage:
    out = Usage()
    for u in usages:
        out.add(u)
    return out


@pytest.fixture
def server():
    with FakeProvider(seed=11) as s:
        yield s


@pytest.mark.parametrize("provider", PROVIDERS)
def test_raw_answer_and_usage_of_every_call_are_stored(tmp_path, server, provider):
    cache = JudgmentCache(tmp_path / "c.sqlite")
    inner = make(provider, server, batch_size=8, max_malformed_retries=1)
    m = CachedModel(inner, cache)
    server.omit = {"h3": 1}  # h3 is missing from the first answer: asked again in a second call
    server.malformed = 1  # the very first answer is broken JSON: re-sent, stored without judgments
    got = m.judge("garden", ITEMS)
    assert {i: j.value for i, j in got.items()} == {i: "garden" in t for i, t in ITEMS.items()}
    calls = server.model_calls()
    assert len(calls) == 3 + 1 + 1  # ceil(24 / 8) + one re-sent malformed answer + one re-ask of h3
    stored = cache.judgment_calls(model_identity(inner), "garden", ITEMS)
    assert set(stored) == set(ITEMS)
    reask = calls[-1] if asked_ids(calls[-1]) == ["h3"] else next(c for c in calls if asked_ids(c) == ["h3"])
    for rec in calls:
        if rec.response is None or rec is reask:
            continue
        if wire_raw(rec).startswith('{"holds": ["oops"'):
            continue  # the malformed answer: no judgment points at it
        for i in asked_ids(rec):
            if i == "h3":
                continue
            assert stored[i] == StoredCall(wire_raw(rec), stored[i].usage)
            assert same_usage(stored[i].usage, wire_usage(rec, inner))
    assert stored["h3"].raw == wire_raw(reask) and same_usage(stored["h3"].usage, wire_usage(reask, inner))
    assert json.loads(stored["h3"].raw) == {"holds": [], "does_not_hold": ["h3"]}
    # the stored usage, the wrapper's usage and the wire agree exactly, the discarded call included
    wire = total([wire_usage(r, inner) for r in calls])
    assert same_usage(m.usage, wire) and m.usage.calls == 5
    assert same_usage(cache.total_usage(), wire) and cache.counts()["calls"] == 5
    malformed = [r for r in calls if wire_raw(r).startswith('{"holds": ["oops"')]
    assert len(malformed) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mine_and_propose_store_raw_answer_and_usage(tmp_path, server, provider):
    cache = JudgmentCache(tmp_path / "c.sqlite")
    inner = make(provider, server)
    m = CachedModel(inner, cache)
    pos, neg = {"h1": ITEMS["h1"], "h2": ITEMS["h2"]}, {"h3": ITEMS["h3"]}
    mined = m.mine(pos, neg, avoid=("pool",))
    server.malformed = 1  # propose: the first answer is malformed and re-sent
    proposed = m.propose("predict the price", pos, 3)
    assert mined.description == "like h1,h2" and proposed == [f"feature {k} of predict the price" for k in range(3)]
    mine_rec, bad_rec, propose_rec = server.model_calls()
    ident = model_identity(inner)
    mine_call = cache.answer_call(ident, "mine", m.mine_request(pos, neg, ("pool",)))
    assert mine_call is not None and mine_call.raw == wire_raw(mine_rec)
    assert json.loads(mine_call.raw) == {"characteristic": "like h1,h2", "rationale": "unlike h3"}
    assert same_usage(mine_call.usage, wire_usage(mine_rec, inner))
    propose_call = cache.answer_call(ident, "propose", m.propose_request("predict the price", pos, 3))
    assert propose_call is not None and propose_call.raw == wire_raw(propose_rec)
    assert same_usage(propose_call.usage, wire_usage(propose_rec, inner))
    wire = total([wire_usage(r, inner) for r in (mine_rec, bad_rec, propose_rec)])
    assert same_usage(m.usage, wire) and same_usage(cache.total_usage(), wire)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_overlapping_wrappers_over_one_model_book_usage_exactly(tmp_path, server, provider):
    """Two wrappers share one backend (and its usage counter); their calls overlap at the
    server. Each must book exactly its own calls, and the cache each call's own usage."""
    server.delay = 0.02
    cache = JudgmentCache(tmp_path / "c.sqlite")
    inner = make(provider, server, batch_size=2, max_concurrency=4)
    short, long_ = CachedModel(inner, cache), CachedModel(inner, cache)
    few = dict(list(ITEMS.items())[:4])

    async def main() -> None:
        await asyncio.gather(long_.ajudge("garage", ITEMS), short.ajudge("attic", few))

    asyncio.run(main())
    assert server.max_in_flight >= 2  # the calls did overlap
    calls = server.model_calls()
    by_desc = {d: [r for r in calls if f"Characteristic: {d}" in r.body["messages"][-1]["content"]]
               for d in ("garage", "attic")}
    assert len(by_desc["garage"]) == 12 and len(by_desc["attic"]) == 2
    for wrapper, desc in ((long_, "garage"), (short, "attic")):
        wire = total([wire_usage(r, inner) for r in by_desc[desc]])
        assert same_usage(wrapper.usage, wire), (desc, wrapper.usage, wire)
    assert same_usage(inner.usage, total([wire_usage(r, inner) for r in calls]))
    stored = cache.judgment_calls(model_identity(inner), "attic", few)
    for rec in by_desc["attic"]:
        for i in asked_ids(rec):
            assert stored[i].raw == wire_raw(rec) and same_usage(stored[i].usage, wire_usage(rec, inner))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_results_go_to_the_cache_and_an_online_run_reuses_them(tmp_path, server, provider):
    cache = JudgmentCache(tmp_path / "c.sqlite")
    server.omit = {"h5": 1}  # missing from the batch answers: asked online, and cached too
    model = make(provider, server, batch_size=8)
    job = BatchJob(model, tmp_path / "job.json", poll_interval=0.01, cache=cache)
    out = job.run("pool", ITEMS)
    truth = {i: "pool" in t for i, t in ITEMS.items()}
    assert {i: j.value for i, j in out.items()} == truth
    online = server.model_calls()
    assert [asked_ids(r) for r in online] == [["h5"]]
    stored = cache.judgment_calls(model_identity(model), "pool", ITEMS)
    assert set(stored) == set(ITEMS)
    assert stored["h5"].raw == wire_raw(online[0]) and same_usage(stored["h5"].usage, wire_usage(online[0], model))
    batch_raw = {s.raw for i, s in stored.items() if i != "h5"}
    assert len(batch_raw) == 3 and all(set(json.loads(r)) == {"holds", "does_not_hold"} for r in batch_raw)
    # batch answers are billed at the batch discount
    assert all(s.usage is not None and s.usage.cost_usd > 0 for s in stored.values())
    n_requests = len(server.requests)

    # a later online run of the same job (new backend, new cache connection): zero requests
    m = CachedModel(make(provider, server, batch_size=8), JudgmentCache(cache.path))
    assert {i: j.value for i, j in m.judge("pool", ITEMS).items()} == truth
    assert len(server.requests) == n_requests and m.usage.calls == 0 and m.usage.cache_hits == len(ITEMS)


def test_batch_cache_argument_is_checked(tmp_path, server):
    with pytest.raises(ValueError, match="cache must be a JudgmentCache"):
        BatchJob(make("openai", server), tmp_path / "job.json", cache=str(tmp_path / "c.sqlite"))  # type: ignore[arg-type]


def test_on_call_reports_each_call_of_a_backend(server):
    """The hook itself: one record per provider call, in the shape the cache relies on."""
    inner = make("openai", server, batch_size=10)
    records: list[CallRecord] = []
    got = asyncio.run(inner.ajudge("porch", ITEMS, on_call=records.append))
    calls = server.model_calls()
    assert len(records) == len(calls) == 3
    assert sorted(i for r in records for i in r.answered) == sorted(ITEMS) == sorted(got)
    for r in records:
        rec = next(c for c in calls if asked_ids(c) == list(r.item_ids))
        assert r.template == "judge_batch" and r.used and r.raw == wire_raw(rec)
        assert same_usage(r.usage, wire_usage(rec, inner))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_raw_answers_are_stored_behind_a_flip_wrapper(tmp_path, server, provider):
    """CachedModel(FlipModel(backend)): the hook passes through the wrapper, so each cached
    judgment points at the raw answer the server sent (unflipped), while the cached value is
    the flipped one that was returned."""
    from genz_pyro.fm.flip import FlipModel

    cache = JudgmentCache(tmp_path / "c.sqlite")
    inner = make(provider, server, batch_size=8)
    flip = FlipModel(inner, rate=0.3, seed=1)
    assert flip.reports_calls
    m = CachedModel(flip, cache)
    got = m.judge("garden", ITEMS)
    truth = {i: "garden" in t for i, t in ITEMS.items()}
    flipped = {i for i in ITEMS if flip.flips("garden", i)}
    assert flipped and {i: j.value for i, j in got.items()} == {i: truth[i] != (i in flipped) for i in ITEMS}
    stored = cache.judgment_calls(model_identity(flip), "garden", ITEMS)
    calls = server.model_calls()
    assert set(stored) == set(ITEMS) and len(calls) == 3
    for rec in calls:
        for i in asked_ids(rec):
            assert stored[i].raw == wire_raw(rec)
            assert same_usage(stored[i].usage, wire_usage(rec, inner))
    assert m.usage.calls == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_raw_answers_are_stored_behind_the_cli_call_log(tmp_path, server, provider):
    """CachedModel(CallLog(backend)) as `genz fit --call-log` builds it: the hook passes through
    the log, and the log still has one line per call that reached the model."""
    from genz_pyro.cli import CallLog

    cache = JudgmentCache(tmp_path / "c.sqlite")
    inner = make(provider, server, batch_size=8)
    logged = CallLog(inner, tmp_path / "calls.jsonl")
    assert logged.reports_calls
    m = CachedModel(logged, cache)
    m.judge("garden", ITEMS)
    stored = cache.judgment_calls(model_identity(logged), "garden", ITEMS)
    calls = server.model_calls()
    assert set(stored) == set(ITEMS) and len(calls) == 3
    for rec in calls:
        for i in asked_ids(rec):
            assert stored[i].raw == wire_raw(rec)
    lines = [json.loads(x) for x in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [x["op"] for x in lines] == ["judge"] and sorted(lines[0]["items"]) == sorted(ITEMS)
