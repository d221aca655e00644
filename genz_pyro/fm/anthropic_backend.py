"""Anthropic Messages API backend (the only module that imports ``anthropic``).

Answers come through tool use: every prompt's answer schema is sent as the
``input_schema`` of one tool and ``tool_choice`` forces the model to call it, so the
answer is a JSON object keyed by item id. Retries (429 honouring ``retry-after``, 5xx,
timeouts, dropped connections; exponential backoff with jitter) are the SDK's own.

Install: ``pip install 'genz-pyro[anthropic]'``; the key comes from ``api_key=`` or
``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping

from .errors import AuthenticationError, FoundationModelError, import_sdk
from .llm import Completion, LLMBackend
from .transport import cap_retry_after, json_body, translate_sdk_error
from .prompts import Prompt

__all__ = ["AnthropicModel", "import_anthropic"]

DEFAULT_MODEL = "claude-sonnet-4-6"
_NO_KEY = ("anthropic: no API key; set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) in the environment, or pass "
           "api_key=")


def import_anthropic() -> Any:
    """The ``anthropic`` SDK, or :class:`MissingDependencyError` with the install hint."""
    return import_sdk("anthropic")


class AnthropicModel(LLMBackend):
    """A Claude model through the Messages API.

    Args:
        model: e.g. ``"claude-sonnet-4-6"``.
        base_url: another endpoint speaking the Messages API (default: Anthropic's).
        use_tools: answer through a forced tool call (default); ``False`` asks for JSON text.
        temperature: default ``None`` (the API default; recent Claude models fix sampling).
        **kwargs: see :class:`~genz_pyro.fm.llm.LLMBackend` (temperature, max_tokens,
            extraction_shape, batch_size, max_concurrency, max_retries, timeout, budget, ...).
    """

    provider = "anthropic"

    def __init__(self, model: str = DEFAULT_MODEL, *, base_url: str | None = None, use_tools: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("temperature", None)
        super().__init__(model, **kwargs)
        import_anthropic()
        self.base_url = base_url
        self.use_tools = use_tools

    def _identity_extras(self) -> dict[str, Any]:
        return {"use_tools": self.use_tools}

    def _new_client(self) -> Any:
        anthropic = import_anthropic()
        try:
            client = anthropic.AsyncAnthropic(
                api_key=self._api_key, base_url=self.base_url, max_retries=self.max_retries, timeout=self.timeout,
                http_client=anthropic.DefaultAsyncHttpxClient(
                    event_hooks={"response": [cap_retry_after("anthropic", self.max_retry_wait)]}),
            )
        except anthropic.AnthropicError as e:
            raise AuthenticationError(_NO_KEY, provider="anthropic") from e
        # the SDK resolves api_key=, ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN or a profile; with none
        # it fails only when a request is built (a TypeError): say what to set instead
        if not (client.api_key or client.auth_token or client.credentials is not None):
            raise AuthenticationError(_NO_KEY, provider="anthropic")
        return client

    def _client(self) -> Any:
        return self._new_client()

    def check_credentials(self) -> None:
        """Raise :class:`~genz_pyro.fm.errors.AuthenticationError` (naming ``ANTHROPIC_API_KEY``)
        when the SDK finds no credential; sends nothing."""
        self._new_client()

    def request_params(self, prompt: Prompt) -> dict[str, Any]:
        system = prompt.system
        params: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.use_tools:
            params["tools"] = [
                {"name": prompt.name, "description": "Record your answer.", "input_schema": prompt.schema}
            ]
            params["tool_choice"] = {"type": "tool", "name": prompt.name}
        else:
            system += "\nAnswer with only a JSON object matching this JSON schema: " + json.dumps(prompt.schema)
        params["system"] = system
        params["messages"] = [{"role": "user", "content": prompt.user}]
        return params

    def image_params(self, data: bytes, media_type: str, prompt: str) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        params["messages"] = [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": media_type, "data": base64.b64encode(data).decode("ascii")},
                    },
                    {"type": "text", "text": prompt},
                ],
            }
        ]
        return params

    async def _send(self, client: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(params)
        # the SDK's typed signature has no ``temperature``; the API body still takes it
        extra = {k: params.pop(k) for k in ("temperature",) if k in params}
        raw = await client.messages.with_raw_response.create(**params, extra_body=extra or None)
        return json_body(raw.http_response, "anthropic")  # an HTML or cut-off 200: MalformedAnswerError

    def completion_from_body(self, body: Mapping[str, Any], prompt: Prompt | None) -> Completion:
        usage = body.get("usage") or {}
        n_in, n_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
        blocks = body.get("content") or []
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        if body.get("stop_reason") == "max_tokens":
            return Completion(None, text, n_in, n_out, truncated=True)
        if body.get("stop_reason") == "refusal":
            return Completion(None, text, n_in, n_out, refusal=text.strip() or "stop_reason refusal")
        if prompt is not None and self.use_tools:
            for b in blocks:
                if b.get("type") == "tool_use" and b.get("name") == prompt.name:
                    return Completion(b.get("input"), json.dumps(b.get("input")), n_in, n_out)
        return Completion(None, text, n_in, n_out)

    def _map_error(self, err: BaseException) -> FoundationModelError | None:
        anthropic = import_anthropic()
        return translate_sdk_error(
            err, anthropic, anthropic.AnthropicError, "anthropic", max_retries=self.max_retries, timeout=self.timeout,
            secret=self._api_key,
        )

