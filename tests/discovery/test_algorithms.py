"""Algorithms 2 and 3 and the given-feature step on constructed cases (offline model)."""

from __future__ import annotations

import numpy as np
import pytest

from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.fm.offline import OfflineModel

from discovery_helpers import Counting, integer_dataset


def _case(seed: int = 0) -> np.ndarray:
    # A = x < 200 explains most of y; inside A = 1 only, the parity adds 4: the subgroup
    # A = 1 carries all of the remaining error, A = 0 only noise of sd 0.1.
    x = np.arange(400)
    a = (x < 200).astype(float)
    return 10 * a + 4 * a * (x % 2) + 0.1 * np.random.default_rng(seed).standard_normal(400)


def test_algorithm2_mines_from_the_subgroup_with_the_largest_error() -> None:
    fm = Counting(OfflineModel())
    d = Discovery(integer_dataset(_case()), fm, seed=0, exemplars=ExemplarConfig(10, 10))
    d.add_description("Integers less than 200")
    rec = d.add_feature(conditional=True)
    assert rec.action == "add" and rec.algorithm == "alg2"
    assert rec.subgroup == [1]  # the combination A = 1
    shown = [int(i) for i in rec.exemplars["positive"] + rec.exemplars["negative"]]
    assert len(shown) == 20 and all(i < 200 for i in shown)
    assert "2^0" in rec.feature  # the parity, judged on every item
    assert d.judgments.shape == (400, 2)
    assert np.array_equal(d.judgments[:, 1], (np.arange(400) % 2 == 0) * 1.0) or np.array_equal(
        d.judgments[:, 1], (np.arange(400) % 2) * 1.0
    )
    # the miner was told to avoid the current feature
    assert fm.mined[-1][2] == ("Integers less than 200",)


def test_algorithm1_on_the_same_case_draws_exemplars_from_all_items() -> None:
    d = Discovery(integer_dataset(_case()), OfflineModel(), seed=0, exemplars=ExemplarConfig(10, 10))
    d.add_description("Integers less than 200")
    rec = d.add_feature(conditional=False)
    assert rec.subgroup is None
    shown = [int(i) for i in rec.exemplars["positive"] + rec.exemplars["negative"]]
    assert any(i >= 200 for i in shown)


def test_algorithm3_removes_the_planted_useless_feature_first() -> None:
    d = Discovery(integer_dataset(_case(1)), OfflineModel(), seed=0)
    for desc in ("Integers with the 2^3 bit set", "Integers less than 200", "Integers with the 2^0 bit set"):
        assert d.add_description(desc).action == "add"
    rec = d.remove_feature()
    assert rec.action == "remove" and rec.feature == "Integers with the 2^3 bit set"
    assert d.features == ["Integers less than 200", "Integers with the 2^0 bit set"]
    assert d.result is not None and d.result.q.shape == (400, 2)
    # removing a useful feature next costs more bound than the useless one did
    before = rec.bound
    rec2 = d.remove_feature()
    assert rec2.bound < before


def test_remove_without_features_is_an_error() -> None:
    d = Discovery(integer_dataset(_case()), OfflineModel(), seed=0)
    with pytest.raises(ValueError, match="no feature to remove"):
        d.remove_feature()


def test_refine_mixes_disagreeing_exemplars_and_rewords_the_feature() -> None:
    from genz_pyro.datasets.binary import load_binary

    ds = load_binary(9)
    d = Discovery(ds, OfflineModel(), seed=0, exemplars=ExemplarConfig(10, 10, disagree_fraction=0.5))
    d.add_description("Integers less than 200")  # a wrong cut: the data want 256
    rec = d.refine_feature()
    assert rec.action == "add" and rec.algorithm == "refine"
    assert rec.reason == "refines feature 0: Integers less than 200"
    pos = [int(i) for i in rec.exemplars["positive"]]
    neg = [int(i) for i in rec.exemplars["negative"]]
    # the posterior puts 200..255 with 0..199: half the positives are those disagreeing items
    assert sum(200 <= i < 256 for i in pos) == 5 and all(i < 256 for i in pos)
    assert all(i >= 256 for i in neg)
    bit8 = ds.extras["bits"][:, 8].astype(float)
    col = d.judgments[:, 0]
    assert np.array_equal(col, bit8) or np.array_equal(col, 1 - bit8)
    assert d.features == [rec.feature] and len(d.history) == 2
