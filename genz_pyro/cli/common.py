"""What the ``genz`` commands share: the user-error type, building a foundation model from
its flags, writing JSON atomically, progress bars and the thread count."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from genz_pyro.fm.protocol import FoundationModel

__all__ = ["CliError", "make_budget", "build_model", "write_json", "attach_progress", "set_threads", "THREADS_HELP"]


class CliError(Exception):
    """A user error: printed as ``genz: error: ...`` with exit status 2."""


def make_budget(calls: int | None, usd: float | None) -> Any:
    """A :class:`~genz_pyro.fm.budget.Budget` from ``--budget-calls`` / ``--budget-usd`` (None: no cap)."""
    if calls is None and usd is None:
        return None
    if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or calls < 0):
        raise CliError(f"--budget-calls: must be a whole number >= 0, got {calls!r}")
    if usd is not None and not (math.isfinite(usd) and usd >= 0):
        raise CliError(f"--budget-usd: must be a finite number >= 0 (US dollars), got {usd!r}")
    from genz_pyro.fm.budget import Budget

    return Budget(max_calls=calls, max_cost_usd=usd)


def build_model(
    spec: str, *, base_url: str | None = None, budget: Any = None, soft: bool | None = None, flag: str = "--model"
) -> FoundationModel:
    """``make_model(spec)`` with the base URL and budget for SDK backends, and the ``--soft`` /
    ``--no-soft`` choice (``None``: the backend's default, soft for ``gguf:``; ``True`` asks an
    OpenAI-compatible server for logprobs, one item per prompt).

    Raises:
        CliError: an unknown spec (the message lists the forms), or ``--soft`` for a model
            without logprobs.
    """
    from genz_pyro.fm.registry import make_model

    kwargs: dict[str, Any] = {}
    provider = spec.strip().partition(":")[0]
    if spec.strip() != "offline":
        if base_url:
            kwargs["base_url"] = base_url
        if budget is not None:
            kwargs["budget"] = budget
    elif base_url:
        raise CliError("--base-url: the offline model runs in this process; drop --base-url or use --model openai:MODEL")
    if soft is not None and provider in ("gguf", "openai"):
        kwargs["soft"] = soft
        if soft and provider == "openai":
            kwargs["extraction_shape"] = 1  # P(yes) is read per item
    elif soft:
        raise CliError(f"--soft: {spec} gives no token log-probabilities; soft judgments need a gguf:PATH or "
                       "openai:MODEL judge (--judge-model), or drop --soft")
    try:
        return make_model(spec, **kwargs)
    except ValueError as exc:
        raise CliError(f"{flag}: {exc}") from None


def write_json(path: Path, obj: Any, *, sort_keys: bool = True) -> None:
    """``obj`` as indented JSON at ``path``, written atomically (NaN refused)."""
    from genz_pyro.discovery.persist import atomic_write

    atomic_write(path, json.dumps(obj, indent=2, sort_keys=sort_keys, allow_nan=False))



def attach_progress(disc: Any, total: int | None, desc: str, enabled: bool) -> Any:
    """A tqdm bar advanced by every history record the discovery appends."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr, leave=True,
               initial=0, dynamic_ncols=True)
    hist = disc.history
    append = hist.append

    def on_append(record: Any) -> None:
        append(record)
        bar.update(1)
        m = record.metric.get("test")
        if m is None or m != m:
            m = record.metric.get("train")
        bar.set_postfix_str(f"K={len(record.features)} {record.action} metric={m:.4g}", refresh=False)

    hist.append = on_append  # instance attribute: only this history reports progress
    return bar



THREADS_HELP = ("torch threads (default 1: the discovery loop's fits are small, and on a shared machine more "
                 "threads can be many times slower; BENCHMARKS.md 'Threads')")


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` after checking ``n`` (the ``--threads`` flag)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CliError(f"--threads: must be a whole number >= 1, got {n!r}")
    import torch

    torch.set_num_threads(n)


