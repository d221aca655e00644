"""English sentences for predicates: parsing a controlled English (rendering is in :mod:`.render`).

``render(p)`` (re-exported here) writes a predicate the way the paper's discovered features read;
``parse(description, table)`` reads those sentences back *and* the controlled
English below, resolving field names against the items being judged
(case, spaces, ``_`` and ``-`` ignored; a trailing ``s`` is optional).
Matching is case-insensitive; a final period and a final parenthetical remark
(``"... 256 (i.e., with the 2^8 bit set)"``) are ignored. ``T``, ``A``, ``B`` are
numbers, ``V`` a value (optionally in quotes), ``F`` a record field name.

Integer items (ints or integer strings such as ``"37"``; "Numbers" works too)::

    Integers with the 2^K bit set | unset        (also 2**K, "2^5 (32)", "bit K set")
    Integers greater than or equal to T | at least T | greater than T
    Integers less than T | below T | less than or equal to T | at most T
    Integers between A and B                      (inclusive)
    Even integers | Odd integers | Integers divisible by M | Multiples of M
    Integers congruent to R modulo M | Integers congruent to R or R+1 modulo M
    Integers whose value modulo M is between A and B

Record fields (any field)::

    F is V | F is not V | F equals V
    F is at least T | F is greater than or equal to T | F is greater than T
    F is at most T | F is less than or equal to T | F is less than T | F is below T
    F >= T | F > T | F <= T | F < T
    F is between A and B | F is not between A and B      (inclusive)
    F starts with V | F does not start with V
    F includes V | F does not include V   (a member of a ","/"|"-separated list, or the whole value)
    F mentions "phrase" | F contains "phrase" | F contains the word "w" | F does not mention "phrase"
                                           (whole words, case-insensitive)

Record fields by role (the field is found by its name)::

    Located in the V zip code | Located in a zip code starting with V   (a zip/postal field)
    Directed by V          (a director field)      Starring V      (cast/actors/stars)
    Genre includes V | Genre is V                    (a genre/genres field)
                       (these three are list membership: "Directed by A" holds for "A, B")
    Released in or after T | Released after T | Released before T | Released in T
    Released between A and B                         (a year/release_year field)
    Has T or more F | Has at least T F | Has more than T F | Has fewer than T F
    Has T or fewer F | Has between A and B F | Has T F            (a numeric field F)

Text items, or all string fields of a record::

    Mentions "phrase" | Contains the word "w" | Does not mention "phrase"
    Is V | Starts with V | Includes V

Combinations::

    Not <sentence>            <sentence> and <sentence>     (two at most)

A description that matches none of these raises ``ValueError`` naming it.
"""

from __future__ import annotations

import re
from typing import Callable

from genz_pyro.fm.offline.predicates import (
    And,
    Between,
    Bit,
    Compare,
    Contains,
    Equals,
    Mentions,
    ModEq,
    ModRange,
    Not,
    Predicate,
    Prefix,
    negate,
)
from genz_pyro.fm.offline.render import render, role
from genz_pyro.fm.offline.table import Table

__all__ = ["render", "parse", "role", "GRAMMAR_HINT"]

GRAMMAR_HINT = (
    "write it in the controlled English documented in genz_pyro.fm.offline.english "
    "(docs/offline_model.md), e.g. 'Integers with the 2^3 bit set', 'Bedrooms is at least 4', "
    "'Genre includes Drama', 'Description mentions \"pool\"'"
)


# ---------------------------------------------------------------------- parse
_NUM = r"([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)"
_V = r"(.+?)"
_INTS = r"(?:integers|numbers|ints|values)"


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def _int(s: str) -> int:
    x = _num(s)
    if x != int(x):
        raise ValueError(f"{s!r} is not an integer")
    return int(x)


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    if len(v) >= 2 and v[0] in "\u201c\u2018" and v[-1] in "\u201d\u2019":
        return v[1:-1]
    return v


_GE = r"(greater than or equal to|at least|no less than|>=|greater than|more than|above|over|>|less than or equal to|at most|no more than|<=|less than|below|under|smaller than|fewer than|<)"


def _op(word: str) -> str:
    w = word.casefold()
    if w in ("greater than or equal to", "at least", "no less than", ">="):
        return ">="
    if w in ("greater than", "more than", "above", "over", ">"):
        return ">"
    if w in ("less than or equal to", "at most", "no more than", "<="):
        return "<="
    return "<"


Handler = Callable[[re.Match[str], Table], Predicate]
_RULES: list[tuple[re.Pattern[str], Handler]] = []


