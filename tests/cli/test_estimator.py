"""GenZRegressor: fit / predict / score over the discovery machinery."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.datasets.planted import make_planted
from genz_pyro.estimator import GenZRegressor, as_items
from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.offline import OfflineModel


class CountingOffline(OfflineModel):
    """The offline model, counting judge calls."""

    judged = 0

    async def ajudge(self, description, items):  # type: ignore[no-untyped-def]
        CountingOffline.judged += 1
        return await super().ajudge(description, items)


def test_binary_fit_predict_score() -> None:
    items = [str(i) for i in range(64)]
    y = np.arange(64, dtype=float)
    reg = GenZRegressor("offline", algorithm=1, cycles=6, seed=0).fit(items, y)
    bits = sorted(int(re.search(r"2\^(\d)", d).group(1)) for d in reg.features_)
    assert bits == list(range(6)), reg.features_
    assert reg.eps_.shape == (6,) and len(reg.history_) == 6
    assert reg.result_.q.shape == (64, 6)
    # new strings (not seen in fit, ids differ) are judged and predicted from their judgments
    new = {"a": "5", "b": "40", "c": "63"}
    pred = reg.predict(new)
    assert pred.shape == (3,)
    np.testing.assert_allclose(pred, [5.0, 40.0, 63.0], atol=0.1)  # eps floor 1e-3 x sum |w| = 0.063
    assert reg.score(items, y) > 0.9999


def test_planted_with_covariates_and_cache(tmp_path: Path) -> None:
    ds = make_planted(240, num_features=3, seed=2)
    ids = ds.ids
    tr, te = ds.train, ds.test
    u = np.random.default_rng(0).normal(size=(len(ids), 1))
    y = ds.targets[:, 0] + 0.8 * u[:, 0]  # a covariate effect the link must take up
    items_tr = {ids[i]: ds.items[ids[i]] for i in tr}
    items_te = {ids[i]: ds.items[ids[i]] for i in te}
    cache = JudgmentCache(tmp_path / "c.sqlite")
    CountingOffline.judged = 0
    reg = GenZRegressor(CountingOffline(), algorithm=2, cycles=4, seed=0, cache=cache)
    reg.fit(items_tr, y[tr], covariates=u[tr])
    r2 = reg.score(items_te, y[te], covariates=u[te])
    # oracle: least squares on the hidden predicates and the covariate, fitted on train
    hid = ds.extras["hidden"]["judgments"]
    X = np.column_stack([hid, u, np.ones(len(ids))])
    coef = np.linalg.lstsq(X[tr], y[tr], rcond=None)[0]
    res = y[te] - X[te] @ coef
    oracle = 1 - res.var() / y[te].var()
    assert r2 > oracle - 0.15, (r2, oracle, reg.features_)
    # the covariate's weight is recovered (standardised inside: weight x its SD)
    w_u = float(reg.result_.link.covariate_weight.detach()[0, 0]) / reg.covariate_std_[0]
    assert w_u == pytest.approx(0.8, abs=0.2)
    # predicting the same items again is served by the cache: no new judge call
    before = CountingOffline.judged
    reg.predict(items_te, covariates=u[te])
    assert CountingOffline.judged == before
    with pytest.raises(ValueError, match="covariates: the model was fitted with 1 covariate"):
        reg.predict(items_te)


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="items: expected a list .* got one string"):
        as_items("12")
    with pytest.raises(ValueError, match="items: item ids must be strings"):
        as_items({1: "a"})
    with pytest.raises(ValueError, match="y: expected \\[N\\] or \\[N, D\\] with N = 3"):
        GenZRegressor().fit(["a", "b", "c"], [1.0, 2.0])
    with pytest.raises(ValueError, match="algorithm: must be 1, 2, 3, 4 or 'zero-shot'"):
        GenZRegressor(algorithm=7).fit(["a", "b", "c"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="not fitted yet"):
        GenZRegressor().predict(["a"])
    with pytest.raises(ValueError, match="set_params: unknown parameter 'cylces'"):
        GenZRegressor().set_params(cylces=3)
    assert GenZRegressor(cycles=5).get_params()["cycles"] == 5


def test_eps_fixed_and_min_activity_reach_the_discovery() -> None:
    items = [str(i) for i in range(64)]
    y = np.arange(64, dtype=float)
    reg = GenZRegressor("offline", algorithm=1, cycles=3, seed=0, eps_fixed=0.02, min_activity=0.3).fit(items, y)
    assert reg.discovery_.spec.eps_fixed == 0.02 and reg.discovery_.min_activity == 0.3
    np.testing.assert_allclose(reg.eps_, 0.02)
    assert reg.get_params()["eps_fixed"] == 0.02
    # with eps held at 0.02, a held-out prediction is W E[z|s] + b with E[z|s] = 0.98 s + 0.02 (1 - s)
    w = reg.result_.link.feature_weight.detach().double().numpy()[0]
    b = float(reg.result_.link.bias.detach()[0])
    s = np.array([reg.discovery_.judgments[int(i)] for i in ("5", "40")])
    np.testing.assert_allclose(reg.predict({"a": "5", "b": "40"}), (0.96 * s + 0.02) @ w + b, atol=1e-4)
