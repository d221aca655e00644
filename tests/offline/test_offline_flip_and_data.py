"""FlipModel (known flip rate, hash-determinism) and the binary and planted datasets."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from genz_pyro.datasets.binary import load_binary
from genz_pyro.datasets.planted import HIDDEN_POOL, make_planted, oracle_r2
from genz_pyro.fm.flip import FlipModel, flip_uniform
from genz_pyro.fm.offline import OfflineModel

DESCS = [f"Integers with the 2^{k} bit set" for k in range(9)]


def _values(answers: dict, ids: list[str]) -> np.ndarray:
    return np.array([answers[i].value for i in ids])


def test_flip_rate_matches() -> None:
    """Over 9 x 512 = 4608 judgments the flipped fraction is 0.1 within 0.015 (~3.4 SD)."""
    ds = load_binary()
    exact, flip = OfflineModel(), FlipModel(OfflineModel(), 0.1, seed=0)
    diffs = [(_values(flip.judge(d, ds.items), ds.ids) != _values(exact.judge(d, ds.items), ds.ids)) for d in DESCS]
    per = np.array([x.mean() for x in diffs])
    assert abs(np.mean(per) - 0.1) < 0.015
    assert np.all(np.abs(per - 0.1) < 0.05)  # each feature's own rate (512 items: SD 0.013)


def test_flip_is_deterministic_and_order_free() -> None:
    ds = load_binary(6)
    d = DESCS[2]
    a = FlipModel(OfflineModel(), 0.3, seed=7)
    full = a.judge(d, ds.items)
    # same seed, items in reverse order and in two batches: the same judgments
    b = FlipModel(OfflineModel(), 0.3, seed=7)
    rev = b.judge(d, dict(reversed(list(ds.items.items()))))
    ids = ds.ids
    half1 = b.judge(d, {k: ds.items[k] for k in ids[:20]})
    half2 = b.judge(d, {k: ds.items[k] for k in ids[20:]})
    assert full == rev == {**half1, **half2}
    # another seed flips a different set
    c = FlipModel(OfflineModel(), 0.3, seed=8).judge(d, ds.items)
    assert _values(c, ids).tolist() != _values(full, ids).tolist()
    # the flipped set is exactly where the hash says
    truth = ((np.arange(64) >> 2) & 1).astype(bool)
    flipped = _values(full, ids) != truth
    expect = np.array([flip_uniform(d, i, 7) < 0.3 for i in ids])
    np.testing.assert_array_equal(flipped, expect)


def test_flip_passes_mine_and_propose_and_shares_usage() -> None:
    inner = OfflineModel()
    flip = FlipModel(inner, 0.5, seed=1)
    items = {str(i): str(i) for i in range(32)}
    pos = {k: v for k, v in items.items() if int(k) >= 16}
    neg = {k: v for k, v in items.items() if int(k) < 16}
    assert flip.mine(pos, neg) == inner.mine(pos, neg)
    assert flip.propose("t", items, 3) == inner.propose("t", items, 3)
    asyncio.run(flip.ajudge("Even integers", items))
    assert flip.usage is inner.usage and inner.usage.calls == 5
    ident = flip.cache_identity()
    assert ident == {**inner.cache_identity(), "flip_rate": 0.5, "flip_seed": 1}
    assert FlipModel(inner, 0.5, seed=2).cache_identity() != ident
    inner.batch_size = 25  # type: ignore[attr-defined]  # e.g. an LLM backend's batching
    assert flip.batch_size == 25 and flip.op_calls == inner.op_calls
    with pytest.raises(AttributeError):
        flip.no_such_attribute


@pytest.mark.parametrize("kwargs, match", [({"rate": 1.5}, "rate"), ({"rate": 0.1, "seed": "x"}, "seed")])
def test_flip_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FlipModel(OfflineModel(), **kwargs)


def test_binary_dataset() -> None:
    ds = load_binary()
    assert len(ds) == 512 and ds.ids[:3] == ["0", "1", "2"] and ds.items["511"] == "511"
    assert ds.targets.shape == (512, 1) and ds.targets.dtype == np.float64
    np.testing.assert_array_equal(ds.targets[:, 0], np.arange(512))
    np.testing.assert_array_equal(ds.train, np.arange(512))
    assert ds.val.size == 0 and ds.test.size == 0
    bits = ds.extras["bits"]
    np.testing.assert_array_equal(bits @ (2 ** np.arange(9)), np.arange(512))
    fm = OfflineModel()
    for k in range(9):
        np.testing.assert_array_equal(fm.judge_array(DESCS[k], ds.items), bits[:, k] == 1)
    assert len(load_binary(4)) == 16
    with pytest.raises(ValueError, match="bits"):
        load_binary(0)


def test_planted_dataset() -> None:
    ds = make_planted(1000, seed=0)
    hidden = ds.extras["hidden"]
    z = hidden["judgments"]
    assert len(ds) == 1000 and ds.targets.shape == (1000, 1) and z.shape == (1000, 6)
    assert hidden["weights"].shape == (6, 1) and len(hidden["descriptions"]) == 6
    assert len(ds.train) == 700 and len(ds.val) == 100 and len(ds.test) == 200
    assert set(np.concatenate([ds.train, ds.val, ds.test])) == set(range(1000))
    rates = z.mean(axis=0)
    assert np.all((rates >= 0.1) & (rates <= 0.5)), rates
    w = np.abs(hidden["weights"][:, 0])
    assert w.min() >= 0.8 and w.max() <= 1.2
    # the offline model judges every hidden description exactly
    fm = OfflineModel()
    for k, d in enumerate(hidden["descriptions"]):
        np.testing.assert_array_equal(fm.judge_array(d, ds.items), z[:, k] == 1)
    # targets = bias + Z W + noise with the stated noise SD
    resid = ds.targets - hidden["bias"] - z @ hidden["weights"]
    assert abs(resid.std() / hidden["noise_std"] - 1) < 0.1
    # the record has numeric, categorical, zip-like, list and text fields
    rec = ds.items["p0"]
    assert {"bedrooms", "area", "zipcode", "style", "amenities", "description"} <= set(rec)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_planted_oracle_r2_in_range(seed: int) -> None:
    r2 = oracle_r2(make_planted(1000, seed=seed))
    assert 0.78 <= r2 <= 0.92, r2


def test_planted_options() -> None:
    a = make_planted(200, num_features=8, target_dim=3, seed=4)
    assert a.targets.shape == (200, 3) and a.extras["hidden"]["judgments"].shape == (200, 8)
    assert len(HIDDEN_POOL) == 8
    b = make_planted(200, num_features=8, target_dim=3, seed=4)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert a.items == b.items
    quiet = make_planted(500, noise=0.0, seed=0)
    assert oracle_r2(quiet) > 0.999
    for kwargs, match in [({"n": 5}, "n"), ({"num_features": 9}, "num_features"), ({"target_dim": 0}, "target_dim"),
                          ({"noise": -1.0}, "noise")]:
        with pytest.raises(ValueError, match=match):
            make_planted(**kwargs)


def test_cached_offline_and_flip_models(tmp_path) -> None:
    """Behind the judgment cache: a warm rerun makes no inner call, and the flip rate and
    seed are part of the identity (a flipped model never reads the exact model's answers)."""
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.cached import CachedModel

    ds = load_binary(6)
    path = tmp_path / "cache.sqlite"
    exact = OfflineModel()
    first = CachedModel(exact, JudgmentCache(path)).judge(DESCS[3], ds.items)
    again_inner = OfflineModel()
    again = CachedModel(again_inner, JudgmentCache(path)).judge(DESCS[3], ds.items)
    assert again == first and again_inner.op_calls["judge"] == 0
    flip_inner = OfflineModel()
    flipped = CachedModel(FlipModel(flip_inner, 0.2, seed=1), JudgmentCache(path)).judge(DESCS[3], ds.items)
    assert flip_inner.op_calls["judge"] == 1  # a miss: different identity
    direct = FlipModel(OfflineModel(), 0.2, seed=1).judge(DESCS[3], ds.items)
    assert flipped == direct != first
