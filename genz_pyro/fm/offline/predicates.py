"""The offline model's predicate grammar and its vectorised evaluation.

A predicate is a small frozen dataclass; ``field=None`` means the item itself
(the int of an integer item, the text of a text item, all string values of a
record). Families:

==============  ===========================================  ==========================
class           holds when                                   example sentence
==============  ===========================================  ==========================
``Bit``         bit ``k`` of the integer is 1                Integers with the 2^7 bit set
``Compare``     ``value <op> t``, op in ``>= > <= <``         Has 4 or more bedrooms
``Between``     ``lo <= value <= hi``                         Released between 1995 and 2000
``ModEq``       ``value mod m == r``                          Even integers
``ModRange``    ``lo <= value mod m <= hi``                   Integers whose value modulo 8 is between 2 and 5
``Equals``      the value equals ``value`` (case-folded)      Located in the 92880 zip code
``Prefix``      the value starts with ``prefix``              Located in a zip code starting with 600
``Contains``    ``value`` is a member of the list             Genre includes Drama
``Mentions``    the word or phrase occurs in the text         Description mentions "pool"
``Not``         the inner predicate does not hold             Integers with the 2^7 bit unset
``And``         both predicates hold                          ... and ...
==============  ===========================================  ==========================

``evaluate(p, table)`` returns a bool ``[N]`` array; a missing value makes every
atom False. ``cost(p)`` is the description length used to break ties toward
simpler predicates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

import numpy as np

from genz_pyro.fm.offline.table import WORD_RE, Table

__all__ = [
    "Bit",
    "Compare",
    "Between",
    "ModEq",
    "ModRange",
    "Equals",
    "Prefix",
    "Contains",
    "Mentions",
    "Not",
    "And",
    "Predicate",
    "evaluate",
    "cost",
    "negate",
    "phrase_regex",
    "canonical",
    "significant_digits",
]


@dataclass(frozen=True)
class Bit:
    """Bit ``k`` (value ``2**k``) of a non-negative integer is set."""

    field: str | None
    k: int


@dataclass(frozen=True)
class Compare:
    """``value <op> t`` with ``op`` one of ``">="``, ``">"``, ``"<="``, ``"<"``."""

    field: str | None
    op: str
    t: float


@dataclass(frozen=True)
class Between:
    """``lo <= value <= hi`` (both ends inclusive)."""

    field: str | None
    lo: float
    hi: float


@dataclass(frozen=True)
class ModEq:
    """``value mod m == r`` for an integer value."""

    field: str | None
    m: int
    r: int


@dataclass(frozen=True)
class ModRange:
    """``lo <= value mod m <= hi`` for an integer value."""

    field: str | None
    m: int
    lo: int
    hi: int


@dataclass(frozen=True)
class Equals:
    """The field's value equals ``value`` (case-insensitive)."""

    field: str | None
    value: str


@dataclass(frozen=True)
class Prefix:
    """The field's value starts with ``prefix`` (case-insensitive)."""

    field: str | None
    prefix: str


@dataclass(frozen=True)
class Contains:
    """``value`` is a member of the field's ``,``/``|``-separated list (case-insensitive)."""

    field: str | None
    value: str


@dataclass(frozen=True)
class Mentions:
    """The word or phrase occurs in the field's text (whole words, case-insensitive)."""

    field: str | None
    phrase: str


@dataclass(frozen=True)
class Not:
    """The inner predicate does not hold."""

    inner: "Predicate"


@dataclass(frozen=True)
class And:
    """Both predicates hold."""

    left: "Predicate"
    right: "Predicate"


Predicate = Union[Bit, Compare, Between, ModEq, ModRange, Equals, Prefix, Contains, Mentions, Not, And]

_OPS = (">=", ">", "<=", "<")


def negate(p: Predicate) -> Predicate:
    """The negation of ``p`` in its simplest form (``Not(Not(p)) -> p``, ``>= t -> < t``)."""
    if isinstance(p, Not):
        return p.inner
    if isinstance(p, Compare):
        return Compare(p.field, {">=": "<", "<": ">=", ">": "<=", "<=": ">"}[p.op], p.t)
    return Not(p)


def canonical(p: Predicate) -> str:
    """A deterministic text key of ``p`` (its dataclass repr), for sorting and ties."""
    return repr(p)


