"""Soft judgments on the wire: what the OpenAI backend asks for, and who refuses soft=True."""

from __future__ import annotations

import pytest

ITEMS = {"a": "red car", "b": "blue car"}


def test_soft_one_item_calls_ask_for_top_logprobs_and_no_written_probability(make, fake):
    model = make("openai", extraction_shape=1, soft=True)
    out = model.judge("red", ITEMS)  # the fake server sends no logprobs: hard answers, reported in the log
    assert {i: j.value for i, j in out.items()} == {"a": True, "b": False}
    assert all(j.probability is None for j in out.values())
    body = fake.model_calls()[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    schema = body["response_format"]["json_schema"]["schema"]
    assert "probability" not in schema["properties"]  # P(yes) comes from the logprobs
    assert model.cache_identity()["soft"] is True and "soft" not in make("openai").cache_identity()


def test_hard_calls_do_not_ask_for_logprobs(make, fake):
    make("openai", extraction_shape=1).judge("red", ITEMS)
    assert "logprobs" not in fake.model_calls()[0].body


def test_soft_needs_one_item_per_prompt_and_a_provider_with_logprobs(make):
    with pytest.raises(ValueError, match="extraction_shape=1"):
        make("openai", soft=True)
    with pytest.raises(ValueError, match="no token log-probabilities"):
        make("anthropic", extraction_shape=1, soft=True)
