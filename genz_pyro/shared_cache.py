"""The judgment cache the estimators share in one process, and how ``cache=`` is read.

Model selection refits an estimator many times: ``cross_val_score`` once per fold,
``GridSearchCV`` once per fold and candidate, each on a ``clone``. Every fit asks the
foundation model to describe features (mine) and to judge them on items; the same
request on the same items always gets the same answer from the cache
(:class:`~genz_pyro.fm.cache.JudgmentCache` keys by model identity, request and item
content, not by item id), so a fold pays only for the items and descriptions not judged
before, and a second pass over the same folds pays nothing.

``cache=None`` (the estimators' default) uses :func:`shared_cache`: one in-memory cache
per process, shared by every estimator and clone (also across unpickling and
``copy.deepcopy``: the object pickles as "this process's shared cache"). It is lost when
the process ends and not shared between processes; give a file path (``cache="genz.sqlite"``)
for a cache that survives the session or serves ``n_jobs > 1`` workers.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from genz_pyro.fm.cache import JudgmentCache

__all__ = ["SharedMemoryCache", "shared_cache", "resolve_cache"]

_LOCK = threading.Lock()
_SHARED: "SharedMemoryCache | None" = None


class SharedMemoryCache(JudgmentCache):
    """An in-memory :class:`JudgmentCache` that pickles and deep-copies as the
    receiving process's :func:`shared_cache` (never a copy of its contents)."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (shared_cache, ())

    def __repr__(self) -> str:
        return "shared_cache()"


def shared_cache() -> SharedMemoryCache:
    """This process's shared in-memory judgment cache (created on first use)."""
    global _SHARED
    with _LOCK:
        if _SHARED is None or _SHARED._pid not in (-1, os.getpid()):
            _SHARED = SharedMemoryCache(":memory:")
        return _SHARED


def resolve_cache(cache: Any, *, name: str = "cache") -> JudgmentCache | None:
    """The cache an estimator uses: ``None`` -> :func:`shared_cache`, ``False`` -> no cache,
    a path -> a file cache there, a :class:`JudgmentCache` -> itself.

    Raises:
        ValueError: naming ``name`` for anything else.
    """
    if cache is None:
        return shared_cache()
    if cache is False:
        return None
    if isinstance(cache, JudgmentCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return JudgmentCache(Path(cache) if str(cache) != ":memory:" else ":memory:")
    raise ValueError(f"{name}: expected None (the process's shared cache), False (no cache), a file path or a "
                     f"JudgmentCache, got {cache!r}")
