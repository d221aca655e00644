"""OpenAI backend (and OpenAI-compatible servers) against the local chat-completions server."""

from __future__ import annotations

import base64
import json
import math

import pytest
from conftest import OPENAI_TEST_KEY
from servers import parse_items

from genz_pyro.fm.errors import AuthenticationError
from genz_pyro.fm.openai_backend import OpenAIModel
from genz_pyro.fm.prompts import judge_batch_prompt, judge_single_prompt

ITEMS = {f"m{k}": t for k, t in enumerate(
    ["Jaws (1975)", "Star Wars (1977)", "Jurassic Park (1993)", "Amelie (2001)", "JAWS 2 (1978)"]
)}
TRUTH = {i: "jaws" in t.lower() for i, t in ITEMS.items()}


def test_judge_round_trip_and_wire_format(make, fake):
    model = make("openai", batch_size=2, max_tokens=200, temperature=0.0)
    out = model.judge("Jaws", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    calls = fake.model_calls()
    assert len(calls) == math.ceil(5 / 2)
    # concurrent calls arrive in any order: take the one asking about the first batch
    first = next(c for c in calls if parse_items(c.body["messages"][1]["content"])[0][0] == "m0")
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {OPENAI_TEST_KEY}"
    body = first.body
    expected = judge_batch_prompt("Jaws", {"m0": ITEMS["m0"], "m1": ITEMS["m1"]})
    assert body["model"] == "gpt-4.1" and body["max_tokens"] == 200 and body["temperature"] == 0.0
    assert body["messages"] == [
        {"role": "system", "content": expected.system},
        {"role": "user", "content": expected.user},
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "record_judgments", "schema": expected.schema, "strict": True},
    }
    # the answers arrive as JSON text in message.content; usage priced at $2 / $8 per Mtok
    assert model.usage.calls == 3
    assert model.usage.cost_usd == pytest.approx((model.usage.input_tokens * 2 + model.usage.output_tokens * 8) / 1e6)


def test_shape_1_and_max_completion_tokens(make, fake):
    model = make("openai", extraction_shape=1, token_param="max_completion_tokens", max_tokens=50)
    out = model.judge("Jaws", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    assert all(j.probability == pytest.approx(0.9 if j.value else 0.1) for j in out.values())
    calls = fake.model_calls()
    assert len(calls) == 5
    body = calls[0].body
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert body["response_format"]["json_schema"]["schema"] == judge_single_prompt("Jaws", "m0", "x").schema


@pytest.mark.parametrize("structured", ["json_object", "none"])
def test_servers_without_json_schema(make, fake, structured):
    model = make("openai", structured=structured, batch_size=5)
    out = model.judge("Jaws", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    body = fake.model_calls()[0].body
    assert "JSON schema" in body["messages"][0]["content"]
    assert body.get("response_format") == ({"type": "json_object"} if structured == "json_object" else None)
    assert model.cache_identity()["structured"] == structured


def test_mine_and_propose_round_trip(make, fake):
    model = make("openai")
    mined = model.mine({"a": "Jaws"}, {"b": "Amelie", "c": "Heat"}, avoid=("sharks",))
    assert (mined.description, mined.rationale) == ("like a", "unlike b,c")
    user = fake.model_calls()[0].body["messages"][1]["content"]
    assert [i for i, _ in parse_items(user)] == ["a", "b", "c"] and "- sharks" in user
    assert model.propose("predict movie embeddings", {"a": "Jaws"}, 2) == [
        "feature 0 of predict movie embeddings", "feature 1 of predict movie embeddings"]
    rf = fake.model_calls()[1].body["response_format"]
    assert rf["json_schema"]["name"] == "record_features"


def test_describe_image_sends_a_data_url(make, fake):
    jpeg = b"\xff\xd8\xff\xe0" + bytes(20)
    model = make("openai")
    assert model.describe_image(jpeg, "Describe it.") == "an image (image/jpeg, parts ['text', 'image_url'])"
    part = fake.model_calls()[0].body["messages"][0]["content"][1]
    assert part["image_url"]["url"] == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def test_local_server_needs_no_key_but_the_real_api_does(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    local = OpenAIModel("llama-3.1-8b", base_url=fake.url + "/v1", timeout=2.0)
    assert local.judge("Jaws", {"a": "Jaws"})["a"].value is True
    assert json.dumps(local.cache_identity()).count("not-needed") == 0
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        OpenAIModel("gpt-4.1").judge("Jaws", {"a": "Jaws"})


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="structured"):
        OpenAIModel("gpt-4.1", structured="xml")
    with pytest.raises(ValueError, match="batch_size"):
        OpenAIModel("gpt-4.1", batch_size=0)
    with pytest.raises(ValueError, match="extraction_shape"):
        OpenAIModel("gpt-4.1", extraction_shape=3)
