"""Baselines: ridge algebra by hand, and the stated figures on the real datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.baselines import fit_ridge, houses_baselines, movies_baselines, one_hot, select_penalty
from genz_pyro.datasets.houses import load_houses
from genz_pyro.datasets.movies import load_movies
from genz_pyro.metrics import median_absolute_error


def test_least_squares_recovers_known_coefficients(rng: np.random.Generator) -> None:
    X = rng.normal(size=(50, 3))
    W = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])
    b = np.array([0.7, -1.3])
    fit = fit_ridge(X, X @ W + b)
    np.testing.assert_allclose(fit.coef, W, atol=1e-10)
    np.testing.assert_allclose(fit.intercept, b, atol=1e-10)
    np.testing.assert_allclose(fit.predict(X[:4]), X[:4] @ W + b, atol=1e-10)


def test_ridge_matches_closed_form_and_leaves_unpenalised_columns_free(rng: np.random.Generator) -> None:
    X = rng.normal(size=(30, 2))
    y = X @ np.array([2.0, -1.0]) + 0.3 * rng.normal(size=30) + 5.0
    lam = 4.0
    xc, yc = X - X.mean(0), y - y.mean()
    expect = np.linalg.solve(xc.T @ xc + lam * np.eye(2), xc.T @ yc)
    np.testing.assert_allclose(fit_ridge(X, y, penalty=lam).coef[:, 0], expect, atol=1e-10)
    # a huge penalty on column 1 only: it goes to 0, column 0 becomes the simple regression on it
    fit = fit_ridge(X, y, penalty=1e12, penalize=[False, True])
    assert abs(fit.coef[1, 0]) < 1e-6
    slope = (xc[:, 0] @ yc) / (xc[:, 0] @ xc[:, 0])
    assert fit.coef[0, 0] == pytest.approx(slope, abs=1e-6)
    with pytest.raises(ValueError, match="penalize: expected 2 booleans"):
        fit_ridge(X, y, penalty=1.0, penalize=[True])
    with pytest.raises(ValueError, match="penalty: must be >= 0"):
        fit_ridge(X, y, penalty=-1.0)
    with pytest.raises(ValueError, match="X: has 3 columns"):
        fit.predict(np.zeros((2, 3)))


def test_select_penalty_prefers_no_shrinkage_without_noise(rng: np.random.Generator) -> None:
    X = rng.normal(size=(40, 4))
    y = X @ np.array([3.0, -2.0, 1.0, 4.0])
    lam, score = select_penalty(X, y, np.arange(30), np.arange(30, 40), score=median_absolute_error,
                                greater_is_better=False, penalties=(100.0, 0.01, 10.0))
    assert lam == 0.01 and score < 0.05
    with pytest.raises(ValueError, match="val: the validation split is empty"):
        select_penalty(X, y, np.arange(30), np.arange(0), score=median_absolute_error, greater_is_better=False)


def test_one_hot_unseen_category_is_a_zero_row() -> None:
    np.testing.assert_array_equal(one_hot(["b", "z", "a"], ["a", "b"]), [[0, 1], [0, 0], [1, 0]])


@pytest.fixture(scope="module")
def houses_dir(shared_data: Path) -> Path:
    d = shared_data / "houses-ahmed-moustafa-2016"
    if not (d / "HousesInfo.txt").is_file():
        pytest.skip(f"{d / 'HousesInfo.txt'} is absent")
    return d


def test_houses_baselines_over_20_splits(houses_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the optional references stay out (also when another test module already imported sklearn.ensemble)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    scores: dict[str, list[float]] = {}
    for seed in range(20):
        res = houses_baselines(load_houses(houses_dir, seed=seed))
        assert set(res) == {"train_median", "train_mean", "least_squares", "zip_ridge"}
        assert res["zip_ridge"].predictions.shape == (107, 1)
        for name, r in res.items():
            scores.setdefault(name, []).append(r.test)
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    # measured: zip ridge 0.171, training median 0.449, least squares 0.461 (20 splits)
    assert mean["zip_ridge"] == pytest.approx(0.172, abs=0.01)
    assert mean["train_median"] == pytest.approx(0.45, abs=0.02)
    assert mean["least_squares"] == pytest.approx(0.46, abs=0.02)
    assert mean["zip_ridge"] < 0.5 * min(mean["train_median"], mean["least_squares"])


def test_movies_baselines_over_5_splits(shared_data: Path) -> None:
    d = shared_data / "movielens-latest-small"
    if not (d / "ratings.csv").is_file():
        pytest.skip(f"{d / 'ratings.csv'} is absent")
    ridge, raw, centred = [], [], []
    for seed in range(5):
        res = movies_baselines(load_movies(d, seed=seed))
        ridge.append(res["genre_year_ridge"].test)
        raw.append(res["train_mean_raw"].test)
        centred.append(res["train_mean"].test)
    # measured: genre + decade ridge 0.521, mean predictor 0.709 raw and 0.06 centred (5 splits)
    assert np.mean(ridge) == pytest.approx(0.52, abs=0.02)
    assert np.mean(raw) == pytest.approx(0.71, abs=0.02)
    assert abs(np.mean(centred)) < 0.15


def test_baselines_check_the_dataset(houses_dir: Path) -> None:
    ds = load_houses(houses_dir)
    with pytest.raises(ValueError, match="dataset: expected the 'movies' dataset"):
        movies_baselines(ds)
    with pytest.raises(ValueError, match="val: the validation split is empty"):
        houses_baselines(load_houses(houses_dir, val_fraction=0.0))


def test_optional_sklearn_references_use_the_four_numbers(houses_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With scikit-learn present, the tree references are fitted on train + val rows of
    (bedrooms, bathrooms, area, zip) and scored on test; a stand-in module records the calls."""
    import types

    calls: list[tuple[str, np.ndarray, np.ndarray]] = []

    class _Mean:
        def __init__(self, **kwargs: object) -> None:
            self.kwargs = kwargs

        def fit(self, X: np.ndarray, y: np.ndarray) -> "_Mean":
            calls.append((type(self).__name__, X, y))
            self.mu = float(np.mean(y))
            return self

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.full(len(X), self.mu)

    ensemble = types.ModuleType("sklearn.ensemble")
    ensemble.RandomForestRegressor = type("RandomForestRegressor", (_Mean,), {})  # type: ignore[attr-defined]
    ensemble.GradientBoostingRegressor = type("GradientBoostingRegressor", (_Mean,), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", ensemble)
    ds = load_houses(houses_dir, seed=2)
    res = houses_baselines(ds)
    assert [c[0] for c in calls] == ["RandomForestRegressor", "GradientBoostingRegressor"]
    fit_rows = np.concatenate([ds.train, ds.val])
    X = calls[0][1]
    assert X.shape == (len(fit_rows), 4)
    first = ds.items[ds.ids[fit_rows[0]]]
    np.testing.assert_array_equal(X[0], [first["bedrooms"], first["bathrooms"], first["area"], float(first["zipcode"])])
    assert res["random_forest"].test == pytest.approx(res["train_mean"].test, abs=1e-12)
    assert houses_baselines(ds, include_sklearn=False).keys() == {"train_median", "train_mean", "least_squares", "zip_ridge"}


def test_records_ridge_is_the_ceiling_on_the_movie_records(shared_data: Path) -> None:
    from genz_pyro.baselines import movies_record_design

    d, db = shared_data / "movielens-latest-small", shared_data / "bokeh-sampledata-movies" / "movies.db"
    if not (d / "ratings.csv").is_file() or not db.is_file():
        pytest.skip(f"{d / 'ratings.csv'} or {db} is absent")
    rec, genre = [], []
    for seed in range(5):
        ds = load_movies(d, bokeh_db=db, seed=seed)
        res = movies_baselines(ds)
        rec.append(res["records_ridge"].test)
        genre.append(res["genre_year_ridge"].test)
    # measured: 0.629 +/- 0.011 over the 5 splits (genre + decade ridge 0.521)
    assert np.mean(rec) == pytest.approx(0.63, abs=0.02)
    assert min(np.array(rec) - np.array(genre)) > 0.05
    # the design's columns are the records' values: a director column marks that director's films
    X, names = movies_record_design(ds, ds.train)
    j = names.index("director=Steven Spielberg")
    films = [i for i, k in enumerate(ds.ids) if "Steven Spielberg" in ds.items[k].get("director", "")]
    assert sorted(np.flatnonzero(X[:, j])) == films and len(films) >= 3
    assert X.shape == (512, len(names)) and set(np.unique(X)) == {0.0, 1.0}


def test_records_ridge_needs_film_records(shared_data: Path) -> None:
    d = shared_data / "movielens-latest-small"
    if not (d / "ratings.csv").is_file():
        pytest.skip(f"{d / 'ratings.csv'} is absent")
    assert "records_ridge" not in movies_baselines(load_movies(d, seed=0))  # title and year only