def phrase_regex(phrase: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern of ``phrase`` on :meth:`Table.text` strings."""
    words = WORD_RE.findall(phrase.casefold())
    if not words:
        raise ValueError(f"phrase {phrase!r}: needs at least one word")
    return re.compile(r"(?<!\w)" + " ".join(re.escape(w) for w in words) + r"(?!\w)")


def _integers(table: Table, field: str | None) -> tuple[np.ndarray, np.ndarray]:
    v = table.numeric(field)
    ok = np.isfinite(v) & (v == np.floor(v)) & (v >= 0)
    return ok, np.where(ok, v, 0).astype(np.int64)


def evaluate(p: Predicate, table: Table) -> np.ndarray:
    """Evaluate ``p`` on every row of ``table``: a bool ``[N]`` array."""
    if isinstance(p, Not):
        return ~evaluate(p.inner, table)
    if isinstance(p, And):
        return evaluate(p.left, table) & evaluate(p.right, table)
    if isinstance(p, Bit):
        ok, vi = _integers(table, p.field)
        return ok & (((vi >> p.k) & 1) == 1)
    if isinstance(p, ModEq):
        ok, vi = _integers(table, p.field)
        return ok & (vi % p.m == p.r)
    if isinstance(p, ModRange):
        ok, vi = _integers(table, p.field)
        r = vi % p.m
        return ok & (r >= p.lo) & (r <= p.hi)
    if isinstance(p, Compare):
        v = table.numeric(p.field)
        with np.errstate(invalid="ignore"):
            out = {">=": v >= p.t, ">": v > p.t, "<=": v <= p.t, "<": v < p.t}[p.op]
        return out & np.isfinite(v)
    if isinstance(p, Between):
        v = table.numeric(p.field)
        with np.errstate(invalid="ignore"):
            return np.isfinite(v) & (v >= p.lo) & (v <= p.hi)
    if isinstance(p, Equals):
        target = p.value.strip().casefold()
        num = _as_number(target)
        vals = table.folded(p.field)
        out = np.array([s == target for s in vals], dtype=bool)
        if num is not None:  # 2 == 2.0 == "2.0", item by item
            out |= table.numeric(p.field) == num
        return out
    if isinstance(p, Prefix):
        target = p.prefix.strip().casefold()
        return np.array([s is not None and s.startswith(target) for s in table.folded(p.field)], dtype=bool)
    if isinstance(p, Contains):
        target = p.value.strip().casefold()
        return np.array([target in toks for toks in table.tokens(p.field)], dtype=bool)
    if isinstance(p, Mentions):
        rx = phrase_regex(p.phrase)
        return np.array([rx.search(s) is not None for s in table.text(p.field)], dtype=bool)
    raise TypeError(f"evaluate: not a predicate: {p!r}")


def _as_number(s: str) -> float | None:
    try:
        x = float(s)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def significant_digits(t: float) -> int:
    """Digits needed to state ``t``: decimal significant digits (``2000`` -> 1, ``1995`` -> 4,
    ``2.5`` -> 2), or 1 for a power of two (``256``)."""
    if t != math.floor(t) or not math.isfinite(t):
        return len(repr(abs(t)).replace(".", "").strip("0")) or 1
    n = abs(int(t))
    if n == 0:
        return 1
    if n & (n - 1) == 0:
        return 1
    return len(str(n).rstrip("0"))


def _digits_cost(field: str | None, t: float) -> float:
    """On integer items an arbitrary threshold costs more to state than a round one
    (``< 33`` vs ``< 32`` = the 2^5 bit unset on 0..63): 0.5 per digit beyond the first."""
    return 0.5 * (significant_digits(t) - 1) if field is None else 0.0


def cost(p: Predicate) -> float:
    """Description length of ``p`` (lower is simpler); breaks ties between equally
    accurate predicates: a single test < its negation < an interval or a modulo range
    < a conjunction."""
    if isinstance(p, Not):
        inner = p.inner
        return cost(inner) + (0.0 if isinstance(inner, Bit) else 0.5)
    if isinstance(p, And):
        return cost(p.left) + cost(p.right) + 1.0
    if isinstance(p, Compare):
        return (1.0 if p.op in (">=", "<") else 1.2) + _digits_cost(p.field, p.t)
    if isinstance(p, Bit):
        return 1.05
    if isinstance(p, Between):
        return 3.0 + _digits_cost(p.field, p.lo) + _digits_cost(p.field, p.hi)
    if isinstance(p, ModEq):
        return 1.5 if p.m == 2 else 2.5
    if isinstance(p, ModRange):
        return 3.0
    if isinstance(p, (Equals, Contains)):
        return 1.0
    if isinstance(p, Prefix):  # three characters is the natural zip-code prefix
        return 1.5 + 0.02 * abs(len(p.prefix) - 3)
    if isinstance(p, Mentions):
        return 1.5 + 0.5 * (len(WORD_RE.findall(p.phrase)) - 1)
    raise TypeError(f"cost: not a predicate: {p!r}")
