"""What the SDK backends share at the HTTP level: reading a response body as the API's JSON,
the server's ``retry-after`` (read and capped), and the library error for an SDK's error.

The SDKs (``anthropic``, ``openai``) retry on their own (429, 5xx, timeouts, dropped
connections); :func:`cap_retry_after` is an ``httpx`` response hook that bounds the wait a
server may ask for, and :func:`translate_sdk_error` turns what they finally raise into a
:class:`~genz_pyro.fm.errors.FoundationModelError` whose message says what to do and never
contains the API key.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from .errors import FoundationModelError, MalformedAnswerError

__all__ = ["json_body", "retry_after_seconds", "cap_retry_after", "translate_sdk_error"]

log = logging.getLogger(__name__)


def json_body(response: Any, provider: str) -> dict[str, Any]:
    """The JSON object of an HTTP response of the provider's API (an ``httpx`` response).

    Raises:
        MalformedAnswerError: the body is not a JSON object (an HTML page of a proxy or a
            login wall, plain text, a cut-off body); the message names the status, the
            content type and the start of the body, and says to check ``base_url``.
    """
    raw = bytes(response.content)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    ctype = response.headers.get("content-type", "?")
    snippet = raw[:120].decode("utf-8", "replace")
    raise MalformedAnswerError(
        f"{provider}: the server answered HTTP {response.status_code} with a body that is not the API's JSON "
        f"({ctype}, {len(raw)} bytes: {snippet!r}); check base_url (a proxy or a login page answering instead of "
        "the API?)", provider=provider)


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for (``retry-after-ms``, ``retry-after`` in seconds or as an HTTP
    date), as the SDKs read it; ``None`` when absent or unreadable."""
    import email.utils
    import time

    ms = headers.get("retry-after-ms")
    try:
        return float(ms) / 1000 if ms is not None else float(headers["retry-after"])
    except (KeyError, TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(value) if value else None
    return None if parsed is None else email.utils.mktime_tz(parsed) - time.time()


def cap_retry_after(provider: str, max_wait: float) -> Callable[[Any], Awaitable[None]]:
    """An ``httpx`` response hook that caps a server's ``retry-after`` at ``max_wait`` seconds and
    says so (a warning naming both). The SDKs honour the header when they retry: Anthropic's for
    up to 49 days, OpenAI's up to 2 minutes and above that not at all; capped, both retry after
    at most ``max_wait`` with their own backoff and attempt count (``max_retries``)."""

    async def hook(response: Any) -> None:
        wait = retry_after_seconds(response.headers)
        if wait is None or wait <= max_wait:
            return
        log.warning("%s: HTTP %d asks to wait %.0f s before retrying; waiting at most %g s (max_retry_wait) "
                    "before the next of max_retries attempts", provider, response.status_code, wait, max_wait)
        response.headers["x-genz-retry-after"] = f"{wait:.0f}"
        response.headers.pop("retry-after-ms", None)
        response.headers["retry-after"] = f"{max_wait:g}"

    return hook


_CONTEXT_HINTS = ("context length", "context window", "too long", "maximum context", "too many tokens", "prompt is too long")


def translate_sdk_error(
    err: BaseException, sdk: Any, base: type, provider: str, *, max_retries: int, timeout: float, secret: str | None = None
) -> FoundationModelError | None:
    """The library error for an error of an official SDK (``anthropic`` or ``openai``,
    which share their exception names), or ``None`` when ``err`` is not from ``sdk``.

    The message says what to do and never contains the API key (``secret``, the
    environment's keys, or anything shaped like a key).
    """
    from .errors import AuthenticationError, ContextTooLongError, ProviderError, RateLimitError, redact

    if not isinstance(err, base):
        return None
    status = getattr(err, "status_code", None)
    detail = redact(str(err), secret)[:500]
    tries = f"after {1 + max_retries} attempts"
    if isinstance(err, sdk.RateLimitError):
        response = getattr(err, "response", None)
        asked = response.headers.get("x-genz-retry-after") if response is not None else None
        wait = (f"; the server asked to wait {asked} s, longer than max_retry_wait: try again after that"
                if asked else "")
        return RateLimitError(
            f"{provider}: rate limited {tries} ({detail}){wait}; lower max_concurrency, raise max_retries, "
            "or use the batch API", provider=provider, status_code=status)
    if isinstance(err, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        return AuthenticationError(
            f"{provider}: the API key was refused ({detail}); set the provider's API key environment "
            "variable or pass api_key=", provider=provider, status_code=status)
    if status in (400, 413) and any(h in detail.lower() for h in _CONTEXT_HINTS):
        return ContextTooLongError(
            f"{provider}: the prompt is longer than the model's context ({detail}); lower batch_size "
            "or use fewer/shorter exemplars", provider=provider, status_code=status)
    if isinstance(err, sdk.APITimeoutError):
        return ProviderError(
            f"{provider}: the request timed out {tries} of {timeout:g} s; raise timeout= or max_retries=",
            provider=provider)
    if isinstance(err, sdk.APIConnectionError):
        return ProviderError(
            f"{provider}: connection failed {tries} ({detail}); check base_url and the network, or raise max_retries=",
            provider=provider)
    if isinstance(err, sdk.APIStatusError):
        if status is not None and (status >= 500 or status in (408, 409)):
            return ProviderError(
                f"{provider}: server error {status} {tries} ({detail}); retry later or raise max_retries=",
                provider=provider, status_code=status)
        return ProviderError(
            f"{provider}: request refused with {status} ({detail}); check the model name and parameters",
            provider=provider, status_code=status)
    return ProviderError(f"{provider}: {detail}", provider=provider)
