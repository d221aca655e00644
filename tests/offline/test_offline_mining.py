"""The offline model's miner: it recovers the true predicate from exemplars it splits."""

from __future__ import annotations

import numpy as np
import pytest

from genz_pyro.fm.offline import OfflineModel
from genz_pyro.fm.offline.miner import mine_predicate, nice_number
from genz_pyro.fm.offline.predicates import And, Between, Bit, Compare, Contains, Mentions, Not, Prefix, evaluate
from genz_pyro.fm.offline.table import Table

INTS = {str(i): str(i) for i in range(512)}
NUMS = np.arange(512)


def _exemplars(items: dict, truth: np.ndarray, n: int, rng: np.random.Generator, flips: int = 0):
    """``n`` positives and ``n`` negatives drawn by ``truth``; ``flips`` of each swapped group."""
    ids = list(items)
    pos = [ids[i] for i in rng.choice(np.flatnonzero(truth), n, replace=False)]
    neg = [ids[i] for i in rng.choice(np.flatnonzero(~truth), n, replace=False)]
    pos, neg = neg[:flips] + pos[flips:], pos[:flips] + neg[flips:]
    return {k: items[k] for k in pos}, {k: items[k] for k in neg}


@pytest.mark.parametrize("k", range(9))
@pytest.mark.parametrize("set_", [True, False])
def test_bits_of_0_to_511_both_signs(k: int, set_: bool, rng: np.random.Generator) -> None:
    truth = ((NUMS >> k) & 1).astype(bool) == set_
    pos, neg = _exemplars(INTS, truth, 20, rng)
    fm = OfflineModel()
    mined = fm.mine(pos, neg)
    judged = fm.judge_array(mined.description, INTS)
    np.testing.assert_array_equal(judged, truth)  # the description holds for exactly the positives' side
    # (bit 8 of 0..511 is also the threshold 256: the bit wins, its family is smaller)
    assert mined.description == f"Integers with the 2^{k} bit {'set' if set_ else 'unset'}"
    assert fm.usage.calls == 1


def test_bit_survives_mislabeled_exemplars(rng: np.random.Generator) -> None:
    truth = ((NUMS >> 4) & 1).astype(bool)
    pos, neg = _exemplars(INTS, truth, 20, rng, flips=2)  # 2 of 20 wrong on each side
    res = mine_predicate(pos, neg)
    assert res.predicate == Bit(None, 4)
    assert res.positives_hit == 18 and res.negatives_hit == 2


def test_posterior_split_of_binary_residuals(rng: np.random.Generator) -> None:
    """After the 2^8 feature is in the model, the residual's sign is bit 7: mining it from a
    (slightly noisy) split of residual signs gives bit 7, never bit 8 again (it is avoided)."""
    y = NUMS.astype(float)
    x = np.stack([(NUMS >= 256).astype(float), np.ones(512)], axis=1)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    truth = resid > 0
    np.testing.assert_array_equal(truth, ((NUMS >> 7) & 1).astype(bool))
    pos, neg = _exemplars(INTS, truth, 20, rng, flips=1)
    mined = OfflineModel().mine(pos, neg, avoid=("Integers greater than or equal to 256",))
    assert mined.description == "Integers with the 2^7 bit set"


def test_avoid_skips_equivalent_predicates(rng: np.random.Generator) -> None:
    truth = NUMS >= 256
    pos, neg = _exemplars(INTS, truth, 20, rng)
    first = mine_predicate(pos, neg).predicate
    assert first == Bit(None, 8)
    # the same split avoided: neither "2^8 bit set" nor its equivalent ">= 256" may come back
    second = mine_predicate(pos, neg, avoid=("Integers greater than or equal to 256",)).predicate
    assert second not in (first, Not(Bit(None, 8)), Compare(None, ">=", 256.0), Compare(None, "<", 256.0))
    judged = evaluate(second, Table(INTS))
    assert not np.array_equal(judged, truth) and not np.array_equal(judged, ~truth)


def _records(n: int, rng: np.random.Generator) -> dict:
    zips = ["60012", "60045", "60091", "92880", "92276", "85255"]
    genres = ["Drama", "Comedy", "Action", "Horror", "Romance", "Thriller"]
    cast = ["Tom Hanks", "Meryl Streep", "Brad Pitt", "Julia Roberts", "Denzel Washington", "Cate Blanchett"]
    words = "quiet street modern kitchen renovated view lake mountain cozy spacious garden sunny".split()
    out = {}
    for i in range(n):
        desc = " ".join(rng.choice(words, 4, replace=False))
        for phrase in ("with ocean view", "near the ocean", "with city view"):  # "ocean", "view" alone mislead
            if rng.random() < 0.3:
                desc += " " + phrase
        out[f"r{i}"] = {
            "bedrooms": int(rng.integers(1, 7)),
            "area": int(rng.integers(700, 5000)),
            "year": int(rng.integers(1960, 2016)),
            "zipcode": str(rng.choice(zips)),
            "genres": "|".join(rng.choice(genres, int(rng.integers(1, 4)), replace=False)),
            "cast": ", ".join(rng.choice(cast, 2, replace=False)),
            "director": str(rng.choice(["Steven Spielberg", "Ang Lee", "Ridley Scott", "Sofia Coppola"])),
            "rating": round(float(rng.uniform(1, 10)), 1),
            "description": desc,
            "title": f"Title {i}",
        }
    return out


