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

from .errors import FoundationModelError, import_sdk
from .llm import Completion, LLMBackend, translate_sdk_error
from .prompts import Prompt

__all__ = ["AnthropicModel", "import_anthropic"]

DEFAULT_MODEL = "claude-sonnet-4-6"


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

    def _client(self) -> Any:
        anthropic = import_anthropic()
        try:
            return anthropic.AsyncAnthropic(
                api_key=self._api_key, base_url=self.base_url, max_retries=self.max_retries, timeout=self.timeout
            )
        except anthropic.AnthropicError as e:
            from .errors import AuthenticationError

            raise AuthenticationError(
                "anthropic: no API key; set ANTHROPIC_API_KEY or pass api_key=", provider="anthropic"
            ) from e

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
        message = await client.messages.create(**params, extra_body=extra or None)
        return message.model_dump(mode="json")

    def completion_from_body(self, body: Mapping[str, Any], prompt: Prompt | None) -> Completion:
        usage = body.get("usage") or {}
        n_in, n_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
        blocks = body.get("content") or []
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        if body.get("stop_reason") == "max_tokens":
            return Completion(None, text, n_in, n_out, truncated=True)
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

