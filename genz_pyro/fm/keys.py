"""Cache-key hygiene: canonical JSON, item content hashes, and the refusal of credentials.

Everything that goes into a :class:`~genz_pyro.fm.cache.JudgmentCache` key is first
checked by :func:`check_identity`, so no API key, auth header or secret from the
environment can ever be written to a cache file or an export.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, Mapping

from genz_pyro.fm.protocol import Item, render_item

__all__ = ["canonical_json", "check_identity", "item_hash"]

_FORBIDDEN_NAMES = {
    "apikey",
    "key",
    "authorization",
    "auth",
    "authtoken",
    "bearer",
    "token",
    "accesstoken",
    "sessiontoken",
    "refreshtoken",
    "secret",
    "clientsecret",
    "password",
    "passwd",
    "credential",
    "credentials",
    "cookie",
    "headers",
    "defaultheaders",
    "privatekey",
    "xapikey",
}
_FORBIDDEN_SUFFIXES = ("apikey", "secret", "password", "token", "credentials", "authorization")
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
_SECRET_PREFIX = re.compile(r"^(sk-|sk_|xai-|gsk_|hf_|AIza)[A-Za-z0-9_\-]{12,}")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _env_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8]


def check_identity(identity: Mapping[str, Any]) -> None:
    """Refuse an identity that could carry a credential into the cache.

    Raises:
        ValueError: when a (nested) field is named like a credential (``api_key``,
            ``authorization``, ``token``, ``headers``, ...), when a string value
            looks like an API key (``sk-...``) or equals/contains a secret set in the
            environment (``*_API_KEY``, ``*TOKEN*``, ...). The message names the
            field, never the value.
    """
    if not isinstance(identity, Mapping):
        raise ValueError(f"identity: expected a dict, got {type(identity).__name__}")
    secrets = _env_secrets()

    def walk(obj: Any, where: str) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if not isinstance(k, str):
                    raise ValueError(f"identity{where}: keys must be strings, got {type(k).__name__}")
                n = _norm(k)
                if n in _FORBIDDEN_NAMES or n.endswith(_FORBIDDEN_SUFFIXES):
                    raise ValueError(
                        f"identity{where}[{k!r}]: looks like a credential; cache identities must never "
                        "carry keys or auth headers: drop this field from cache_identity()"
                    )
                walk(v, f"{where}[{k!r}]")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{where}[{i}]")
        elif isinstance(obj, str):
            if _SECRET_PREFIX.match(obj) or any(s in obj for s in secrets):
                raise ValueError(
                    f"identity{where}: the value looks like an API key or equals a secret from the "
                    "environment; remove it from cache_identity()"
                )

    walk(identity, "")


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def item_hash(item: Item) -> bytes:
    """sha256 (32 bytes) of the item's content as the model sees it (:func:`render_item`)."""
    return hashlib.sha256(render_item(item).encode("utf-8")).digest()
