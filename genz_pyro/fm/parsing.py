"""Strict parsing of foundation-model answers.

Answers are JSON objects (given through a tool call or structured output, or as
text). Per-item answers are matched by id, never by position, so a shuffled answer
lands on the right items. :func:`parse_judgments` reports, besides the answers:

* ``missing``: asked ids with no usable answer (the caller asks again, boundedly);
* ``unknown``: ids in the answer that were not asked (ignored, logged);
* ``conflicting``: ids answered both yes and no (treated as missing).

Anything structurally wrong (not JSON, duplicate keys, wrong types) raises
:class:`~genz_pyro.fm.errors.MalformedAnswerError`, which the backend retries.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import MalformedAnswerError
from .protocol import MinedFeature

__all__ = [
    "ParsedJudgments",
    "loads_strict",
    "parse_judgments",
    "parse_mined",
    "parse_proposed",
]

_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```$", re.DOTALL)


def _no_dup_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise MalformedAnswerError(f"answer JSON has the key {k!r} twice")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise MalformedAnswerError(f"answer JSON contains the non-standard constant {name}")


def loads_strict(text: str) -> Any:
    """Parse ``text`` as one JSON value (a single surrounding ```json fence is allowed).

    Raises:
        MalformedAnswerError: not JSON, trailing text, duplicate keys, NaN/Infinity.
    """
    if not isinstance(text, str):
        raise MalformedAnswerError(f"answer is not text but {type(text).__name__}")
    s = text.strip()
    m = _FENCE.match(s)
    if m:
        s = m.group(1).strip()
    try:
        return json.loads(s, object_pairs_hook=_no_dup_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise MalformedAnswerError(f"answer is not valid JSON ({e.msg} at char {e.pos})", raw=text) from e


@dataclass(frozen=True)
class ParsedJudgments:
    """The outcome of parsing one judge answer.

    Attributes:
        answers: ``{item_id: (value, probability or None)}`` for the asked ids answered cleanly.
        missing: asked ids without a usable answer (includes ``conflicting``), in asked order.
        unknown: ids in the answer that were not asked.
        conflicting: ids answered both yes and no.
    """

    answers: dict[str, tuple[bool, float | None]]
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    conflicting: tuple[str, ...]


def _as_id(x: Any, where: str) -> str:
    if isinstance(x, bool) or not isinstance(x, (str, int)):
        raise MalformedAnswerError(f"{where}: ids must be strings, got {x!r}")
    return str(x)


def _as_probability(p: Any) -> float | None:
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 <= p <= 1:
        raise MalformedAnswerError(f"probability must be a number in [0, 1] or null, got {p!r}")
    return float(p)


def _as_yes_no(a: Any) -> bool:
    if isinstance(a, bool):
        return a
    if isinstance(a, str) and a.strip().lower() in ("yes", "no"):
        return a.strip().lower() == "yes"
    raise MalformedAnswerError(f"answer must be \"yes\" or \"no\", got {a!r}")


def parse_judgments(obj: Any, template: str, asked: Iterable[str]) -> ParsedJudgments:
    """Match a judge answer to the asked ids.

    Args:
        obj: the parsed answer object.
        template: ``"judge_single"`` (``{"id", "answer", "probability"?}``) or
            ``"judge_batch"`` (``{"holds": [ids], "does_not_hold": [ids]}``).
        asked: the ids the prompt asked about.
    """
    asked_t = tuple(asked)
    asked_set = set(asked_t)
    if not isinstance(obj, dict):
        raise MalformedAnswerError(f"answer must be a JSON object, got {type(obj).__name__}")
    votes: dict[str, set[bool]] = {}
    probs: dict[str, float | None] = {}
    unknown: list[str] = []
    if template == "judge_single":
        if "id" not in obj or "answer" not in obj:
            raise MalformedAnswerError(f"judge answer needs \"id\" and \"answer\", got keys {sorted(obj)}")
        i = _as_id(obj["id"], "judge answer")
        value = _as_yes_no(obj["answer"])
        prob = _as_probability(obj.get("probability"))
        if i in asked_set:
            votes[i] = {value}
            probs[i] = prob
        else:
            unknown.append(i)
    elif template == "judge_batch":
        for key, value in (("holds", True), ("does_not_hold", False)):
            ids = obj.get(key, [])
            if not isinstance(ids, list):
                raise MalformedAnswerError(f"judge answer {key!r} must be a list of ids, got {ids!r}")
            for x in ids:
                i = _as_id(x, f"judge answer {key!r}")
                if i in asked_set:
                    votes.setdefault(i, set()).add(value)
                elif i not in unknown:
                    unknown.append(i)
        if "holds" not in obj and "does_not_hold" not in obj:
            raise MalformedAnswerError(f"judge answer needs \"holds\" and \"does_not_hold\", got keys {sorted(obj)}")
    else:
        raise ValueError(f"parse_judgments: unknown template {template!r}; use 'judge_single' or 'judge_batch'")
    conflicting = tuple(i for i in asked_t if len(votes.get(i, ())) > 1)
    answers = {i: (next(iter(votes[i])), probs.get(i)) for i in asked_t if len(votes.get(i, ())) == 1}
    missing = tuple(i for i in asked_t if i not in answers)
    return ParsedJudgments(answers, missing, tuple(unknown), conflicting)


def parse_mined(obj: Any) -> MinedFeature:
    """``{"characteristic": str, "rationale": str}`` -> :class:`MinedFeature`."""
    if not isinstance(obj, dict):
        raise MalformedAnswerError(f"mining answer must be a JSON object, got {type(obj).__name__}")
    desc = obj.get("characteristic")
    if not isinstance(desc, str) or not desc.strip():
        raise MalformedAnswerError(f"mining answer needs a non-empty \"characteristic\", got {desc!r}")
    rationale = obj.get("rationale", "")
    if not isinstance(rationale, str):
        raise MalformedAnswerError(f"mining answer \"rationale\" must be text, got {rationale!r}")
    return MinedFeature(desc.strip(), rationale.strip())


def parse_proposed(obj: Any, n: int) -> list[str]:
    """``{"features": [str, ...]}`` -> the first ``n`` distinct non-empty descriptions.

    Raises:
        MalformedAnswerError: no list of strings, or fewer than ``n`` distinct descriptions.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("features"), list):
        raise MalformedAnswerError("proposal answer must be {\"features\": [descriptions]}")
    out: list[str] = []
    for f in obj["features"]:
        if not isinstance(f, str):
            raise MalformedAnswerError(f"proposal answer: each feature must be text, got {f!r}")
        f = f.strip()
        if f and f not in out:
            out.append(f)
    if len(out) < n:
        raise MalformedAnswerError(f"proposal answer has {len(out)} distinct features, {n} were asked for")
    return out[:n]