def _rule(pattern: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _RULES.append((re.compile(pattern, re.IGNORECASE), fn))
        return fn

    return deco


def _by_role(table: Table, wanted: str) -> str:
    hits = [f for f in table.fields if role(f) == wanted]
    if len(hits) != 1:
        raise _NoMatch(f"no single {wanted} field among {list(table.fields)}")
    return hits[0]


def _field(table: Table, name: str) -> str:
    try:
        return table.resolve(_unquote(name))
    except ValueError as exc:
        raise _NoMatch(str(exc)) from None


class _NoMatch(Exception):
    """A rule matched the words but not the items' fields; try the next rule."""


def _member(table: Table, f: str, v: str) -> Predicate:
    """List membership; on a single value (no ``,``/``|``) the same as equality. Item by
    item, never dependent on the other items of the batch."""
    return Contains(f, v)


# -- integer items
@_rule(rf"{_INTS} (?:with|having|whose) (?:the )?2\s*(?:\^|\*\*|ˆ)\s*(\d+)(?:\s*\(\d+\))? bit (?:is )?(set|on|unset|not set|clear|off)")
def _r_bit(m: re.Match[str], t: Table) -> Predicate:
    p = Bit(None, int(m.group(1)))
    return p if m.group(2).casefold() in ("set", "on") else Not(p)


@_rule(rf"{_INTS} (?:with|having|whose) bit (\d+) (?:is )?(set|on|unset|not set|clear|off)")
def _r_bit2(m: re.Match[str], t: Table) -> Predicate:
    return _r_bit(m, t)


@_rule(rf"{_INTS} (?:that are |which are )?{_GE} {_NUM}")
def _r_int_cmp(m: re.Match[str], t: Table) -> Predicate:
    return Compare(None, _op(m.group(1)), _num(m.group(2)))


@_rule(rf"{_INTS} (?:that are |which are )?(?:between|from) {_NUM} (?:and|to) {_NUM}(?: inclusive)?")
def _r_int_between(m: re.Match[str], t: Table) -> Predicate:
    return Between(None, _num(m.group(1)), _num(m.group(2)))


@_rule(rf"(even|odd) {_INTS}")
def _r_parity(m: re.Match[str], t: Table) -> Predicate:
    return ModEq(None, 2, 0 if m.group(1).casefold() == "even" else 1)


@_rule(rf"(?:{_INTS} (?:that are )?divisible by|multiples of) (\d+)")
def _r_divisible(m: re.Match[str], t: Table) -> Predicate:
    return ModEq(None, int(m.group(1)), 0)


@_rule(rf"{_INTS} (?:that are )?congruent to (\d+) (?:modulo|mod) (\d+)")
def _r_congruent(m: re.Match[str], t: Table) -> Predicate:
    mod = int(m.group(2))
    return ModEq(None, mod, int(m.group(1)) % mod)


@_rule(rf"{_INTS} (?:that are )?congruent to (\d+) or (\d+) (?:modulo|mod) (\d+)")
def _r_congruent2(m: re.Match[str], t: Table) -> Predicate:
    a, b, mod = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if b != a + 1:
        raise _NoMatch("two residues must be consecutive")
    return ModRange(None, mod, a, b)


@_rule(rf"{_INTS} whose (?:value )?(?:modulo|mod) (\d+) is (?:between|in the range|from) (\d+) (?:and|to|-|–) (\d+)(?: inclusive)?")
def _r_modrange(m: re.Match[str], t: Table) -> Predicate:
    return ModRange(None, int(m.group(1)), int(m.group(2)), int(m.group(3)))


@_rule(rf"{_INTS} whose value (?:modulo|mod) (\d+) is (?:between|in the range|from) (\d+) ?(?:and|to|-|–) ?(\d+)(?: inclusive)?")
def _r_modrange2(m: re.Match[str], t: Table) -> Predicate:
    return _r_modrange(m, t)


# -- roles
@_rule(rf"(?:located )?in (?:the )?zip ?code {_V}")
def _r_zip1(m: re.Match[str], t: Table) -> Predicate:
    return Equals(_by_role(t, "zip"), _unquote(m.group(1)))


@_rule(r"located in (?:a|the) zip ?code (?:starting|beginning) with " + _V)
def _r_zip_prefix(m: re.Match[str], t: Table) -> Predicate:
    return Prefix(_by_role(t, "zip"), _unquote(m.group(1)))


@_rule(rf"located in the {_V} zip ?code")
def _r_zip2(m: re.Match[str], t: Table) -> Predicate:
    return Equals(_by_role(t, "zip"), _unquote(m.group(1)))


@_rule(rf"directed by {_V}")
def _r_director(m: re.Match[str], t: Table) -> Predicate:
    f = _by_role(t, "director")
    return _member(t, f, _unquote(m.group(1)))


@_rule(rf"(?:starring|stars) {_V}")
def _r_cast(m: re.Match[str], t: Table) -> Predicate:
    return Contains(_by_role(t, "cast"), _unquote(m.group(1)))


@_rule(rf"genres? (?:includes|include|contains) {_V}")
def _r_genre(m: re.Match[str], t: Table) -> Predicate:
    return Contains(_by_role(t, "genre"), _unquote(m.group(1)))


@_rule(rf"genres? is {_V}")
def _r_genre_is(m: re.Match[str], t: Table) -> Predicate:
    f = _by_role(t, "genre")
    return _member(t, f, _unquote(m.group(1)))


@_rule(rf"released (in or after|after|in or before|before|since) {_NUM}")
def _r_year_cmp(m: re.Match[str], t: Table) -> Predicate:
    op = {"in or after": ">=", "since": ">=", "after": ">", "in or before": "<=", "before": "<"}[m.group(1).casefold()]
    return Compare(_by_role(t, "year"), op, _num(m.group(2)))


@_rule(rf"released (?:between|from) {_NUM} (?:and|to) {_NUM}")
def _r_year_between(m: re.Match[str], t: Table) -> Predicate:
    return Between(_by_role(t, "year"), _num(m.group(1)), _num(m.group(2)))


@_rule(rf"released in {_NUM}")
def _r_year_in(m: re.Match[str], t: Table) -> Predicate:
    y = _num(m.group(1))
    return Between(_by_role(t, "year"), y, y)


@_rule(rf"has {_NUM} or (more|fewer|less) {_V}")
def _r_has_ormore(m: re.Match[str], t: Table) -> Predicate:
    return Compare(_field(t, m.group(3)), ">=" if m.group(2).casefold() == "more" else "<=", _num(m.group(1)))


@_rule(rf"has {_GE} {_NUM} {_V}")
def _r_has_cmp(m: re.Match[str], t: Table) -> Predicate:
    return Compare(_field(t, m.group(3)), _op(m.group(1)), _num(m.group(2)))


@_rule(rf"has between {_NUM} and {_NUM} {_V}")
def _r_has_between(m: re.Match[str], t: Table) -> Predicate:
    return Between(_field(t, m.group(3)), _num(m.group(1)), _num(m.group(2)))


@_rule(rf"has (?:exactly )?{_NUM} {_V}")
def _r_has_exact(m: re.Match[str], t: Table) -> Predicate:
    x = _num(m.group(1))
    return Between(_field(t, m.group(2)), x, x)


# -- generic field forms
@_rule(rf"{_V} (?:is |are )?{_GE} {_NUM}")
def _r_cmp(m: re.Match[str], t: Table) -> Predicate:
    return Compare(_field(t, m.group(1)), _op(m.group(2)), _num(m.group(3)))


@_rule(rf"{_V} (?:is |are )?(not )?(?:between|from) {_NUM} (?:and|to) {_NUM}(?: inclusive)?")
def _r_between(m: re.Match[str], t: Table) -> Predicate:
    p = Between(_field(t, m.group(1)), _num(m.group(3)), _num(m.group(4)))
    return Not(p) if m.group(2) else p


@_rule(rf"{_V} (?:starts|begins) with {_V}")
def _r_prefix(m: re.Match[str], t: Table) -> Predicate:
    return Prefix(_field(t, m.group(1)), _unquote(m.group(2)))


@_rule(rf"{_V} does not (?:start|begin) with {_V}")
def _r_not_prefix(m: re.Match[str], t: Table) -> Predicate:
    return Not(Prefix(_field(t, m.group(1)), _unquote(m.group(2))))


@_rule(rf"{_V} (?:mentions|contains the (?:word|phrase)) {_V}")
def _r_mentions(m: re.Match[str], t: Table) -> Predicate:
    return Mentions(_field(t, m.group(1)), _unquote(m.group(2)))


@_rule(rf"{_V} does not (?:mention|contain the (?:word|phrase)) {_V}")
def _r_not_mentions(m: re.Match[str], t: Table) -> Predicate:
    return Not(Mentions(_field(t, m.group(1)), _unquote(m.group(2))))


@_rule(rf"{_V} (?:contains|contain) {_V}")
def _r_contains(m: re.Match[str], t: Table) -> Predicate:
    return Mentions(_field(t, m.group(1)), _unquote(m.group(2)))


@_rule(rf"{_V} does not contain {_V}")
def _r_not_contains(m: re.Match[str], t: Table) -> Predicate:
    return Not(_r_contains(m, t))


@_rule(rf"{_V} (?:includes|include|lists) {_V}")
def _r_includes(m: re.Match[str], t: Table) -> Predicate:
    return Contains(_field(t, m.group(1)), _unquote(m.group(2)))


@_rule(rf"{_V} does not (?:include|list) {_V}")
def _r_not_includes(m: re.Match[str], t: Table) -> Predicate:
    return Not(_r_includes(m, t))


@_rule(rf"{_V} (?:is not|isn't|does not equal|!=) {_V}")
def _r_not_equals(m: re.Match[str], t: Table) -> Predicate:
    return Not(Equals(_field(t, m.group(1)), _unquote(m.group(2))))


@_rule(rf"{_V} (?:is|equals|==|=) {_V}")
def _r_equals(m: re.Match[str], t: Table) -> Predicate:
    return Equals(_field(t, m.group(1)), _unquote(m.group(2)))


# -- text items (or all string fields of a record)
@_rule(rf"(?:mentions|contains the (?:word|phrase)|contains) {_V}")
def _r_self_mentions(m: re.Match[str], t: Table) -> Predicate:
    return Mentions(None, _unquote(m.group(1)))


@_rule(rf"does not (?:mention|contain the (?:word|phrase)|contain) {_V}")
def _r_self_not_mentions(m: re.Match[str], t: Table) -> Predicate:
    return Not(Mentions(None, _unquote(m.group(1))))


@_rule(rf"is {_V}")
def _r_self_equals(m: re.Match[str], t: Table) -> Predicate:
    return Equals(None, _unquote(m.group(1)))


@_rule(rf"(?:starts|begins) with {_V}")
def _r_self_prefix(m: re.Match[str], t: Table) -> Predicate:
    return Prefix(None, _unquote(m.group(1)))


@_rule(rf"includes {_V}")
def _r_self_includes(m: re.Match[str], t: Table) -> Predicate:
    return Contains(None, _unquote(m.group(1)))


def _atom(s: str, table: Table) -> Predicate | None:
    for rx, fn in _RULES:
        m = rx.fullmatch(s)
        if m is None:
            continue
        try:
            p = fn(m, table)
        except (_NoMatch, ValueError):
            continue
        if not isinstance(p, Mentions) or re.search(r"\w", p.phrase):
            return p
    return None


def _outside_quotes(s: str, i: int) -> bool:
    return s[:i].count('"') % 2 == 0


def _parse(s: str, table: Table, depth: int) -> Predicate | None:
    s = re.sub(r"\s+", " ", s).strip()
    if not s:
        return None
    if depth < 2:
        for m in re.finditer(r" and ", s, flags=re.IGNORECASE):
            if not _outside_quotes(s, m.start()):
                continue
            left = _parse(s[: m.start()], table, 2)
            if left is None:
                continue
            right = _parse(s[m.end():], table, 2)
            if right is not None:
                return And(left, right)
    neg = re.fullmatch(r"(?:not|it is not the case that) (.+)", s, flags=re.IGNORECASE)
    if neg:
        inner = _parse(neg.group(1), table, 2)
        if inner is not None:
            return negate(inner) if isinstance(inner, Compare) else Not(inner)
    return _atom(s, table)


def parse(description: str, table: Table) -> Predicate:
    """Read ``description`` (a rendered sentence or the controlled English of the
    module docstring) against the fields of ``table``.

    Raises:
        ValueError: naming the description and pointing to the grammar when no
            reading fits.
    """
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"description {description!r}: must be a non-empty sentence; {GRAMMAR_HINT}")
    s = description.strip()
    variants = [s]
    stripped = s.rstrip(". ").strip()
    if stripped != s:
        variants.append(stripped)
    no_paren = re.sub(r"\s*\([^()]*\)\s*\.?\s*$", "", stripped).strip()
    if no_paren and no_paren not in variants:
        variants.append(no_paren)
    for v in variants:
        p = _parse(v, table, 0)
        if p is not None:
            return p
    fields = ", ".join(table.fields) if table.fields else "none (the items are ints or text)"
    raise ValueError(
        f"OfflineModel cannot read the description {description!r} (record fields: {fields}); {GRAMMAR_HINT}"
    )
