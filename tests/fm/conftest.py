"""Fixtures of the foundation-model tests: a fake provider on 127.0.0.1 and backends
pointed at it (real SDK clients, fast retries)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from servers import FakeProvider

from genz_pyro.fm.anthropic_backend import AnthropicModel
from genz_pyro.fm.llm import LLMBackend
from genz_pyro.fm.openai_backend import OpenAIModel

ANTHROPIC_TEST_KEY = "sk-ant-test-NOT-A-REAL-KEY-0123456789"
OPENAI_TEST_KEY = "sk-test-NOT-A-REAL-KEY-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A fresh fake provider (both wire formats) on a free local port."""
    with FakeProvider() as server:
        yield server


def backend(provider: str, server: FakeProvider, **kw: Any) -> LLMBackend:
    """A backend of ``provider`` talking to ``server`` (timeout 2 s, 2 retries unless given)."""
    kw.setdefault("timeout", 2.0)
    kw.setdefault("max_retries", 2)
    if provider == "anthropic":
        kw.setdefault("api_key", ANTHROPIC_TEST_KEY)
        return AnthropicModel(kw.pop("model", "claude-sonnet-4-6"), base_url=server.url, **kw)
    kw.setdefault("api_key", OPENAI_TEST_KEY)
    return OpenAIModel(kw.pop("model", "gpt-4.1"), base_url=server.url + "/v1", **kw)


@pytest.fixture
def make(fake: FakeProvider) -> Callable[..., LLMBackend]:
    """``make(provider, **kw)``: a backend talking to the ``fake`` server."""
    return lambda provider, **kw: backend(provider, fake, **kw)
