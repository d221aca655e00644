"""The library's foundation-model exceptions.

Every provider error is translated at the SDK boundary (one module per provider)
into one of these, raised ``from`` the SDK error, with a message that says what to
do. Messages never contain API keys: :func:`redact` scrubs anything that looks
like a key from text before it is put into a message.

Hierarchy::

    FoundationModelError
      RateLimitError          429 after the configured retries
      ContextTooLongError     prompt longer than the model's context window
      AuthenticationError     missing, invalid or unauthorised key
      ProviderError           5xx, connection drops, timeouts, other API errors
      MalformedAnswerError    the answer could not be parsed, or ids stayed missing
      BudgetExceededError     a call would exceed the budget cap (raised before it)
      MissingDependencyError  the provider SDK is not installed (also an ImportError)
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

__all__ = [
    "FoundationModelError",
    "RateLimitError",
    "ContextTooLongError",
    "AuthenticationError",
    "ProviderError",
    "MalformedAnswerError",
    "BudgetExceededError",
    "NoFeatureFoundError",
    "MissingDependencyError",
    "import_sdk",
    "redact",
]

_KEY_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-\.]{8,})")
_KEY_ENV_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with API keys replaced by ``[REDACTED]``.

    Scrubs the given ``secrets``, the values of ``ANTHROPIC_API_KEY`` and
    ``OPENAI_API_KEY`` when set, and anything shaped like ``sk-...`` or
    ``Bearer ...``.
    """
    candidates = [s for s in secrets if s] + [os.environ.get(v, "") for v in _KEY_ENV_VARS]
    for secret in candidates:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return _KEY_PATTERN.sub("[REDACTED]", text)


class FoundationModelError(Exception):
    """Base class of every foundation-model error raised by genz-pyro.

    Attributes:
        provider: ``"anthropic"``, ``"openai"``, ... or ``""`` when not provider-specific.
        status_code: the HTTP status behind the error, when there is one.
    """

    def __init__(self, message: str, *, provider: str = "", status_code: int | None = None) -> None:
        super().__init__(redact(message))
        self.provider = provider
        self.status_code = status_code


class RateLimitError(FoundationModelError):
    """The provider kept answering 429 after the configured retries.

    Fix: lower ``max_concurrency``, raise ``max_retries``, or use the batch API.
    """


class ContextTooLongError(FoundationModelError):
    """The prompt does not fit the model's context window.

    Fix: lower ``batch_size`` (extraction shape 2), use fewer or shorter exemplars.
    """


class AuthenticationError(FoundationModelError):
    """The API key is missing, invalid or lacks permission.

    Fix: set ``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY`` or pass ``api_key=``.
    """


class ProviderError(FoundationModelError):
    """Any other provider failure: 5xx, dropped connections, timeouts, bad requests."""


class MalformedAnswerError(FoundationModelError):
    """The model's answer could not be parsed, or some items stayed unanswered.

    Attributes:
        item_ids: the items that are missing an answer (empty for mine/propose).
        raw: the last raw answer text (for debugging).
    """

    def __init__(
        self, message: str, *, item_ids: tuple[str, ...] = (), raw: str = "", provider: str = ""
    ) -> None:
        super().__init__(message, provider=provider)
        self.item_ids = tuple(item_ids)
        self.raw = raw


class BudgetExceededError(FoundationModelError):
    """The next call would exceed the budget cap; it was not made.

    Fix: raise the cap, or resume the run later (cached answers are free).
    """


class NoFeatureFoundError(FoundationModelError, ValueError):
    """Mining found no description that separates the positive from the negative exemplars.

    The discovery loop records such a step as a discarded add (reason ``"no-feature"``) and
    goes on; a caller mining by hand can show other or more varied exemplars.
    """


class MissingDependencyError(FoundationModelError, ImportError):
    """The provider SDK is not installed.

    Attributes:
        extra: the pip extra that installs it (``"anthropic"``, ``"openai"``).
    """

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"the {package!r} package is required for this backend; "
            f"install it with: pip install 'genz-pyro[{extra}]'"
        )
        self.extra = extra
        self.package = package


def import_sdk(package: str) -> Any:
    """The provider SDK ``package`` (its pip extra has the same name), or
    :class:`MissingDependencyError` with the install hint."""
    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise MissingDependencyError(package, package) from e
