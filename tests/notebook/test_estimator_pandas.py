"""pandas in and out: DataFrames and Series as items, targets and covariates; frames back."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="install the [pandas] extra (in [test])")

from genz_pyro.datasets.planted import make_planted  # noqa: E402
from genz_pyro.estimator import GenZRegressor  # noqa: E402
from genz_pyro.inputs import read_items  # noqa: E402


@pytest.fixture(scope="module")
def planted() -> tuple[list[dict], np.ndarray, np.ndarray]:
    """120 planted house records (3 hidden predicates), their targets and a covariate."""
    ds = make_planted(120, num_features=3, seed=4)
    records = [ds.items[i] for i in ds.ids]
    u = np.random.default_rng(1).normal(size=len(records))
    return records, ds.targets[:, 0] + 0.5 * u, u


def _same_fit(a: GenZRegressor, b: GenZRegressor) -> None:
    assert a.features_ == b.features_ and len(a.features_) > 0
    np.testing.assert_array_equal(a.eps_, b.eps_)
    np.testing.assert_array_equal(a.result_.q.numpy(), b.result_.q.numpy())
    assert [r.metric["train"] for r in a.history_] == [r.metric["train"] for r in b.history_]


def test_dataframe_fit_equals_list_of_dicts_fit(planted) -> None:  # type: ignore[no-untyped-def]
    records, y, u = planted
    df = pd.DataFrame(records)
    kw = dict(algorithm=1, cycles=3, seed=0)
    a = GenZRegressor(**kw).fit(df, pd.Series(y))
    b = GenZRegressor(**kw).fit(records, y)
    _same_fit(a, b)
    np.testing.assert_array_equal(a.predict(df.iloc[:20]), b.predict(records[:20]))
    assert a.n_features_in_ == df.shape[1] and list(a.feature_names_in_) == list(df.columns)
    assert a.item_columns_ == list(df.columns)
    # covariates as a column of the frame (covariate_columns) == covariates passed beside the items
    dfu = df.assign(noise=u)
    c = GenZRegressor(**kw, covariate_columns=["noise"]).fit(dfu, y)
    d = GenZRegressor(**kw).fit(records, y, covariates=u)
    _same_fit(c, d)
    assert "noise" not in c.item_columns_
    np.testing.assert_array_equal(c.predict(dfu.iloc[:20]), d.predict(records[:20], covariates=u[:20]))


def test_item_columns_choose_records_or_text(planted) -> None:  # type: ignore[no-untyped-def]
    records, _, _ = planted
    df = pd.DataFrame(records[:5], index=[f"h{i}" for i in range(5)])
    rec = read_items(df, item_columns=["zipcode", "style"])
    assert list(rec.items) == [f"h{i}" for i in range(5)]  # ids from the index
    assert rec.items["h0"] == {"zipcode": records[0]["zipcode"], "style": records[0]["style"]}
    text = read_items(df, item_columns="description")  # one column name: text items
    assert text.items["h2"] == records[2]["description"]
    assert read_items(df["description"]).items == text.items  # a Series is text items too
    # missing cells are left out of a row's record, as in `genz fit --items-file`
    df.loc["h1", "style"] = None
    df.loc["h3", "bedrooms"] = np.nan
    got = read_items(df, item_columns=["bedrooms", "style"]).items
    assert got["h1"] == {"bedrooms": records[1]["bedrooms"]} and got["h3"] == {"style": records[3]["style"]}
    assert type(got["h0"]["bedrooms"]) is float  # the column became float with its NaN; a Python float
    assert type(read_items(pd.DataFrame(records[:2])).items["0"]["bedrooms"]) is int  # not numpy scalars
    # repeated index labels: positions become the ids
    assert list(read_items(df.set_axis(["a", "a", "b", "c", "d"])).items) == ["0", "1", "2", "3", "4"]


def test_series_items_index_and_frame_output() -> None:
    idx = pd.Index([f"n{i:03d}" for i in range(64)], name="number")
    items = pd.Series([str(i) for i in range(64)], index=idx)
    y = pd.Series(np.arange(64.0), index=idx, name="value")
    reg = GenZRegressor(algorithm=1, cycles=6, seed=0).fit(items, y)
    assert reg.discovery_.ids[:2] == ["n000", "n001"] and reg.target_names_ == ["value"]
    new = pd.Series(["5", "40", "63"], index=pd.Index(["a", "b", "c"], name="key"))
    frame = reg.predict_frame(new)
    assert list(frame.index) == ["a", "b", "c"] and frame.index.name == "key"
    assert list(frame.columns) == reg.features_ + ["prediction"]
    np.testing.assert_array_equal(frame[reg.features_].to_numpy(), reg.judge(new))
    np.testing.assert_allclose(frame["prediction"], [5.0, 40.0, 63.0], atol=0.1)
    assert set(np.unique(frame[reg.features_].to_numpy())) <= {0, 1}
    with pytest.raises(ValueError, match="y: its index differs from the items' index"):
        GenZRegressor().fit(items, y.reset_index(drop=True))


def test_dataframe_targets_give_named_predictions(planted) -> None:  # type: ignore[no-untyped-def]
    records, y, u = planted
    df = pd.DataFrame(records)
    Y = pd.DataFrame({"price": y, "twice": 2 * y + u})
    reg = GenZRegressor(algorithm=1, cycles=2, seed=0).fit(df, Y)
    pred = reg.predict(df.iloc[:7])
    assert pred.shape == (7, 2)
    frame = reg.predict_frame(df.iloc[:7])
    np.testing.assert_array_equal(frame[["prediction[price]", "prediction[twice]"]].to_numpy(), pred)
    assert list(frame.index) == list(range(7))


def test_errors_name_the_column_and_the_fix(planted) -> None:  # type: ignore[no-untyped-def]
    records, y, _ = planted
    df = pd.DataFrame(records)
    with pytest.raises(ValueError, match="item_columns: column 'price' is not in the items' columns"):
        GenZRegressor(item_columns=["zipcode", "price"]).fit(df, y)
    with pytest.raises(ValueError, match="covariate_columns: 'area' is also an item column"):
        GenZRegressor(item_columns=["zipcode", "area"], covariate_columns=["area"]).fit(df, y)
    with pytest.raises(ValueError, match="covariate_columns: \\['style'\\] must be numeric"):
        GenZRegressor(covariate_columns=["style"]).fit(df, y)
    with pytest.raises(ValueError, match="every item column of row 2 is missing; fill one or drop the row"):
        read_items(pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": ["x", "y", None]}))
    with pytest.raises(ValueError, match="row 'r1' has no value in item column 'text'"):
        read_items(pd.DataFrame({"text": ["a", None]}, index=["r0", "r1"]), item_columns="text")
    with pytest.raises(ValueError, match="item_columns, covariate_columns: these pick columns of a table"):
        GenZRegressor(item_columns=["a"]).fit(["1", "2"], [1.0, 2.0])
    reg = GenZRegressor(algorithm=1, cycles=1, seed=0, item_columns=["zipcode", "style"]).fit(df, y)
    with pytest.raises(ValueError, match="column 'style' of the fit is missing"):
        reg.predict(df.drop(columns="style"))
    with pytest.raises(ValueError, match="fitted on a DataFrame; pass a DataFrame"):
        reg.predict(df.to_numpy())
    reg.predict(df.drop(columns="area"))  # a column the items do not use may go


def test_extra_columns_at_predict_are_not_item_fields(planted) -> None:  # type: ignore[no-untyped-def]
    records, y, _ = planted
    df = pd.DataFrame(records)[["zipcode", "style", "bedrooms"]]
    reg = GenZRegressor(algorithm=1, cycles=2, seed=0).fit(df, y)  # item_columns=None: every column
    wide = df.iloc[:10].assign(price=1e6, note="sold")
    np.testing.assert_array_equal(reg.predict(wide), reg.predict(df.iloc[:10]))
    np.testing.assert_array_equal(reg.judge(wide[["note", "bedrooms", "style", "zipcode"]]), reg.judge(df.iloc[:10]))
