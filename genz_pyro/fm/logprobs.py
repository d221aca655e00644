"""Soft judgments: P(yes) read from the top log-probabilities of an answer's tokens.

OpenAI-compatible servers (the OpenAI API, llama.cpp, vLLM) return, with ``logprobs: true``
and ``top_logprobs: k``, the ``k`` most likely tokens at every position of the answer::

    choices[0].logprobs.content = [{"token": str, "logprob": float,
                                    "top_logprobs": [{"token": str, "logprob": float}, ...]}, ...]

A one-item judge answer is the JSON object ``{"id": "...", "answer": "yes" | "no"}``. At the
position where the answer's value starts, the model's probability of yes is read from the
alternatives there. A word comes in several tokens ("yes", "Yes", " yes", "YES", '"yes'):
each side (yes / no) takes the **best** log-probability among its variants (a plain dict
keyed by the normalised word would let the last variant overwrite the best one), and

    P(yes) = exp(l_yes) / (exp(l_yes) + exp(l_no)).

When only one side is among the top ``k``, the other side's log-probability is at most the
smallest one listed, which is used in its place (so P(yes) is never exactly 0 or 1 from a
truncated list); when neither side is listed, there is no soft judgment (``None``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

__all__ = ["answer_position", "side_logprobs", "yes_probability", "yes_probability_from_body"]

_ANSWER = re.compile(r'"answer"\s*:\s*"')
_STRIP = " \t\r\n\"'`.,:;{}[]()"


def answer_position(text: str) -> int | None:
    """Character offset in ``text`` where the value of ``"answer"`` starts, or ``None``."""
    m = _ANSWER.search(text)
    return m.end() if m else None


def side_logprobs(alternatives: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    """``(best log-prob of a yes variant, best log-prob of a no variant)`` among ``alternatives``
    (``[{"token", "logprob"}]``); ``None`` for a side with no variant listed."""
    best: dict[str, float] = {}
    for alt in alternatives:
        token, lp = alt.get("token"), alt.get("logprob")
        if not isinstance(token, str) or not isinstance(lp, (int, float)) or isinstance(lp, bool):
            continue
        if not math.isfinite(lp):
            continue
        word = token.strip(_STRIP).lower()
        if word in ("yes", "no") and lp > best.get(word, -math.inf):
            best[word] = float(lp)
    return best.get("yes"), best.get("no")


def yes_probability(content: Sequence[Mapping[str, Any]] | None, text: str | None = None) -> float | None:
    """P(yes) of a one-item judge answer from its token log-probabilities.

    Args:
        content: ``choices[0].logprobs.content`` (one entry per generated token, each with
            ``"token"``, ``"logprob"`` and ``"top_logprobs"``).
        text: the answer text; when given, the tokens joined must spell it (up to surrounding
            whitespace, which servers trim from the text but not from the tokens).

    Returns:
        a probability in ``[0, 1]``, or ``None`` when the answer has no ``"answer"`` value,
        the tokens do not spell the text, or neither side is among the top alternatives.
    """
    if not content:
        return None
    tokens = [c.get("token") if isinstance(c, Mapping) else None for c in content]
    if not all(isinstance(t, str) for t in tokens):
        return None
    joined = "".join(tokens)  # type: ignore[arg-type]
    if text is not None and joined.strip() != text.strip():  # servers trim the text, not the tokens
        return None
    pos = answer_position(joined)
    if pos is None:
        return None
    start = 0
    for entry, token in zip(content, tokens):
        end = start + len(token)  # type: ignore[arg-type]
        if end > pos and token.strip(_STRIP):  # type: ignore[union-attr]
            alts = list(entry.get("top_logprobs") or [])
            alts.append({"token": token, "logprob": entry.get("logprob")})
            return _two_sided(alts)
        start = end
    return None


def _two_sided(alts: list[Mapping[str, Any]]) -> float | None:
    ly, ln = side_logprobs(alts)
    if ly is None and ln is None:
        return None
    floor = min(
        (float(a["logprob"]) for a in alts
         if isinstance(a.get("logprob"), (int, float)) and math.isfinite(a["logprob"])),
        default=-math.inf,
    )
    ly = floor if ly is None else ly
    ln = floor if ln is None else ln
    m = max(ly, ln)
    py, pn = math.exp(ly - m), math.exp(ln - m)
    return py / (py + pn)


def yes_probability_from_body(body: Mapping[str, Any]) -> float | None:
    """:func:`yes_probability` of an OpenAI-shaped chat completion body (``None`` without logprobs)."""
    choices = body.get("choices") or [{}]
    choice = choices[0] or {}
    logprobs = choice.get("logprobs") or {}
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    message = choice.get("message") or {}
    text = message.get("content") if isinstance(message, Mapping) else None
    return yes_probability(content, text if isinstance(text, str) else None)
