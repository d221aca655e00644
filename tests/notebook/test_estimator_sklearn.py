"""GenZRegressor as a scikit-learn estimator: clone, model selection, check_estimator,
and the judgment cache shared across folds (counted at the model)."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from counting import CountingModel

sklearn = pytest.importorskip("sklearn", reason="install the [sklearn] extra (in [test])")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from genz_pyro.estimator import GenZRegressor  # noqa: E402
from genz_pyro.fm.budget import Budget  # noqa: E402
from genz_pyro.fm.cache import JudgmentCache  # noqa: E402
from genz_pyro.shared_cache import shared_cache  # noqa: E402

ITEMS = [str(i) for i in range(128)]  # the paper's binary experiment, 7 bits
Y = np.arange(128, dtype=float)


def test_clone_round_trip_shares_resources_and_copies_the_rest() -> None:
    model, judge, budget = CountingModel(), CountingModel(), Budget(max_calls=10)
    reg = GenZRegressor(model, cycles=3, ridge=1.0, fit_options={"max_sweeps": 50}, budget=budget,
                        item_columns=["a", "b"], judge_model=judge)
    c = clone(reg)
    assert c is not reg and c.get_params() == reg.get_params()
    # the foundation models, the cache and the budget are resources shared by clones (one cap
    # over every fold); plain values are copies
    assert c.model is model and c.judge_model is judge and c.budget is budget
    assert c.fit_options == {"max_sweeps": 50} and c.fit_options is not reg.fit_options
    assert c.item_columns == ["a", "b"] and c.item_columns is not reg.item_columns
    c.set_params(cycles=5, ridge=10.0)
    assert c.get_params()["cycles"] == 5 and reg.cycles == 3
    assert GenZRegressor(**c.get_params()).get_params() == c.get_params()
    with pytest.raises(ValueError, match="set_params: unknown parameter 'cylces'"):
        c.set_params(cylces=3)
    tags = get_tags(reg)
    assert tags.estimator_type == "regressor" and tags.input_tags.string and tags.target_tags.required


def test_parameters_are_checked_in_fit_not_in_init() -> None:
    reg = GenZRegressor(cycles=-1, ridge=-2.0)  # stored unchanged
    assert reg.cycles == -1 and reg.ridge == -2.0
    with pytest.raises(ValueError, match="cycles: expected an int >= 0, got -1"):
        reg.fit(ITEMS[:8], Y[:8])
    with pytest.raises(ValueError, match="ridge: expected a number >= 0"):
        GenZRegressor(ridge=-2.0).fit(ITEMS[:8], Y[:8])
    with pytest.raises(ValueError, match="ridge: also given in fit_options"):
        GenZRegressor(ridge=1.0, fit_options={"ridge": 2.0}).fit(ITEMS[:8], Y[:8])
    with pytest.raises(ValueError, match="eps_fixed: expected a number in \\[0.0, 0.5\\)"):
        GenZRegressor(eps_fixed=0.7).fit(ITEMS[:8], Y[:8])
    with pytest.raises(ValueError, match="cache: expected None .* got 3"):
        GenZRegressor(cache=3).fit(ITEMS[:8], Y[:8])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GenZRegressor().predict(ITEMS[:2])


def test_cross_val_score_second_pass_makes_no_model_call() -> None:
    model = CountingModel()
    reg = GenZRegressor(model, algorithm=1, cycles=7, seed=0)
    cv = KFold(3, shuffle=True, random_state=0)
    first = cross_val_score(reg, ITEMS, Y, cv=cv)
    paid = model.total
    assert paid > 0 and model.calls["mine"] > 0
    # across the folds no (description, item) pair reached the model twice: a fold paid only
    # for what earlier folds had not judged
    assert max(model.pairs.values()) == 1
    # seven features per fold (bits, or a threshold for the top bit): held-out R^2 >= 0.998 measured
    assert first.min() > 0.99, first
    second = cross_val_score(reg, ITEMS, Y, cv=cv)
    assert model.total == paid, model.calls  # 0 calls in the second pass
    np.testing.assert_array_equal(second, first)
    # every fold's fit is a clone sharing the process's cache
    assert clone(reg).fit(ITEMS, Y).model_.cache is shared_cache()


def test_grid_search_over_cycles_ridge_eps_reuses_the_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = CountingModel()
    reg = GenZRegressor(model, algorithm=1, seed=0, cache=tmp_path / "cv.sqlite")  # a file cache this time
    grid = {"cycles": [4, 7], "ridge": [None, 1.0], "eps_fixed": [None, 0.01]}
    gs = GridSearchCV(reg, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(ITEMS, Y)
    paid = model.total
    assert paid > 0 and max(model.pairs.values()) == 1
    assert gs.best_params_["cycles"] == 7 and gs.best_score_ > 0.99
    assert len(gs.best_estimator_.features_) == 7
    gs2 = GridSearchCV(reg, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(ITEMS, Y)
    assert model.total == paid, model.calls  # 8 candidates x 3 folds + refit: 0 calls
    assert gs2.best_params_ == gs.best_params_
    np.testing.assert_array_equal(gs2.cv_results_["mean_test_score"], gs.cv_results_["mean_test_score"])
    assert len(JudgmentCache(tmp_path / "cv.sqlite")) > 0


def test_without_a_cache_every_fit_pays() -> None:
    model = CountingModel()
    reg = GenZRegressor(model, algorithm=1, cycles=2, seed=0, cache=False)
    reg.fit(ITEMS[:32], Y[:32])
    once = model.total
    clone(reg).fit(ITEMS[:32], Y[:32])
    assert model.total == 2 * once


def test_pipeline_and_pickle_round_trip() -> None:
    pipe = Pipeline([("genz", GenZRegressor(algorithm=1, cycles=6, seed=0))]).fit(ITEMS[:64], Y[:64])
    new = ["3", "17", "40"]
    pred = pipe.predict(new)
    np.testing.assert_allclose(pred, [3.0, 17.0, 40.0], atol=0.1)  # eps floor 1e-3 x sum |w| ~ 0.03
    back = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(back.predict(new), pred)
    # the shared in-memory cache pickles as "this process's shared cache"
    assert back.named_steps["genz"].model_.cache is shared_cache()


def _failures(results: list[dict]) -> list[str]:
    return [f"{r['check_name']}: {r['exception']!r}" for r in results if r["status"] == "failed"]


def test_check_estimator_passes() -> None:
    """Every check of scikit-learn's suite that applies passes (none is marked as an expected
    failure). Numeric tables are read as records with fields x0, x1, ... (docs/notebooks.md)."""
    results = check_estimator(GenZRegressor(algorithm=1, cycles=4, seed=0), on_fail=None, on_skip=None)
    assert not _failures(results), _failures(results)
    names = {r["check_name"] for r in results if r["status"] == "passed"}
    # a sample of what ran: the regressor checks, clone/params, fitted-state, n_features_in_
    assert {"check_regressors_train", "check_regressor_multioutput", "check_estimators_unfitted",
            "check_n_features_in_after_fitting", "check_fit2d_1sample", "check_get_params_invariance",
            "check_fit_idempotent", "check_methods_subset_invariance", "check_estimators_pickle"} <= names
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}, skipped  # needs SCIPY_ARRAY_API=1


def test_errors_speak_sklearn_and_name_the_fix() -> None:
    X = np.random.default_rng(0).normal(size=(20, 4))
    reg = GenZRegressor(algorithm=1, cycles=1, seed=0).fit(X, X[:, 0])
    assert reg.n_features_in_ == 4 and not hasattr(reg, "feature_names_in_")
    with pytest.raises(ValueError, match=re.escape("X has 1 features, but GenZRegressor is expecting 4 features")):
        reg.predict(X[:, :1])
    with pytest.raises(ValueError, match="fitted on a table"):
        reg.predict(["1", "2"])
    with pytest.raises(ValueError, match="a 1-d array of numbers is ambiguous.*reshape\\(-1, 1\\)"):
        GenZRegressor().fit(X[:, 0], X[:, 0])
    with pytest.raises(TypeError, match="sparse input is not supported"):
        from scipy import sparse

        GenZRegressor().fit(sparse.csr_array(X), X[:, 0])
    with pytest.raises(ValueError, match="n_samples = 1"):
        GenZRegressor().fit(X[:1], X[:1, 0])


def test_covariates_reach_every_fold_by_metadata_routing_or_columns() -> None:
    pd = pytest.importorskip("pandas", reason="install the [pandas] extra (in [test])")
    from genz_pyro.datasets.planted import make_planted

    ds = make_planted(120, num_features=2, seed=0)
    items = [ds.items[i] for i in ds.ids]
    u = np.random.default_rng(0).normal(size=120)
    y = ds.targets[:, 0] + u
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        reg = GenZRegressor(algorithm=1, cycles=2, seed=0).set_fit_request(covariates=True)
        routed = cross_val_score(reg.set_score_request(covariates=True), items, y, params={"covariates": u}, cv=cv)
        # inside a Pipeline the (cloned) step must keep its requests
        piped = cross_val_score(Pipeline([("genz", reg)]), items, y, params={"covariates": u}, cv=cv)
    np.testing.assert_array_equal(piped, routed)
    # the same folds with the covariate as a column of one DataFrame
    df = pd.DataFrame(items).assign(u=u)
    columns = cross_val_score(GenZRegressor(algorithm=1, cycles=2, seed=0, covariate_columns=["u"]), df, y, cv=cv)
    np.testing.assert_array_equal(routed, columns)
    assert routed.min() > 0.8  # the covariate explains half the variance; measured 0.87-0.95
    assert "GenZRegressor" in GenZRegressor()._repr_html_()


def test_weighted_score_equals_repeated_rows() -> None:
    reg = GenZRegressor(algorithm=1, cycles=3, seed=0).fit(ITEMS[:64], Y[:64])
    items, y = ITEMS[:64], Y[:64]
    assert reg.score(items, y, sample_weight=np.ones(64)) == pytest.approx(reg.score(items, y), rel=1e-12)
    w = np.arange(64) % 3  # integer weights == rows repeated w times (w = 0 drops the row)
    rep = np.repeat(np.arange(64), w)
    assert reg.score(items, y, sample_weight=w) == pytest.approx(reg.score([items[i] for i in rep], y[rep]),
                                                                 rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight: expected 64 finite weights"):
        reg.score(items, y, sample_weight=-np.ones(64))
