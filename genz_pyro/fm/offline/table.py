"""Column view of a batch of items, the offline model's working representation.

Items are ints, strings or records (``dict``, or a JSON string holding a dict).
An integer string such as ``"37"`` is the int 37; any other string is text.
:class:`Table` normalises ``N`` items once and exposes one field at a time as
vectors the predicates evaluate on:

* ``numeric(field)`` -> float ``[N]`` (``nan`` where missing or not a number),
* ``strings(field)`` -> ``N`` canonical display strings (``None`` when missing),
* ``tokens(field)`` -> ``N`` frozensets of case-folded list members
  (``"Drama, Comedy"`` or ``"Drama|Comedy"`` or ``["Drama", "Comedy"]``),
* ``text(field)`` -> ``N`` case-folded strings (for word and phrase tests).

The field ``None`` is the item itself: the int of an integer item, the text of
a text item, and for a record the concatenation of its string values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Table", "normalize_item", "format_number", "field_key", "WORD_RE"]

WORD_RE = re.compile(r"\w+")
_INT_STRING = re.compile(r"[+-]?\d+")
_NUMBER_STRING = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LIST_SPLIT = re.compile(r"\s*[|,]\s*")


def format_number(value: float) -> str:
    """Shortest canonical decimal text of a number: ``256``, ``2.5``, ``-3``."""
    v = float(value)
    if math.isfinite(v) and v == math.floor(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def field_key(name: str) -> str:
    """Matching key of a field name: case-folded letters and digits only
    (``"year_built"``, ``"Year built"`` and ``"year-built"`` all give ``"yearbuilt"``)."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def normalize_item(item: Any) -> Any:
    """An int, a text string or a dict record (JSON strings of dicts are decoded).

    Raises:
        ValueError: for a bool, ``None`` or another unsupported type.
    """
    if type(item) is dict:
        return item
    if isinstance(item, bool) or item is None:
        raise ValueError(f"items: {item!r} is not an item; use an int, a str or a dict record")
    if isinstance(item, int):
        return item
    if isinstance(item, str):
        s = item.strip()
        if _INT_STRING.fullmatch(s):
            return int(s)
        if s.startswith("{") and s.endswith("}"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError:
                return item
            if isinstance(obj, dict):
                return obj
        return item
    if isinstance(item, Mapping):
        return dict(item)
    if isinstance(item, float) and item == math.floor(item):
        return int(item)
    raise ValueError(f"items: unsupported item type {type(item).__name__}; use an int, a str or a dict record")


def _to_number(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip().replace(",", "") if re.fullmatch(r"\s*[+-]?\d{1,3}(,\d{3})+(\.\d+)?\s*", v) else v.strip()
        if _NUMBER_STRING.fullmatch(s):
            return float(s)
    return math.nan


def _to_string(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is str:
        return v.strip()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return format_number(v) if math.isfinite(float(v)) else None
    if isinstance(v, (list, tuple)):
        return ", ".join(s for s in (_to_string(x) for x in v) if s is not None)
    if isinstance(v, Mapping):
        return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
    return str(v).strip()


def _to_tokens(v: Any) -> frozenset[str]:
    if v is None:
        return frozenset()
    if isinstance(v, (list, tuple)):
        parts = [_to_string(x) or "" for x in v]
    else:
        s = _to_string(v) or ""
        parts = _LIST_SPLIT.split(s) if ("," in s or "|" in s) else [s]
    return frozenset(p.strip().casefold() for p in parts if p.strip())


class Table:
    """``N`` normalised items, viewed one field at a time (see module docstring).

    Args:
        items: ordered ``{item_id: item}``.
    """

    def __init__(self, items: Mapping[str, Any]) -> None:
        self.ids: list[str] = [str(k) for k in items.keys()]
        self.rows: list[Any] = [normalize_item(v) for v in items.values()]
        self.n = len(self.rows)
        fields: set[str] = set()
        seen_keys: set[tuple] = set()
        for r in self.rows:
            if isinstance(r, dict):
                ks = tuple(r.keys())
                if ks not in seen_keys:
                    seen_keys.add(ks)
                    fields.update(str(k) for k in ks)
        self.fields: tuple[str, ...] = tuple(sorted(fields))
        self._cache: dict[tuple[str, str | None], Any] = {}

    # ------------------------------------------------------------------ raw values
    def raw(self, field: str | None) -> list[Any]:
        """The ``N`` raw values of ``field`` (``None`` where the item lacks it)."""
        key = ("raw", field)
        if key not in self._cache:
            if field is None:
                out = []
                for r in self.rows:
                    if isinstance(r, dict):
                        out.append(" ".join(s for s in (_to_string(r[k]) for k in sorted(r)) if s))
                    else:
                        out.append(r)
            else:
                out = [r.get(field) if isinstance(r, dict) else None for r in self.rows]
            self._cache[key] = out
        return self._cache[key]

    def resolve(self, name: str) -> str:
        """The record field whose name matches ``name`` (case, spaces, ``_`` and ``-`` ignored).

        Raises:
            ValueError: naming ``name`` and listing the fields when none or several match.
        """
        key = field_key(name)
        hits = [f for f in self.fields if field_key(f) == key]
        if not hits:
            alts = {key + "s", key[:-1] if key.endswith("s") else key, key + "es"} - {key}
            hits = [f for f in self.fields if field_key(f) in alts]
        if len(hits) == 1:
            return hits[0]
        listed = ", ".join(self.fields) or "(the items are not records)"
        raise ValueError(f"field {name!r}: {'no' if not hits else 'several'} record fields match; fields are: {listed}")

    # ------------------------------------------------------------------ columns
    def numeric(self, field: str | None) -> np.ndarray:
        """``[N]`` float values of ``field`` (``nan`` where missing or not numeric)."""
        key = ("num", field)
        if key not in self._cache:
            self._cache[key] = np.array([_to_number(v) for v in self.raw(field)], dtype=np.float64)
        return self._cache[key]

    def strings(self, field: str | None) -> list[str | None]:
        """``N`` canonical display strings of ``field`` (``None`` where missing)."""
        key = ("str", field)
        if key not in self._cache:
            self._cache[key] = [_to_string(v) for v in self.raw(field)]
        return self._cache[key]

    def folded(self, field: str | None) -> list[str | None]:
        """``N`` case-folded display strings of ``field``."""
        key = ("fold", field)
        if key not in self._cache:
            self._cache[key] = [s.casefold() if s is not None else None for s in self.strings(field)]
        return self._cache[key]

    def tokens(self, field: str | None) -> list[frozenset[str]]:
        """``N`` sets of case-folded list members of ``field``."""
        key = ("tok", field)
        if key not in self._cache:
            self._cache[key] = [_to_tokens(v) for v in self.raw(field)]
        return self._cache[key]

    def text(self, field: str | None) -> list[str]:
        """``N`` case-folded texts of ``field`` ("" where missing), words separated by single spaces."""
        key = ("txt", field)
        if key not in self._cache:
            self._cache[key] = [" ".join(WORD_RE.findall(s)) if s else "" for s in self.folded(field)]
        return self._cache[key]

    # ------------------------------------------------------------------ field kinds
    def kind(self, field: str | None) -> str:
        """``"numeric"``, ``"list"``, ``"text"``, ``"categorical"`` or ``"missing"`` for ``field``.

        numeric: >= 90% of present values are numbers; list: >= 20% of the present
        values hold ``,`` or ``|`` separators (or are JSON lists) and members are short;
        text: values average 4 or more words; categorical otherwise.
        """
        key = ("kind", field)
        if key not in self._cache:
            self._cache[key] = self._infer_kind(field)
        return self._cache[key]

    def _infer_kind(self, field: str | None) -> str:
        raw = self.raw(field)
        present = [v for v in raw if v is not None and v != ""]
        if not present:
            return "missing"
        nums = self.numeric(field)
        if np.isfinite(nums).sum() >= 0.9 * len(present):
            return "numeric"
        strs = [s for s in self.strings(field) if s]
        listy = sum(1 for v in present if isinstance(v, (list, tuple)) or (isinstance(v, str) and ("," in v or "|" in v)))
        members = [t for toks in self.tokens(field) for t in toks]
        member_words = float(np.mean([len(t.split()) for t in members])) if members else 0.0
        if listy >= 0.2 * len(present) and member_words <= 3.0:
            return "list"
        words = float(np.mean([len(WORD_RE.findall(s)) for s in strs])) if strs else 0.0
        return "text" if words >= 4.0 else "categorical"

    def is_integer(self, field: str | None) -> bool:
        """True when every present numeric value of ``field`` is integral."""
        v = self.numeric(field)
        v = v[np.isfinite(v)]
        return bool(v.size) and bool(np.all(v == np.floor(v)))

    def is_code(self, field: str | None) -> bool:
        """True for code-like fields (zip codes): name mentions zip/postal/code, or all
        present values are single alphanumeric words of one length >= 3 that are not counts."""
        if field is not None and any(w in field_key(field) for w in ("zip", "postal", "postcode", "code")):
            return True
        strs = [s for s in self.strings(field) if s]
        if not strs or not all(s.isalnum() for s in strs):
            return False
        lengths = {len(s) for s in strs}
        return len(lengths) == 1 and min(lengths) >= 3 and self.kind(field) != "numeric"

    def display_value(self, field: str | None, folded: str) -> str:
        """The most common original spelling of the case-folded value ``folded``
        (a list member or a whole value) in ``field``; ties go to the smallest string."""
        key = ("disp", field)
        if key not in self._cache:
            counts: dict[str, dict[str, int]] = {}
            for raw in self.raw(field):
                if raw is None:
                    continue
                if isinstance(raw, (list, tuple)):
                    cands: Sequence[str] = [_to_string(x) or "" for x in raw]
                else:
                    s = _to_string(raw) or ""
                    cands = [s] + (_LIST_SPLIT.split(s) if ("," in s or "|" in s) else [])
                for c in cands:
                    c = c.strip()
                    d = counts.setdefault(c.casefold(), {})
                    d[c] = d.get(c, 0) + 1
            self._cache[key] = {
                f: sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for f, d in counts.items()
            }
        return self._cache[key].get(folded, folded)
