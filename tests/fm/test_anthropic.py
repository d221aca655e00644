"""Anthropic backend against the local Messages-API server: round trips and wire traffic."""

from __future__ import annotations

import asyncio
import math

import pytest
from conftest import ANTHROPIC_TEST_KEY
from servers import parse_items

from genz_pyro.fm.budget import Budget
from genz_pyro.fm.errors import BudgetExceededError
from genz_pyro.fm.prompts import PROMPT_VERSIONS, judge_batch_prompt

ITEMS = {f"h{k}": t for k, t in enumerate(
    ["3 bed house with a pool", "flat, no garden", "villa with pool and sea view", "cottage", "POOL house", "barn"]
)}
TRUTH = {i: "pool" in t.lower() for i, t in ITEMS.items()}


def test_judge_round_trip_and_wire_format(make, fake):
    model = make("anthropic", batch_size=4, max_tokens=300)
    out = model.judge("pool", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    calls = fake.model_calls()
    assert len(calls) == math.ceil(len(ITEMS) / 4)
    # concurrent calls arrive in any order: take the one asking about the first batch
    first = next(c for c in calls if parse_items(c.body["messages"][0]["content"])[0][0] == "h0")
    assert first.path == "/v1/messages"
    # the key travels in a header only (x-api-key, or a bearer token in newer SDKs)
    assert ANTHROPIC_TEST_KEY in (first.headers.get("x-api-key"), first.headers.get("authorization", "")[7:])
    assert "anthropic-version" in first.headers
    body = first.body
    assert body["model"] == "claude-sonnet-4-6"
    assert body["max_tokens"] == 300
    assert "temperature" not in body  # the API default unless set
    expected = judge_batch_prompt("pool", {i: ITEMS[i] for i in list(ITEMS)[:4]})
    assert body["system"] == expected.system
    assert body["messages"] == [{"role": "user", "content": expected.user}]
    assert body["tools"] == [{"name": "record_judgments", "description": "Record your answer.", "input_schema": expected.schema}]
    assert body["tool_choice"] == {"type": "tool", "name": "record_judgments"}
    assert [i for i, _ in parse_items(body["messages"][0]["content"])] == ["h0", "h1", "h2", "h3"]
    # usage accounting: the server's token counts, priced at the table's $3 / $15 per Mtok
    assert model.usage.calls == 2
    assert model.usage.input_tokens > 0 and model.usage.output_tokens > 0
    assert model.usage.cost_usd == pytest.approx(
        (model.usage.input_tokens * 3.0 + model.usage.output_tokens * 15.0) / 1e6
    )


def test_temperature_when_set_is_sent(make, fake):
    model = make("anthropic", temperature=0.3, batch_size=10)
    model.judge("pool", ITEMS)
    assert fake.model_calls()[0].body["temperature"] == 0.3
    assert model.cache_identity()["temperature"] == 0.3


def test_shape_1_one_call_per_item_with_probability(make, fake):
    model = make("anthropic", extraction_shape=1)
    out = model.judge("pool", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    assert all(j.probability == pytest.approx(0.9 if j.value else 0.1) for j in out.values())
    calls = fake.model_calls()
    assert len(calls) == len(ITEMS)
    assert {c.body["tools"][0]["name"] for c in calls} == {"record_judgment"}
    asked = sorted(parse_items(c.body["messages"][0]["content"])[0][0] for c in calls)
    assert asked == sorted(ITEMS)


def test_mine_round_trip(make, fake):
    model = make("anthropic")
    mined = model.mine({"p1": "pool", "p2": "big pool"}, {"n1": "flat"}, avoid=("has a garden",))
    assert mined.description == "like p1,p2" and mined.rationale == "unlike n1"
    body = fake.model_calls()[0].body
    assert body["tools"][0]["name"] == "record_characteristic"
    user = body["messages"][0]["content"]
    assert "Positive group:" in user and "Negative group:" in user and "- has a garden" in user
    assert [i for i, _ in parse_items(user)] == ["p1", "p2", "n1"]


def test_propose_round_trip(make, fake):
    model = make("anthropic")
    out = model.propose("predict house prices", {"a": "house"}, 4)
    assert out == [f"feature {k} of predict house prices" for k in range(4)]
    assert fake.model_calls()[0].body["tools"][0]["name"] == "record_features"


def test_json_text_mode_without_tools(make, fake):
    model = make("anthropic", use_tools=False, batch_size=10)
    out = model.judge("pool", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    body = fake.model_calls()[0].body
    assert "tools" not in body and "JSON schema" in body["system"]


def test_describe_image_sends_a_base64_block(make, fake, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    path = tmp_path / "house.png"
    path.write_bytes(png)
    model = make("anthropic")
    text = model.describe_image(path, "Describe the listing image in detail.")
    assert text == "an image (image/png, blocks ['image', 'text'])"
    block = fake.model_calls()[0].body["messages"][0]["content"][0]
    import base64

    assert block["source"] == {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png).decode()}
    with pytest.raises(ValueError, match="not a PNG"):
        model.describe_image(b"plain text")


def test_concurrency_is_bounded(make, fake):
    fake.delay = 0.2
    model = make("anthropic", extraction_shape=1, max_concurrency=2)
    model.judge("pool", ITEMS)
    assert 1 < fake.max_in_flight <= 2


def test_plan_equals_real_call_count_and_budget_stops_before_the_cap(make, fake):
    items = {f"x{k}": ("pool" if k % 3 == 0 else "flat") for k in range(23)}
    model = make("anthropic", batch_size=5)
    plan = model.plan_judge("pool", items)
    model.judge("pool", items)
    assert len(plan) == len(fake.model_calls()) == math.ceil(23 / 5)
    assert [p.item_ids for p in plan] == [tuple(list(items)[s:s + 5]) for s in range(0, 23, 5)]

    budget = Budget(max_calls=2)
    capped = make("anthropic", batch_size=5, budget=budget, max_concurrency=1)
    before = len(fake.model_calls())
    with pytest.raises(BudgetExceededError):
        capped.judge("pool", items)
    assert len(fake.model_calls()) - before == 2
    assert budget.spent.calls == 2 and budget.outstanding == 0


def test_cache_identity_has_versions_and_decoding_but_no_key(make):
    model = make("anthropic", batch_size=7)
    ident = model.cache_identity()
    assert ident["prompt_versions"] == PROMPT_VERSIONS
    assert ident["provider"] == "anthropic" and ident["model"] == "claude-sonnet-4-6"
    assert ident["batch_size"] == 7 and ident["extraction_shape"] == 2 and ident["max_tokens"] == 1024
    assert ANTHROPIC_TEST_KEY not in repr(ident) and ANTHROPIC_TEST_KEY not in repr(model)


def test_async_judges_of_several_features_share_one_loop(make, fake):
    model = make("anthropic", batch_size=3, max_concurrency=4)

    async def run():
        return await asyncio.gather(model.ajudge("pool", ITEMS), model.ajudge("flat", ITEMS))

    pool, flat = asyncio.run(run())
    assert {i: j.value for i, j in pool.items()} == TRUTH
    assert {i: j.value for i, j in flat.items()} == {i: "flat" in t for i, t in ITEMS.items()}
    assert len(fake.model_calls()) == 4


def test_budget_under_concurrency_leaves_no_reservation_behind(make, fake):
    fake.delay = 0.05
    budget = Budget(max_calls=3)
    model = make("anthropic", extraction_shape=1, max_concurrency=8, budget=budget)
    with pytest.raises(BudgetExceededError):
        model.judge("pool", ITEMS)  # 6 calls wanted, 3 allowed
    assert budget.outstanding == 0  # in-flight calls cancelled by the failure were settled
    assert budget.spent.calls <= 3 and len(fake.model_calls()) <= 3