CASES = [
    (Prefix("zipcode", "600"), "Located in a zip code starting with 600"),
    (Contains("genres", "Drama"), "Genre includes Drama"),
    (Contains("cast", "Meryl Streep"), "Starring Meryl Streep"),
    (Contains("director", "Steven Spielberg"), "Directed by Steven Spielberg"),
    (Mentions("description", "ocean view"), 'Description mentions "ocean view"'),
    (Mentions("description", "renovated"), 'Description mentions "renovated"'),
    (Between("year", 1995.0, 2000.0), "Released between 1995 and 2000"),
    (Compare("bedrooms", ">=", 4.0), "Has 4 or more bedrooms"),
    (Compare("area", "<", 2000.0), "Area is less than 2000"),
    (Between("rating", 4.0, 6.5), "Rating is between 4 and 6.5"),
]


@pytest.mark.parametrize("truth_p, sentence", CASES, ids=[c[1] for c in CASES])
def test_record_families(truth_p, sentence: str) -> None:
    rng = np.random.default_rng(1)
    items = _records(600, rng)
    fm = OfflineModel()
    truth = fm.judge_array(sentence, items)
    assert 0.05 < truth.mean() < 0.7
    pos, neg = _exemplars(items, truth, 40, rng)
    res = mine_predicate(pos, neg)
    assert type(res.predicate) is type(truth_p) and res.predicate.field == truth_p.field
    agreement = (fm.judge_array(fm.mine(pos, neg).description, items) == truth).mean()
    assert agreement >= 0.97, (res.predicate, agreement)
    if not isinstance(truth_p, (Between, Compare)) or truth_p.field in ("bedrooms", "year"):
        assert res.predicate == truth_p  # categorical/list/text/integer-count truths come back exactly


def test_conjunction_when_no_single_predicate_separates() -> None:
    rng = np.random.default_rng(2)
    items = _records(800, rng)
    fm = OfflineModel()
    truth = fm.judge_array("Has 4 or more bedrooms and located in a zip code starting with 600", items)
    pos, neg = _exemplars(items, truth, 40, rng)
    res = mine_predicate(pos, neg)
    assert isinstance(res.predicate, And)
    assert {res.predicate.left, res.predicate.right} == {Compare("bedrooms", ">=", 4.0), Prefix("zipcode", "600")}
    mined = fm.mine(pos, neg).description
    np.testing.assert_array_equal(fm.judge_array(mined, items), truth)


def test_single_predicate_preferred_over_conjunction() -> None:
    rng = np.random.default_rng(3)
    items = _records(600, rng)
    truth = OfflineModel().judge_array("Genre includes Comedy", items)
    pos, neg = _exemplars(items, truth, 30, rng, flips=3)  # 10% label noise
    assert mine_predicate(pos, neg).predicate == Contains("genres", "Comedy")


def test_mining_is_independent_of_exemplar_order() -> None:
    rng = np.random.default_rng(4)
    items = _records(300, rng)
    truth = OfflineModel().judge_array("Area is less than 2000", items)
    pos, neg = _exemplars(items, truth, 25, rng, flips=2)
    a = mine_predicate(pos, neg)
    b = mine_predicate(dict(reversed(list(pos.items()))), dict(sorted(neg.items())))
    assert a == b


def test_nice_numbers() -> None:
    assert nice_number(243, 261, lo_closed=False, hi_closed=True, integer=True, binary=True) == 256
    assert nice_number(243, 261, lo_closed=False, hi_closed=True, integer=True, binary=False) == 250
    assert nice_number(1994, 2003, lo_closed=False, hi_closed=False, integer=True, binary=False) == 2000
    assert nice_number(3, 4, lo_closed=False, hi_closed=True, integer=True, binary=False) == 4
    assert nice_number(2.31, 2.38, lo_closed=False, hi_closed=True, integer=False, binary=False) == 2.35


def test_empty_group_is_an_error() -> None:
    with pytest.raises(ValueError, match="negatives"):
        OfflineModel().mine({"1": "1"}, {})
