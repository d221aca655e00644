"""Zero-shot features "from domain knowledge": generic tests on the examples' fields.

Without the targets, an LLM asked for useful yes/no features proposes generic
ones: a typical threshold on each number ("Has 4 or more bedrooms", "Released in
or after 2000"), the most common categories ("Located in the 92276 zip code"),
the most common list members ("Genre includes Drama"), frequent words
("Description mentions \"pool\""); for integers, "Even integers" and the like.
:func:`propose_features` does the same from the example items, deterministically:
one feature per field per round (fields in name order), rounds going from the
most to the less typical value, until ``n`` distinct, non-constant features exist.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from genz_pyro.fm.offline.english import parse, render, role
from genz_pyro.fm.offline.miner import STOPWORDS, nice_number
from genz_pyro.fm.offline.predicates import (
    Compare,
    Contains,
    Equals,
    Mentions,
    ModEq,
    Predicate,
    Prefix,
    evaluate,
)
from genz_pyro.fm.offline.table import Table

__all__ = ["propose_features"]


def _most_common(values: list[list[str]]) -> list[str]:
    """Values seen at least twice and in 1% of the items, most frequent first (ties by value)."""
    counts: dict[str, int] = {}
    for vs in values:
        for v in set(vs):
            counts[v] = counts.get(v, 0) + 1
    floor = max(2, int(np.ceil(0.01 * len(values))))
    return [v for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= floor]


def _round_near(v: np.ndarray, q: float, integer: bool, binary: bool) -> float:
    x = float(np.quantile(v, q))
    spread = float(np.quantile(v, 0.75) - np.quantile(v, 0.25)) or max(abs(x), 1.0)
    return nice_number(x - 0.15 * spread, x + 0.15 * spread, lo_closed=True, hi_closed=True, integer=integer,
                       binary=binary)


def _field_features(table: Table, field: str | None) -> Iterator[Predicate]:
    kind = table.kind(field)
    if kind == "numeric" and not (table.is_code(field) and field is not None):
        v = table.numeric(field)
        v = v[np.isfinite(v)]
        integer = table.is_integer(field)
        if field is None and integer:
            yield Compare(None, ">=", _round_near(v, 0.5, True, True))
            yield ModEq(None, 2, 0)
            yield ModEq(None, 10, 0)
            yield ModEq(None, 3, 0)
            yield ModEq(None, 5, 0)
            yield Compare(None, "<", _round_near(v, 0.25, True, True))
            yield Compare(None, ">=", _round_near(v, 0.75, True, True))
            return
        for q, op in ((0.5, ">="), (0.75, ">="), (0.25, "<"), (0.9, ">="), (0.1, "<")):
            t = _round_near(v, q, integer, False)
            if v.min() < t <= v.max():  # splits the items that have the field
                yield Compare(field, op, t)
        return
    if table.is_code(field):
        for value in _most_common([[s] for s in table.folded(field) if s])[:4]:
            yield Equals(field, table.display_value(field, value))
            if len(value) > 3:
                yield Prefix(field, value[:3])
        return
    if kind == "categorical" and role(field) in ("director", "cast", "genre"):
        for value in _most_common([list(t) for t in table.tokens(field)])[:5]:
            yield Contains(field, table.display_value(field, value))
    elif kind == "categorical":
        for value in _most_common([[s] for s in table.folded(field) if s])[:5]:
            yield Equals(field, table.display_value(field, value))
    if kind == "list":
        for value in _most_common([list(t) for t in table.tokens(field)])[:6]:
            yield Contains(field, table.display_value(field, value))
    if kind == "text" or (field is None and kind == "categorical"):
        words = [[w for w in s.split() if w not in STOPWORDS and len(w) >= 4 and not w.isdigit()] for s in table.text(field)]
        for w in _most_common(words)[:6]:
            yield Mentions(field, w)


def _readable(p: Predicate, table: Table) -> str | None:
    """The sentence of ``p`` that reads back as ``p`` on ``table`` (role wording, else plain)."""
    for plain in (False, True):
        text = render(p, plain=plain)
        try:
            if parse(text, table) == p:
                return text
        except ValueError:
            continue
    return None


def propose_features(examples: Mapping[str, Any], n: int) -> list[tuple[Predicate, str]]:
    """Up to ``n`` generic predicates judged useful "from domain knowledge" (see module
    docstring), with their sentences.

    Fewer than ``n`` come back only when the examples offer fewer distinct,
    non-constant tests. Every sentence reads back (:func:`parse`) as its predicate.

    Raises:
        ValueError: naming ``n`` or ``examples`` when they are unusable.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    if not examples:
        raise ValueError("examples: pass at least one example item so that features can be proposed")
    table = Table(examples)
    fields: list[str | None] = list(table.fields) if table.fields else [None]
    # the year and count fields are what a domain expert reaches for first
    fields.sort(key=lambda f: (0 if role(f) in ("year", "count", "zip", "genre", "director") else 1, f or ""))
    streams = [_field_features(table, f) for f in fields]
    out: list[tuple[Predicate, str]] = []
    seen: set[str] = set()
    while streams and len(out) < n:
        alive = []
        for s in streams:
            p = next(s, None)
            if p is None:
                continue
            alive.append(s)
            v = evaluate(p, table)
            text = _readable(p, table)
            if text is None or text in seen or v.all() or not v.any():
                continue
            seen.add(text)
            out.append((p, text))
            if len(out) >= n:
                break
        streams = alive
    return out
