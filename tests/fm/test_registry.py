"""make_model: spec strings to backends (a round trip through the local server for the URL form)."""

from __future__ import annotations

import pytest

from genz_pyro.fm import AnthropicModel, OpenAIModel, make_model


def test_specs_build_the_right_backend():
    a = make_model("anthropic:claude-haiku-4-5", api_key="k", batch_size=5)
    assert isinstance(a, AnthropicModel) and a.model == "claude-haiku-4-5" and a.batch_size == 5
    assert a.name == "anthropic:claude-haiku-4-5"
    o = make_model("openai:gpt-4.1-mini", api_key="k")
    assert isinstance(o, OpenAIModel) and o.model == "gpt-4.1-mini" and o.base_url is None
    local = make_model("openai:llama3:8b@http://localhost:11434/v1")  # model names may contain ':'
    assert local.model == "llama3:8b" and local.base_url == "http://localhost:11434/v1"
    assert make_model("openai:qwen", base_url="http://h:1/v1").base_url == "http://h:1/v1"


def test_offline_spec():
    from genz_pyro.fm.offline import OfflineModel

    assert isinstance(make_model("offline"), OfflineModel)


@pytest.mark.parametrize("spec", ["", "claude", "anthropic:", "mystery:model", "openai:gpt@"])
def test_bad_specs_list_the_forms(spec):
    with pytest.raises(ValueError, match="openai:MODEL@http"):
        make_model(spec)


def test_conflicting_base_urls_are_refused():
    with pytest.raises(ValueError, match="give the server once"):
        make_model("openai:m@http://a/v1", base_url="http://b/v1")


def test_url_spec_round_trip(fake):
    model = make_model(f"openai:local-model@{fake.url}/v1", timeout=2.0)
    assert model.judge("red", {"a": "red", "b": "blue"})["a"].value is True
    assert fake.model_calls()[0].body["model"] == "local-model"
