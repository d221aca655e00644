"""GenZ as a featurizer: discovered features, in words, feeding scikit-learn models."""

from __future__ import annotations

import re

import numpy as np
import pytest
from counting import CountingModel

pytest.importorskip("sklearn", reason="install the [sklearn] extra (in [test])")
pd = pytest.importorskip("pandas", reason="install the [pandas] extra (in [test])")
from sklearn.ensemble import GradientBoostingRegressor  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from genz_pyro.estimator import GenZRegressor  # noqa: E402
from genz_pyro.featurizer import GenZFeaturizer  # noqa: E402

ITEMS = [str(i) for i in range(128)]
Y = np.arange(128, dtype=float)


def _bit(description: str) -> tuple[int, bool]:
    m = re.fullmatch(r"Integers with the 2\^(\d) bit (set|unset)", description)
    assert m, description
    return int(m.group(1)), m.group(2) == "set"


def test_transform_gives_the_judgments_and_names_in_words() -> None:
    feat = GenZFeaturizer(GenZRegressor(algorithm=1, cycles=7, seed=0)).fit(ITEMS, Y)
    names = feat.get_feature_names_out()
    assert names.dtype == object and list(names) == feat.estimator_.features_ and len(names) == 7
    S = feat.transform(ITEMS)
    assert S.shape == (128, 7)
    np.testing.assert_array_equal(S, feat.estimator_.discovery_.judgments)  # the training judgments
    new = ["5", "100", "77"]
    T = feat.transform(new)
    for j, desc in enumerate(names):  # each column is the feature's truth on the new numbers
        bit, is_set = _bit(desc)
        np.testing.assert_array_equal(T[:, j], [float(((int(x) >> bit) & 1) == is_set) for x in new])
    # the posterior means of z given the judgments: eps + (1 - 2 eps) s
    zm = GenZFeaturizer(feat.estimator, output="z_mean").fit(ITEMS, Y)
    eps = zm.estimator_.eps_.astype(np.float64)  # float32 in the fit; the transform computes in float64
    np.testing.assert_allclose(zm.transform(new), eps + (1 - 2 * eps) * T, rtol=0, atol=1e-15)
    # pandas output: columns in words, the items' index
    s = pd.Series(new, index=["a", "b", "c"])
    out = feat.set_output(transform="pandas").transform(s)
    assert list(out.columns) == list(names) and list(out.index) == ["a", "b", "c"]


def test_featurizer_feeds_gradient_boosting_and_a_classifier_in_a_pipeline() -> None:
    model = CountingModel()
    genz = GenZRegressor(model, algorithm=1, cycles=7, seed=0)
    cv = KFold(3, shuffle=True, random_state=0)
    # regression: the seven discovered bits, then gradient boosting on them
    pipe = make_pipeline(GenZFeaturizer(genz), GradientBoostingRegressor(random_state=0))
    scores = cross_val_score(pipe, ITEMS, Y, cv=cv)
    # measured 0.9997, 0.9993, 0.925 (the third fold's discovery found "less than 60" for the 2^6 bit)
    assert scores.min() > 0.9, scores
    paid = model.total
    assert np.array_equal(cross_val_score(pipe, ITEMS, Y, cv=cv), scores) and model.total == paid
    # classification: is the number >= 64? Discovery regresses on the 0/1 label; the
    # logistic regression on its features separates the classes exactly
    label = (Y >= 64).astype(int)
    clf = make_pipeline(GenZFeaturizer(GenZRegressor(model, algorithm=1, cycles=2, seed=0)),
                        LogisticRegression()).fit(ITEMS, label)
    assert clf.named_steps["genzfeaturizer"].features_[0] in ("Integers with the 2^6 bit set",
                                                              "Integers with the 2^6 bit unset")
    held = ["3", "63", "64", "127", "90"]
    np.testing.assert_array_equal(clf.predict(held), [0, 0, 1, 1, 1])


def test_grid_search_reaches_the_regressor_through_the_featurizer() -> None:
    pipe = make_pipeline(GenZFeaturizer(GenZRegressor(algorithm=1, seed=0)), GradientBoostingRegressor(random_state=0))
    gs = GridSearchCV(pipe, {"genzfeaturizer__estimator__cycles": [2, 7]},
                      cv=KFold(3, shuffle=True, random_state=0)).fit(ITEMS, Y)
    assert gs.best_params_ == {"genzfeaturizer__estimator__cycles": 7}


def test_check_estimator_passes_for_the_featurizer() -> None:
    for output in ("judgments", "z_mean"):
        results = check_estimator(GenZFeaturizer(GenZRegressor(algorithm=1, cycles=3, seed=0), output=output),
                                  on_fail=None, on_skip=None)
        failed = [f"{r['check_name']}: {r['exception']!r}" for r in results if r["status"] == "failed"]
        assert not failed, failed
        names = {r["check_name"] for r in results if r["status"] == "passed"}
        assert {"check_transformer_general", "check_transformers_unfitted", "check_n_features_in_after_fitting",
                "check_fit_idempotent"} <= names


def test_featurizer_errors() -> None:
    with pytest.raises(ValueError, match="output: must be one of"):
        GenZFeaturizer(output="probabilities").fit(ITEMS[:8], Y[:8])
    with pytest.raises(ValueError, match="estimator: expected a GenZRegressor"):
        GenZFeaturizer(LogisticRegression()).fit(ITEMS[:8], Y[:8])
    with pytest.raises(ValueError, match="not fitted yet"):
        GenZFeaturizer().transform(ITEMS[:2])
