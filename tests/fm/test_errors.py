"""Transport retries (the SDKs' own), error translation, and keys kept out of logs and messages."""

from __future__ import annotations

import logging
import sys

import pytest
from conftest import backend
from servers import Fault

from genz_pyro.fm import errors
from genz_pyro.fm.anthropic_backend import AnthropicModel
from genz_pyro.fm.openai_backend import OpenAIModel

PROVIDERS = ["anthropic", "openai"]
ITEMS = {"a": "red apple", "b": "green pear", "c": "red car"}
TRUTH = {"a": True, "b": False, "c": True}


def _values(out):
    return {i: j.value for i, j in out.items()}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_with_retry_after_is_honoured_then_succeeds(make, fake, provider):
    fake.faults = [Fault("status", 429, {"retry-after": "0.4"}, error_type="rate_limit_error", message="slow down")]
    model = make(provider)
    assert _values(model.judge("red", ITEMS)) == TRUTH
    calls = fake.model_calls()
    assert len(calls) == 2
    assert calls[1].time - calls[0].time >= 0.38  # waited the server's retry-after (a lower bound)
    assert calls[1].headers["x-stainless-retry-count"] == "1"
    assert model.usage.calls == 1  # transport retries are one logical call


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "fault",
    [Fault("status", 500, error_type="api_error"), Fault("status", 529, error_type="overloaded_error"), Fault("drop")],
    ids=["500", "529", "drop"],
)
def test_server_errors_and_dropped_connections_are_retried(make, fake, provider, fault):
    fake.faults = [fault]
    assert _values(make(provider).judge("red", ITEMS)) == TRUTH
    assert len(fake.model_calls()) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeout_is_retried(make, fake, provider):
    fake.faults = [Fault("sleep", seconds=2.0)]
    model = make(provider, timeout=0.8)
    assert _values(model.judge("red", ITEMS)) == TRUTH
    assert len(fake.model_calls()) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "status, etype, expected",
    [(500, "api_error", errors.ProviderError), (429, "rate_limit_error", errors.RateLimitError)],
)
def test_persistent_failure_raises_after_the_configured_attempts(make, fake, provider, status, etype, expected):
    fake.faults = [Fault("status", status, {"retry-after-ms": "10"}, error_type=etype)] * 10
    model = make(provider, max_retries=3)
    with pytest.raises(expected, match="after 4 attempts") as info:
        model.judge("red", ITEMS)
    assert len(fake.model_calls()) == 4
    assert info.value.status_code == status and info.value.provider == provider
    assert type(info.value.__cause__).__module__.startswith(provider)  # raised from the SDK error
    assert model.usage.calls == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_persistent_timeouts_raise_provider_error(make, fake, provider):
    fake.faults = [Fault("sleep", seconds=0.6)] * 2
    with pytest.raises(errors.ProviderError, match="timed out after 2 attempts"):
        make(provider, timeout=0.2, max_retries=1).judge("red", ITEMS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_auth_and_context_errors_are_translated_without_retry(make, fake, provider):
    fake.faults = [Fault("status", 401, error_type="authentication_error", message="invalid x-api-key")]
    with pytest.raises(errors.AuthenticationError, match="api_key="):
        make(provider).judge("red", ITEMS)
    assert len(fake.model_calls()) == 1
    fake.faults = [Fault("status", 400, error_type="invalid_request_error", message="prompt is too long: 250000 tokens")]
    with pytest.raises(errors.ContextTooLongError, match="lower batch_size"):
        make(provider).judge("red", ITEMS)
    assert len(fake.model_calls()) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_key_from_the_environment_never_reaches_logs_or_messages(fake, provider, monkeypatch, caplog):
    secret = f"sk-{provider}-SECRET-abcdefghijklmnop123456"
    var = "ANTHROPIC_API_KEY" if provider == "anthropic" else "OPENAI_API_KEY"
    monkeypatch.setenv(var, secret)
    model = backend(provider, fake, api_key=None, max_retries=1)
    caplog.set_level(logging.DEBUG)
    assert _values(model.judge("red", ITEMS)) == TRUTH
    sent = fake.model_calls()[0].headers
    assert secret in sent.get("x-api-key", "") + sent.get("authorization", "")  # the key was used
    fake.faults = [Fault("status", 401, error_type="authentication_error", message=f"bad key {secret}")] * 3
    with pytest.raises(errors.AuthenticationError) as info:
        model.judge("red", ITEMS)
    assert "[REDACTED]" in str(info.value)
    texts = [caplog.text, str(info.value), repr(info.value), repr(model), str(model.cache_identity())]
    assert caplog.text  # debug logging was on (SDK request logs included)
    assert not [t for t in texts if secret in t]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_explicit_key_echoed_by_the_server_is_redacted(make, fake, provider):
    secret = "plainsecretwithoutprefix-123"
    fake.faults = [Fault("status", 403, error_type="permission_error", message=f"key {secret} lacks access")]
    with pytest.raises(errors.AuthenticationError) as info:
        make(provider, api_key=secret).judge("red", ITEMS)
    assert secret not in str(info.value) and "[REDACTED]" in str(info.value)


def test_missing_sdk_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(errors.MissingDependencyError, match=r"pip install 'genz-pyro\[anthropic\]'") as info:
        AnthropicModel("claude-sonnet-4-6")
    assert isinstance(info.value, ImportError) and info.value.extra == "anthropic"
    with pytest.raises(errors.MissingDependencyError, match=r"genz-pyro\[openai\]"):
        OpenAIModel("gpt-4.1")


def test_redact_scrubs_keys():
    assert errors.redact("key sk-ant-api03-abcdefghijkl used") == "key [REDACTED] used"
    assert errors.redact("Authorization: Bearer abcdefghijklmnop") == "Authorization: [REDACTED]"
    assert errors.redact("token XYZ-123-secret", "XYZ-123-secret") == "token [REDACTED]"
    assert issubclass(errors.BudgetExceededError, errors.FoundationModelError)
