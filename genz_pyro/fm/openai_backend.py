"""OpenAI chat-completions backend (the only module that imports ``openai``).

Also serves any OpenAI-compatible server (vLLM, Ollama, llama.cpp) through
``base_url``. Answers come as structured output: ``response_format`` with a strict
json_schema (``structured="json_schema"``, default), or ``{"type": "json_object"}``
(``"json_object"``), or plain text (``"none"``) for servers without either; in the
last two cases the schema is stated in the system prompt. Retries (429 honouring
``retry-after``, 5xx, timeouts, dropped connections; backoff with jitter) are the SDK's own.

Install: ``pip install 'genz-pyro[openai]'``; the key comes from ``api_key=`` or
``OPENAI_API_KEY`` (a local server given by ``base_url`` needs none).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Mapping

from .errors import AuthenticationError, FoundationModelError, import_sdk
from .llm import Completion, LLMBackend
from .transport import cap_retry_after, json_body, translate_sdk_error
from .logprobs import yes_probability_from_body
from .prompts import Prompt

__all__ = ["OpenAIModel", "chat_completion", "import_openai"]

DEFAULT_MODEL = "gpt-4.1"
_STRUCTURED = ("json_schema", "json_object", "none")
_TOKEN_PARAMS = ("max_tokens", "max_completion_tokens")
#: alternatives asked per answer token for soft judgments (the OpenAI API allows up to 20)
TOP_LOGPROBS = 20


def import_openai() -> Any:
    """The ``openai`` SDK, or :class:`MissingDependencyError` with the install hint."""
    return import_sdk("openai")


def chat_completion(body: Mapping[str, Any], *, soft: bool = False) -> Completion:
    """Read an OpenAI-shaped chat completion body (the OpenAI API, llama.cpp, vLLM): the
    answer text, token counts, truncation and, when ``soft``, P(yes) from its logprobs."""
    usage = body.get("usage") or {}
    n_in, n_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    choices = body.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message") or {}
    text = message.get("content") or ""
    refusal = None
    if message.get("refusal"):
        text, refusal = "", str(message["refusal"])
    elif choice.get("finish_reason") == "content_filter":
        refusal = "finish_reason content_filter"
    p_yes = yes_probability_from_body(body) if soft and text else None
    return Completion(None, text, n_in, n_out, truncated=choice.get("finish_reason") == "length",
                      yes_probability=p_yes, refusal=refusal)


class OpenAIModel(LLMBackend):
    """A model behind the OpenAI chat-completions API or an OpenAI-compatible server.

    Args:
        model: e.g. ``"gpt-4.1"``, or the name a local server serves.
        base_url: e.g. ``"http://localhost:8000/v1"`` (vLLM), ``"http://localhost:11434/v1"`` (Ollama).
        structured: ``"json_schema"`` | ``"json_object"`` | ``"none"`` (see module doc).
        token_param: ``"max_tokens"`` (widely supported) or ``"max_completion_tokens"``
            (required by OpenAI's reasoning models).
        **kwargs: see :class:`~genz_pyro.fm.llm.LLMBackend`; ``soft=True, extraction_shape=1``
            asks one-item judge calls for ``logprobs`` with the top 20 alternatives and reads
            P(yes) from them (:mod:`genz_pyro.fm.logprobs`).
    """

    provider = "openai"
    supports_soft = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        base_url: str | None = None,
        structured: str = "json_schema",
        token_param: str = "max_tokens",
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        import_openai()
        if structured not in _STRUCTURED:
            raise ValueError(f"structured must be one of {_STRUCTURED}, got {structured!r}")
        if token_param not in _TOKEN_PARAMS:
            raise ValueError(f"token_param must be one of {_TOKEN_PARAMS}, got {token_param!r}")
        self.base_url = base_url
        self.structured = structured
        self.token_param = token_param

    def _identity_extras(self) -> dict[str, Any]:
        return {"structured": self.structured}

    def _key(self) -> str:
        key = self._api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url is None:
                raise AuthenticationError("openai: no API key; set OPENAI_API_KEY in the environment or pass api_key=",
                                          provider="openai")
            key = "not-needed"  # local OpenAI-compatible servers ignore the key
        return key

    def _client(self) -> Any:
        openai = import_openai()
        return openai.AsyncOpenAI(api_key=self._key(), base_url=self.base_url, max_retries=self.max_retries,
                                  timeout=self.timeout, http_client=openai.DefaultAsyncHttpxClient(
                                      event_hooks={"response": [cap_retry_after("openai", self.max_retry_wait)]}))

    def check_credentials(self) -> None:
        """Raise :class:`~genz_pyro.fm.errors.AuthenticationError` (naming ``OPENAI_API_KEY``) when
        no key is given or set and no ``base_url`` names a local server; sends nothing."""
        self._key()

    def _base(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, self.token_param: self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        return params

    def request_params(self, prompt: Prompt) -> dict[str, Any]:
        system = prompt.system
        params = self._base()
        if self.structured == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": prompt.name, "schema": prompt.schema, "strict": True},
            }
        else:
            system += "\nAnswer with only a JSON object matching this JSON schema: " + json.dumps(prompt.schema)
            if self.structured == "json_object":
                params["response_format"] = {"type": "json_object"}
        params["messages"] = [{"role": "system", "content": system}, {"role": "user", "content": prompt.user}]
        if self.soft and prompt.template == "judge_single":
            params["logprobs"] = True
            params["top_logprobs"] = TOP_LOGPROBS
        return params

    def image_params(self, data: bytes, media_type: str, prompt: str) -> dict[str, Any]:
        params = self._base()
        url = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
        params["messages"] = [
            {
                "role": "user",
                "content": [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": url}}],
            }
        ]
        return params

    async def _send(self, client: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        raw = await client.chat.completions.with_raw_response.create(**params)
        return json_body(raw.http_response, "openai")  # an HTML or cut-off 200: MalformedAnswerError

    def completion_from_body(self, body: Mapping[str, Any], prompt: Prompt | None) -> Completion:
        return chat_completion(body, soft=self.soft)

    def _map_error(self, err: BaseException) -> FoundationModelError | None:
        openai = import_openai()
        return translate_sdk_error(
            err, openai, openai.OpenAIError, "openai", max_retries=self.max_retries, timeout=self.timeout,
            secret=self._api_key,
        )
