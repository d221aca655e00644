"""The fault matrix of issue 9 against the real SDK clients and the local fake provider:
a 200 whose body is HTML, not JSON or cut off; answers cut at max_tokens; refusals and
empty answers; 502/503/504/408/409; 429 without retry-after and with a huge one. Every
fault is retried (the SDKs' own retries for transport faults, ``max_malformed_retries``
for answers) and then either answered correctly or reported with what to do: never used."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

import pytest
from servers import Fault

from genz_pyro.fm import errors

PROVIDERS = ["anthropic", "openai"]
ITEMS = {"a": "red apple", "b": "green pear", "c": "red car"}
TRUTH = {"a": True, "b": False, "c": True}


def _values(out: dict) -> dict:
    return {i: j.value for i, j in out.items()}


def _cut(provider: str) -> Callable[[dict], dict]:
    """The answer cut off at max_tokens (half a JSON object)."""
    def edit(body: dict[str, Any]) -> dict[str, Any]:
        if provider == "anthropic":
            return {**body, "content": [{"type": "text", "text": '{"holds": ["a", "c'}], "stop_reason": "max_tokens"}
        choice = {**body["choices"][0], "finish_reason": "length",
                  "message": {"role": "assistant", "content": '{"holds": ["a", "c'}}
        return {**body, "choices": [choice]}
    return edit


def _refused(provider: str) -> Callable[[dict], dict]:
    def edit(body: dict[str, Any]) -> dict[str, Any]:
        if provider == "anthropic":
            return {**body, "content": [], "stop_reason": "refusal"}
        choice = {**body["choices"][0], "message": {"role": "assistant", "content": None,
                                                    "refusal": "I can't help with that."}}
        return {**body, "choices": [choice]}
    return edit


def _empty(provider: str) -> Callable[[dict], dict]:
    def edit(body: dict[str, Any]) -> dict[str, Any]:
        if provider == "anthropic":
            return {**body, "content": [], "stop_reason": "end_turn"}
        choice = {**body["choices"][0], "message": {"role": "assistant", "content": ""}}
        return {**body, "choices": [choice]}
    return edit


HTML = Fault("raw", 200, body=b"<!DOCTYPE html><html><body><h1>Sign in to the proxy</h1></body></html>")
NOT_JSON = Fault("raw", 200, body=b"upstream said: ok", content_type="application/json")
CUT_BODY = Fault("truncate", cut=30)


# ------------------------------------------------------------------ one fault, then a good answer
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["html", "not-json", "cut-body", "max-tokens", "refusal", "empty", "502", "503",
                                   "504", "408", "409", "429"])
def test_one_fault_then_the_answer_is_used_correctly(make, fake, provider: str, fault: str) -> None:
    f = {"html": HTML, "not-json": NOT_JSON, "cut-body": CUT_BODY,
         "max-tokens": Fault("edit", edit=_cut(provider)), "refusal": Fault("edit", edit=_refused(provider)),
         "empty": Fault("edit", edit=_empty(provider)), "429": Fault("status", 429, error_type="rate_limit_error")}
    fake.faults = [f.get(fault) or Fault("status", int(fault), error_type="api_error")]
    model = make(provider)
    assert _values(model.judge("red", ITEMS)) == TRUTH
    calls = fake.model_calls()
    assert len(calls) == 2  # the fault, then the good answer
    if fault == "429":  # no retry-after: the SDK's own backoff (0.5 s less up to 25% jitter)
        assert calls[1].time - calls[0].time >= 0.37
        assert calls[1].headers["x-stainless-retry-count"] == "1"
    # paid answers (cut, refused, empty) count as calls; transport faults and non-API bodies do not
    assert model.usage.calls == (2 if fault in ("max-tokens", "refusal", "empty") else 1)


# ------------------------------------------------------------------ the same fault every time
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault, error, message", [
    ("html", errors.ProviderError, r"not the API's JSON \(text/html.*Sign in to the proxy.*check base_url"),
    ("not-json", errors.ProviderError, r"not the API's JSON \(application/json, 17 bytes: 'upstream said: ok'"),
    ("max-tokens", errors.MalformedAnswerError, r"truncated at max_tokens=1024; raise max_tokens"),
    ("refusal", errors.MalformedAnswerError, r"declined to answer"),
    ("empty", errors.MalformedAnswerError, r"the answer is empty"),
])
def test_a_persistent_bad_answer_is_reported_after_the_retries(make, fake, provider: str, fault: str, error: type,
                                                                message: str) -> None:
    f = {"html": HTML, "not-json": NOT_JSON, "max-tokens": Fault("edit", edit=_cut(provider)),
         "refusal": Fault("edit", edit=_refused(provider)), "empty": Fault("edit", edit=_empty(provider))}[fault]
    fake.faults = [f] * 10
    model = make(provider, max_malformed_retries=2)
    with pytest.raises(error, match=message):
        model.judge("red", ITEMS)
    assert len(fake.model_calls()) == 3  # 1 + max_malformed_retries, then reported


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [502, 503, 504, 408, 409])
def test_persistent_server_errors_name_the_status_and_the_attempts(make, fake, provider: str, status: int) -> None:
    fake.faults = [Fault("status", status, {"retry-after-ms": "10"})] * 10
    with pytest.raises(errors.ProviderError, match=f"server error {status} after 3 attempts"):
        make(provider, max_retries=2).judge("red", ITEMS)
    assert len(fake.model_calls()) == 3


# ------------------------------------------------------------------ 429 with a huge retry-after
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_huge_retry_after_is_capped_and_said(make, fake, provider: str, caplog: pytest.LogCaptureFixture) -> None:
    """Anthropic's SDK would sleep the full day (it honours any retry-after); OpenAI's would not
    retry at all (above 2 minutes). Capped at max_retry_wait, both retry, and the log says so."""
    fake.faults = [Fault("status", 429, {"retry-after": "86400"}, error_type="rate_limit_error")]
    caplog.set_level(logging.WARNING, logger="genz_pyro.fm.llm")
    model = make(provider, max_retry_wait=0.3)
    assert _values(model.judge("red", ITEMS)) == TRUTH
    calls = fake.model_calls()
    assert len(calls) == 2 and calls[1].time - calls[0].time >= 0.28
    assert "asks to wait 86400 s" in caplog.text and "at most 0.3 s (max_retry_wait)" in caplog.text
    # persistently: the RateLimitError says how long the server asked to wait
    fake.faults = [Fault("status", 429, {"retry-after": "86400"}, error_type="rate_limit_error")] * 5
    with pytest.raises(errors.RateLimitError, match="the server asked to wait 86400 s"):
        make(provider, max_retry_wait=0.05, max_retries=1).judge("red", ITEMS)


def test_retry_after_is_read_like_the_sdks() -> None:
    import email.utils
    import time

    from genz_pyro.fm.transport import retry_after_seconds

    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    date = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3590 < retry_after_seconds({"retry-after": date}) <= 3600
    assert retry_after_seconds({}) is None and retry_after_seconds({"retry-after": "soon"}) is None


def test_a_bad_max_retry_wait_is_refused(make) -> None:
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="max_retry_wait"):
            make("openai", max_retry_wait=bad)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mine_refused_then_answered(make, fake, provider: str) -> None:
    """The miner's answer goes through the same checks (a refusal is re-asked, not used)."""
    fake.faults = [Fault("edit", edit=_refused(provider))]
    mined = make(provider).mine({"a": "red apple"}, {"b": "green pear"})
    assert mined.description == "like a" and len(fake.model_calls()) == 2
    assert json.loads(json.dumps(mined.rationale)) == "unlike b"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failing_job_keeps_the_answers_of_its_calls_that_came_back(make, fake, provider: str, tmp_path) -> None:
    """Three batches; the second fails for good: the first and third were answered (and paid),
    so they are cached, and asking again pays only for the second."""
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.cached import CachedModel

    items = {f"i{n}": ("red " if n % 2 else "blue ") + f"thing {n}" for n in range(6)}
    truth = {i: t.startswith("red") for i, t in items.items()}
    fake.faults = [Fault("pass"), Fault("status", 503, {"x-should-retry": "false"})]
    model = CachedModel(make(provider, batch_size=2, max_concurrency=1), JudgmentCache(tmp_path / "c.sqlite"))
    with pytest.raises(errors.ProviderError, match="503"):
        model.judge("red", items)
    assert len(fake.model_calls()) == 3  # the third batch still went out (in flight, paid): not cancelled
    assert len(model.cache.get_judgments(model.cache_identity(), "red", items)) == 4
    assert _values(model.judge("red", items)) == truth
    assert len(fake.model_calls()) == 4  # only the failed batch was asked again
