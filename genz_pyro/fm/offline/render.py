"""Writing predicates as English sentences in the style of the paper's discovered features.

``render(p)`` picks a wording from the predicate's family and the *role* of its field,
read from the field's name: "Located in the 92880 zip code" (a zip field), "Directed
by Steven Spielberg", "Starring Tom Hanks", "Genre includes Drama", "Released between
1995 and 2000" (a year field), "Has 4 or more bedrooms" (a one-word plural numeric field),
and generic forms for any other field ("Area is less than 2000", "Style is Victorian",
"Description mentions \"pool\""). :func:`genz_pyro.fm.offline.english.parse` reads
every sentence written here back to the same predicate.
"""

from __future__ import annotations

import re

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
from genz_pyro.fm.offline.table import field_key, format_number

__all__ = ["render", "role"]

_COUNT_EXCLUDE = {"status", "address", "genres", "series", "news", "species", "ratings", "always", "is", "has", "cast"}


def role(field: str | None) -> str:
    """The wording family of a field, from its name: ``"self"`` (the item itself),
    ``"zip"``, ``"director"``, ``"cast"``, ``"genre"``, ``"year"``, ``"count"`` (a plural
    noun such as ``bedrooms``) or ``"generic"``."""
    if field is None:
        return "self"
    k = field_key(field)
    if any(w in k for w in ("zip", "postal", "postcode")):
        return "zip"
    if "director" in k:
        return "director"
    if k in ("cast", "actors", "actor", "stars", "starring"):
        return "cast"
    if k in ("genre", "genres"):
        return "genre"
    if k in ("year", "releaseyear", "yearreleased", "released"):
        return "year"
    if re.fullmatch(r"[A-Za-z]+", field) and k.endswith("s") and not k.endswith("ss") and k not in _COUNT_EXCLUDE:
        return "count"
    return "generic"


# ---------------------------------------------------------------------- render
def _name(field: str) -> str:
    return re.sub(r"[_\-]+", " ", field).strip()


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _low(s: str) -> str:
    return s[:1].lower() + s[1:]


def _q(v: str) -> str:
    """A value as written in a sentence: quoted when it could be misread."""
    if " and " in v.casefold() or v.endswith(".") or v.endswith(")") or v != v.strip() or v == "":
        return f'"{v}"'
    return v


_N = format_number
_INT_OPS = {">=": "greater than or equal to", ">": "greater than", "<=": "less than or equal to", "<": "less than"}
_GEN_OPS = {">=": "is at least", ">": "is greater than", "<=": "is at most", "<": "is less than"}
_YEAR_OPS = {">=": "in or after", ">": "after", "<=": "in or before", "<": "before"}


def render(p: Predicate, *, plain: bool = False) -> str:
    """The English sentence of ``p`` (see the module docstring for the forms).

    ``plain=True`` writes every record field in the generic forms ("Year is at least
    2000" rather than "Released in or after 2000"): a fallback for items whose fields
    make a role wording ambiguous (two year-like fields, say).
    """
    return _cap(_render(p, plain))


def _role(field: str | None, plain: bool) -> str:
    return "generic" if plain and field is not None else role(field)


def _render(p: Predicate, plain: bool = False) -> str:
    if isinstance(p, And):
        return f"{_render(p.left, plain)} and {_low(_render(p.right, plain))}"
    if isinstance(p, Not):
        return _render_not(p.inner, plain)
    r = _role(p.field, plain)
    if isinstance(p, (Bit, ModEq, ModRange)) and p.field is not None:
        raise ValueError(f"render: bit and modulo tests are written for integer items only, not field {p.field!r}")
    if isinstance(p, Bit):
        return f"Integers with the 2^{p.k} bit set"
    if isinstance(p, ModEq):
        if p.m == 2:
            return "Even integers" if p.r == 0 else "Odd integers"
        if p.r == 0:
            return f"Integers divisible by {p.m}"
        return f"Integers congruent to {p.r} modulo {p.m}"
    if isinstance(p, ModRange):
        return f"Integers whose value modulo {p.m} is between {p.lo} and {p.hi}"
    if isinstance(p, Compare):
        t = _N(p.t)
        if r == "self":
            return f"Integers {_INT_OPS[p.op]} {t}"
        if r == "year":
            return f"Released {_YEAR_OPS[p.op]} {t}"
        if r == "count":
            words = {">=": f"{t} or more", ">": f"more than {t}", "<=": f"{t} or fewer", "<": f"fewer than {t}"}
            return f"Has {words[p.op]} {_name(p.field or '')}"
        return f"{_name(p.field or '')} {_GEN_OPS[p.op]} {t}"
    if isinstance(p, Between):
        a, b = _N(p.lo), _N(p.hi)
        if r == "self":
            return f"Integers between {a} and {b}"
        if r == "year":
            return f"Released in {a}" if p.lo == p.hi else f"Released between {a} and {b}"
        if r == "count":
            if p.lo == p.hi:
                return f"Has exactly {a} {_name(p.field or '')}"
            return f"Has between {a} and {b} {_name(p.field or '')}"
        return f"{_name(p.field or '')} is between {a} and {b}"
    if isinstance(p, Equals):
        if r == "self":
            return f'Is "{p.value}"'
        if r == "zip":
            return f"Located in the {_q(p.value)} zip code"
        if r == "director":
            return f"Directed by {_q(p.value)}"
        if r == "genre":
            return f"Genre is {_q(p.value)}"
        return f"{_name(p.field or '')} is {_q(p.value)}"
    if isinstance(p, Prefix):
        if r == "self":
            return f'Starts with "{p.prefix}"'
        if r == "zip":
            return f"Located in a zip code starting with {_q(p.prefix)}"
        return f"{_name(p.field or '')} starts with {_q(p.prefix)}"
    if isinstance(p, Contains):
        if r == "self":
            return f'Includes "{p.value}"'
        if r == "director":
            return f"Directed by {_q(p.value)}"
        if r == "cast":
            return f"Starring {_q(p.value)}"
        if r == "genre":
            return f"Genre includes {_q(p.value)}"
        return f"{_name(p.field or '')} includes {_q(p.value)}"
    if isinstance(p, Mentions):
        if r == "self":
            return f'Mentions "{p.phrase}"'
        return f'{_name(p.field or "")} mentions "{p.phrase}"'
    raise TypeError(f"render: not a predicate: {p!r}")


def _render_not(p: Predicate, plain: bool) -> str:
    if isinstance(p, Bit) and p.field is None:
        return f"Integers with the 2^{p.k} bit unset"
    if isinstance(p, Compare):
        return _render(negate(p), plain)
    field = getattr(p, "field", None)
    generic = field is not None and _role(field, plain) not in ("zip", "director", "cast", "year")
    if generic and isinstance(p, Equals):
        return f"{_name(p.field or '')} is not {_q(p.value)}"
    if generic and isinstance(p, Between):
        return f"{_name(p.field or '')} is not between {_N(p.lo)} and {_N(p.hi)}"
    if generic and isinstance(p, Prefix):
        return f"{_name(p.field or '')} does not start with {_q(p.prefix)}"
    if generic and isinstance(p, Contains):
        return f"{_name(p.field or '')} does not include {_q(p.value)}"
    if isinstance(p, Mentions):
        if p.field is None:
            return f'Does not mention "{p.phrase}"'
        return f'{_name(p.field)} does not mention "{p.phrase}"'
    return "Not " + _low(_render(p, plain))
