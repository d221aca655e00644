"""Search the predicate grammar for the test that best separates two exemplar groups.

Scoring. Every candidate predicate ``p`` is evaluated on the ``P + M`` exemplars;
its balanced accuracy is ``(TPR + TNR) / 2`` (positives where ``p`` holds,
negatives where it does not). The search maximises
``balanced accuracy - u * cost(p)`` with ``u = 0.5 / min(P, M)`` (what one exemplar
is worth, at least 0.01; on integer items a threshold also costs 0.5 per significant
digit beyond the first, so "< 32" = "2^5 bit unset" beats "< 33" unless 33 fits two
more exemplars): a richer predicate must explain about one more exemplar
per unit of description length, so a few mislabeled exemplars are not fitted with an
interval or a conjunction, while equally accurate predicates go to the simpler one
("2^8 bit set" over a modulo range, a single field test over a conjunction).
Larger families are more likely to hold a predicate that fits the exemplars by luck
(a numeric field has about ``U^2`` intervals but ``2U`` thresholds), so each score
also loses ``0.5 * sd0 * sqrt(2 ln F)``, half the expected best chance balanced
accuracy among the ``F`` members of its family (``sd0 = 0.25 sqrt(1/P + 1/M)``, the
SD of a random predicate's balanced accuracy): on a weak, noisy split a threshold
beats an interval of the same field that fits one more exemplar.
Remaining ties go to the rounder threshold (256 over 250, 2000 over 1998), then to
the smallest canonical form, so the result never depends on dict/set order or
``PYTHONHASHSEED``.

Candidates are data-driven: numeric thresholds and intervals are cut between
consecutive distinct exemplar values (the roundest number in the gap is written);
categorical values, zip-like prefixes, list members and text words/bigrams are
those seen at least twice among the exemplars. Conjunctions of two are searched
only when no single predicate reaches a balanced accuracy of 0.9, and kept only
when the conjunction reaches 0.9 and beats the best single score by three
exemplars (at least 0.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from genz_pyro.fm.offline.english import parse, render, role
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
    canonical,
    cost,
    evaluate,
)

from genz_pyro.fm.errors import NoFeatureFoundError
from genz_pyro.fm.offline.table import Table
from genz_pyro.fm.protocol import render_item

render_key = canonical

__all__ = ["MineResult", "mine_predicate", "nice_number", "STOPWORDS"]

COST_WEIGHT = 1.0  # in exemplar units: one cost unit = one exemplar's worth of balanced accuracy
MIN_COST_WEIGHT = 0.01
CONJ_BELOW = 0.9
CONJ_MARGIN = 3.0  # exemplar units
MIN_CONJ_MARGIN = 0.05
FAMILY_WEIGHT = 0.5
CONJ_POOL = 40

STOPWORDS = frozenset(
    "a an and are as at be but by for from has have in into is it its of on or that the this to was were with "
    "which who will there their they them than then these those so such not no nor very can also about "
    "after before over under more most some any all each other only own same too just into out off".split()
)


@dataclass(frozen=True)
class MineResult:
    """The chosen predicate, its sentence and how it scored on the exemplars."""

    predicate: Predicate
    description: str
    balanced_accuracy: float
    positives_hit: int
    num_positives: int
    negatives_hit: int
    num_negatives: int
    num_candidates: int


# ---------------------------------------------------------------------- round numbers
def nice_number(lo: float, hi: float, *, lo_closed: bool, hi_closed: bool, integer: bool, binary: bool) -> float:
    """The roundest number in the interval between ``lo`` and ``hi``.

    Tries steps from large to small (``5, 2, 1 x 10^e``, and powers of two when
    ``binary``) and returns the multiple of the first step that falls inside,
    the one closest to the middle. ``integer`` restricts to integers.
    """
    if integer:
        a = math.ceil(lo) if lo_closed else math.floor(lo) + 1
        b = math.floor(hi) if hi_closed else math.ceil(hi) - 1
        if a > b:
            return float(a)
        lo, hi, lo_closed, hi_closed = float(a), float(b), True, True
    span = max(abs(lo), abs(hi), hi - lo, 1e-12)
    top = int(math.floor(math.log10(span))) + 1
    steps: set[float] = set()
    for e in range(top, (0 if integer else -12) - 1, -1):
        for mant in (5, 2, 1):
            s = mant * 10.0**e
            if not integer or s >= 1:
                steps.add(s)
    if binary:
        steps.update(float(2**k) for k in range(0, int(math.log2(span)) + 2))
    mid = (lo + hi) / 2
    for s in sorted(steps, reverse=True):
        k0, k1 = math.ceil(lo / s), math.floor(hi / s)
        cands = [k * s for k in range(k0, k1 + 1)]
        cands = [c for c in cands if (c > lo or (lo_closed and c == lo)) and (c < hi or (hi_closed and c == hi))]
        if cands:
            best = min(cands, key=lambda c: (abs(c - mid), c))
            return float(round(best, 12))
    return float(hi if hi_closed else lo)


# ---------------------------------------------------------------------- candidates
Scored = tuple[Predicate, np.ndarray]
Family = tuple[Predicate, np.ndarray, int]  # predicate, exemplar vector, size of its family


def _bacc(v: np.ndarray, y: np.ndarray) -> float:
    return 0.5 * (float(v[y].mean()) + float((~v[~y]).mean()))


def _numeric_candidates(table: Table, field: str | None, y: np.ndarray) -> list[Family]:
    v = table.numeric(field)
    valid = np.isfinite(v)
    u = np.unique(v[valid])
    if u.size < 2:
        return []
    integer = table.is_integer(field)
    binary = field is None
    npos, nneg = int(y.sum()), int((~y).sum())
    idx = np.searchsorted(u, v[valid])
    pc = np.bincount(idx[y[valid]], minlength=u.size).astype(float)
    nc = np.bincount(idx[~y[valid]], minlength=u.size).astype(float)
    out: list[tuple[Predicate, int]] = []

    def pick(bacc: np.ndarray, make, size: int) -> None:
        best = np.max(bacc)
        if not np.isfinite(best):
            return
        tied = [make(int(i)) for i in np.flatnonzero(np.isclose(bacc, best, atol=1e-12))[:64]]
        out.append((min(tied, key=lambda pr: (-_roundness(pr), render_key(pr))), size))

    # one-sided cuts between u[i] and u[i+1]
    pos_ge = np.cumsum(pc[::-1])[::-1][1:]  # positives with value >= u[i+1]
    neg_ge = np.cumsum(nc[::-1])[::-1][1:]
    ge = 0.5 * (pos_ge / npos + 1 - neg_ge / nneg)
    lt = 0.5 * ((pc.sum() - pos_ge) / npos + 1 - (nc.sum() - neg_ge) / nneg)

    def thr(i: int) -> float:
        return nice_number(u[i], u[i + 1], lo_closed=False, hi_closed=True, integer=integer, binary=binary)

    pick(ge, lambda i: Compare(field, ">=", thr(i)), 2 * (u.size - 1))
    pick(lt, lambda i: Compare(field, "<", thr(i)), 2 * (u.size - 1))
    # inclusive intervals [u[i], u[j]] with 1 <= i <= j <= U-2
    if u.size >= 3:
        cp, cn = np.concatenate([[0], np.cumsum(pc)]), np.concatenate([[0], np.cumsum(nc)])
        inside_p = cp[None, 1:] - cp[:-1, None]  # [i, j] = count in u[i..j]
        inside_n = cn[None, 1:] - cn[:-1, None]
        bt = 0.5 * (inside_p / npos + 1 - inside_n / nneg)
        ii, jj = np.meshgrid(np.arange(u.size), np.arange(u.size), indexing="ij")
        ok = (jj >= ii) & (ii >= 1) & (jj <= u.size - 2)
        if ok.any():
            def between(flat: int) -> Predicate:
                i, j = divmod(flat, u.size)
                lo = nice_number(u[i - 1], u[i], lo_closed=False, hi_closed=True, integer=integer, binary=binary)
                hi = nice_number(u[j], u[j + 1], lo_closed=True, hi_closed=False, integer=integer, binary=binary)
                return Between(field, lo, hi)

            n_ok = int(ok.sum())
            pick(np.where(ok, bt, -np.inf).ravel(), between, 2 * n_ok)
            pick(np.where(ok, 1 - bt, -np.inf).ravel(), lambda f: Not(between(f)), 2 * n_ok)
    scored: list[Family] = [(p, evaluate(p, table), size) for p, size in out]
    if field is None and integer and float(u[0]) >= 0:
        scored.extend(_integer_candidates(table))
    return scored


def _integer_candidates(table: Table) -> list[Family]:
    """Bits, residues and quarter-aligned modulo ranges of integer items, vectorised."""
    v = table.numeric(None)
    ok = np.isfinite(v) & (v >= 0)
    vi = np.where(ok, v, 0).astype(np.int64)
    out: list[Scored] = []
    top = max(int(vi.max()), 1).bit_length()
    sizes = [2 * (top + 1)]
    for k in range(top + 1):
        b = ok & (((vi >> k) & 1) == 1)
        out.append((Bit(None, k), b))
        out.append((Not(Bit(None, k)), ~b))
    for m in range(2, 13):
        res = vi % m
        out.extend((ModEq(None, m, r), ok & (res == r)) for r in range(m))
    sizes.append(len(out) - sizes[0])
    for j in range(2, 11):
        m = 2**j
        res = vi % m
        # quarter windows and the centred half; the other halves are bits and the
        # three-quarter windows are negations of quarters (ORs of two bits)
        for a, b in ((0, 1), (1, 2), (2, 3), (3, 4), (1, 3)):
            lo, hi = a * m // 4, b * m // 4 - 1
            out.append((ModRange(None, m, lo, hi), ok & (res >= lo) & (res <= hi)))
    sizes.append(len(out) - sum(sizes))
    size_of = [sizes[0]] * sizes[0] + [sizes[1]] * sizes[1] + [sizes[2]] * sizes[2]
    return [(p, v, f) for (p, v), f in zip(out, size_of)]


def _roundness(p: Predicate) -> float:
    """Larger for rounder thresholds (the number of trailing decimal/binary zeros)."""
    vals = [p.t] if isinstance(p, Compare) else [p.lo, p.hi] if isinstance(p, Between) else []
    if isinstance(p, Not):
        return _roundness(p.inner)
    score = 0.0
    for x in vals:
        if x != int(x):
            score -= 1 + len(repr(x))
            continue
        n, z10, z2 = abs(int(x)), 0, 0
        while n and n % 10 == 0:
            n //= 10
            z10 += 1
        n = abs(int(x))
        while n and n % 2 == 0:
            n //= 2
            z2 += 1
        score += max(z10, z2 * math.log10(2))
    return score


def _counted(values: Iterable[Iterable[str]], min_count: int) -> list[str]:
    counts: dict[str, int] = {}
    for vs in values:
        for v in set(vs):
            counts[v] = counts.get(v, 0) + 1
    return sorted(v for v, c in counts.items() if c >= min_count)



def _symbolic_candidates(table: Table, field: str | None) -> list[Scored]:
    """Equality, prefix, list-member and word/bigram tests with their exemplar vectors."""
    kind = table.kind(field)
    out: list[Scored] = []
    folded = table.folded(field)
    code = table.is_code(field)
    member_role = role(field) in ("director", "cast", "genre")
    if (kind in ("categorical",) or code) and not member_role:
        for v in _counted(([s] if s else [] for s in folded), 2):
            p = Equals(field, table.display_value(field, v))
            out.append((p, evaluate(p, table)))
    if code:
        prefixes = ([s[:k] for k in range(1, len(s))] if s else [] for s in folded)
        for v in _counted(prefixes, 2):
            out.append((Prefix(field, v), np.array([s is not None and s.startswith(v) for s in folded])))
    if kind == "list" or (member_role and kind == "categorical"):
        toks = table.tokens(field)
        for v in _counted(toks, 2):
            out.append((Contains(field, table.display_value(field, v)), np.array([v in t for t in toks])))
    if kind == "text" or (field is None and kind == "categorical"):
        grams = []
        for s in table.text(field):
            words = s.split()
            g = {w for w in words if w not in STOPWORDS and (len(w) >= 3 or w.isdigit())}
            g.update(f"{a} {b}" for a, b in zip(words, words[1:]) if a not in STOPWORDS and b not in STOPWORDS)
            grams.append(g)
        for w in _counted(grams, 2):
            out.append((Mentions(field, w), np.array([w in g for g in grams])))
    return out


def _fields(table: Table) -> list[str | None]:
    if table.fields:
        return list(table.fields)
    return [None]


def _candidates(table: Table, y: np.ndarray) -> list[Family]:
    cands: list[Family] = []
    for f in _fields(table):
        kind = table.kind(f)
        if kind == "numeric" and not (f is not None and table.is_code(f)):
            cands.extend(_numeric_candidates(table, f, y))
        sym = _symbolic_candidates(table, f)
        sizes: dict[type, int] = {}
        for p, _ in sym:
            sizes[type(p)] = sizes.get(type(p), 0) + 2  # the test and its negation
        cands.extend((p, v, sizes[type(p)]) for p, v in sym)
        cands.extend((Not(p), ~v, sizes[type(p)]) for p, v in sym)
    return cands


# ---------------------------------------------------------------------- search
def _avoid_vectors(avoid: Iterable[str], table: Table) -> set[bytes]:
    keys: set[bytes] = set()
    for desc in avoid:
        try:
            v = evaluate(parse(desc, table), table)
        except (ValueError, TypeError):
            continue
        keys.add(np.packbits(v).tobytes() + bytes([v.size % 8]))
        keys.add(np.packbits(~v).tobytes() + bytes([v.size % 8]))
    return keys


def mine_predicate(
    positives: Mapping[str, Any], negatives: Mapping[str, Any], *, avoid: Iterable[str] = ()
) -> MineResult:
    """The predicate that best separates ``positives`` from ``negatives``.

    Args:
        positives, negatives: ``{item_id: item}`` exemplar groups (each non-empty).
        avoid: descriptions to steer away from: a candidate that splits the
            exemplars exactly like an avoided description (or its negation) is skipped.

    Raises:
        ValueError: when a group is empty.
    """
    if not positives:
        raise ValueError("positives: the positive exemplar group is empty; pass at least one item")
    if not negatives:
        raise ValueError("negatives: the negative exemplar group is empty; pass at least one item")
    pos = sorted((render_item(v) for v in positives.values()))
    neg = sorted((render_item(v) for v in negatives.values()))
    items = {f"p{i}": s for i, s in enumerate(pos)} | {f"n{i}": s for i, s in enumerate(neg)}
    table = Table(items)
    y = np.array([True] * len(pos) + [False] * len(neg))
    cands = _candidates(table, y)
    avoided = _avoid_vectors(avoid, table)
    keep = []
    for p, v, fam in cands:
        if v.all() or not v.any():
            continue
        if np.packbits(v).tobytes() + bytes([v.size % 8]) in avoided:
            continue
        keep.append((p, v, fam))
    if not keep:
        raise NoFeatureFoundError(
            "exemplars: no predicate of the offline grammar separates these positives from negatives "
            "(all candidates are constant or avoided); pass more varied exemplars"
        )
    mat = np.stack([v for _, v, _ in keep])  # [C, M]
    baccs = 0.5 * (mat[:, y].mean(axis=1) + (~mat[:, ~y]).mean(axis=1))
    npos, nneg = int(y.sum()), int((~y).sum())
    unit = 0.5 / min(npos, nneg)  # balanced accuracy of one exemplar
    cw = max(MIN_COST_WEIGHT, COST_WEIGHT * unit)
    margin = max(MIN_CONJ_MARGIN, CONJ_MARGIN * unit)
    sd0 = 0.25 * math.sqrt(1.0 / npos + 1.0 / nneg)  # SD of a random predicate's balanced accuracy

    def luck(size: int) -> float:  # expected best balanced accuracy gain by chance in a family
        return FAMILY_WEIGHT * sd0 * math.sqrt(2.0 * math.log(max(size, 1)))

    costs = [cost(p) for p, _, _ in keep]
    scored = [
        (float(b) - cw * c - luck(fam), float(b), render_key(p), p, v, c)
        for (p, v, fam), b, c in zip(keep, baccs, costs)
    ]
    top = max(s[0] for s in scored)
    head = sorted((s for s in scored if s[0] >= top - 1e-9), key=lambda s: (s[5], -_roundness(s[3]), s[2]))
    best = head[0][:5]
    if best[1] < CONJ_BELOW:
        pool = sorted(scored, key=lambda s: (-s[1], s[5], s[2]))[:CONJ_POOL]
        conj: list[tuple[float, float, str, Predicate, np.ndarray]] = []
        pm = np.stack([c[4] for c in pool]).astype(np.float64)  # [K, M]
        yf = y.astype(np.float64)
        both_pos = (pm * yf) @ pm.T / yf.sum()  # [K, K] TPR of a & b
        both_neg = (pm * (1 - yf)) @ pm.T / (1 - yf).sum()  # FPR of a & b
        pair_bacc = 0.5 * (both_pos + 1 - both_neg)
        for i in range(len(pool)):
            for j in range(i + 1, len(pool)):
                if both_pos[i, j] == 0 and both_neg[i, j] == 0:
                    continue
                a, b2 = sorted((pool[i][3], pool[j][3]), key=render_key)
                p = And(a, b2)
                bacc = float(pair_bacc[i, j])
                conj.append((bacc - cw * cost(p) - luck(len(pool) * (len(pool) - 1) // 2), bacc, render_key(p), p,
                             pool[i][4] & pool[j][4]))
        if conj:
            conj.sort(key=lambda s: (-s[0], cost(s[3]), s[2]))
            if conj[0][1] >= CONJ_BELOW and conj[0][0] > best[0] + margin:
                best = conj[0]
    v = best[4]
    text = render(best[3])
    try:
        readable = parse(text, table) == best[3]
    except ValueError:
        readable = False
    if not readable:  # a role wording is ambiguous on these items' fields: write it plainly
        text = render(best[3], plain=True)
    return MineResult(
        predicate=best[3],
        description=text,
        balanced_accuracy=float(best[1]),
        positives_hit=int(v[y].sum()),
        num_positives=int(y.sum()),
        negatives_hit=int(v[~y].sum()),
        num_negatives=int((~y).sum()),
        num_candidates=len(keep),
    )
