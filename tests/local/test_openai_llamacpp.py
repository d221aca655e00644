"""The OpenAI backend (the real ``openai`` SDK) against llama.cpp's real server on 127.0.0.1,
serving the bundled small model: structured output, logprobs, keys, malformed answers."""

from __future__ import annotations

import pytest
from local_helpers import MOVIES

from genz_pyro.fm import CachedModel, JudgmentCache
from genz_pyro.fm.errors import AuthenticationError, MalformedAnswerError
from genz_pyro.fm.openai_backend import OpenAIModel

DESC = "A movie released before 1980"


def client(server, **kw):
    kw.setdefault("api_key", server.api_key)
    return OpenAIModel("smollm2", base_url=server.base_url, timeout=30.0, max_retries=0, **kw)


def test_soft_judgments_over_http(server, tmp_path):
    model = client(server, extraction_shape=1, soft=True, max_tokens=64)
    cached = CachedModel(model, JudgmentCache(tmp_path / "c.sqlite"))
    out = cached.judge(DESC, MOVIES)
    assert list(out) == list(MOVIES) and all(j.item_id == i for i, j in out.items())
    assert all(j.probability is not None and 0.0 <= j.probability <= 1.0 for j in out.values())
    assert model.usage.calls >= len(MOVIES) and model.usage.cost_usd == 0.0  # gpt prices do not apply
    calls = model.usage.calls
    assert CachedModel(model, JudgmentCache(tmp_path / "c.sqlite")).judge(DESC, MOVIES) == out
    assert model.usage.calls == calls  # rerun: 0 calls


def test_mining_over_http(server):
    model = client(server, max_tokens=200)
    mined = model.mine({k: MOVIES[k] for k in ("god", "jaws")}, {k: MOVIES[k] for k in ("nemo", "toy")})
    assert mined.description.strip()


def test_batched_json_schema_answers_parse_or_are_reported(server):
    """llama.cpp honours ``response_format`` json_schema, but lets this model pad the JSON with
    whitespace up to ``max_tokens``: such an answer must be reported, never half-used."""
    model = client(server, extraction_shape=2, batch_size=5, max_tokens=48, max_malformed_retries=1, max_reasks=1)
    try:
        out = model.judge(DESC, MOVIES)
    except MalformedAnswerError as err:
        assert "truncated" in str(err) or set(err.item_ids) <= set(MOVIES)
    else:
        assert list(out) == list(MOVIES)


def test_the_server_refuses_a_wrong_key(server):
    with pytest.raises(AuthenticationError, match="refused"):
        client(server, api_key="sk-wrong-key-0123456789", extraction_shape=1, soft=True).judge(DESC, MOVIES)
