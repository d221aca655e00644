"""Simple reference baselines for the houses and movies experiments (numpy only).

Houses (metric: test median absolute error of log price):

- ``train_median`` / ``train_mean``: a constant, the median/mean of the training log prices;
- ``least_squares``: ordinary least squares on the covariates (log area, bedrooms,
  bathrooms) plus an intercept;
- ``zip_ridge``: the covariates plus a one-hot of the zip code, ridge-penalised on the
  zip columns only (the covariates are unpenalised), penalty chosen on the validation
  split; about 0.17 averaged over 20 splits;
- ``random_forest`` / ``gradient_boosting`` on the four numbers (bedrooms, bathrooms,
  area, zip code as a number), only when scikit-learn happens to be installed (it is not
  a dependency).

Movies (metric: test mean cosine similarity of the centred embedding):

- ``train_mean``: the mean of the train + val targets, which for the centred target is
  close to the zero vector (cosine about 0.06); ``train_mean_raw`` scores the same
  predictor on the raw embeddings (about 0.71: why the target is centred);
- ``genre_year_ridge``: ridge on the MovieLens genres (one-hot) and release decade
  (one-hot), penalty chosen on the validation split; about 0.52;
- ``records_ridge``: the ceiling of a linear model on what the items show: ridge on
  indicators of every record field (:func:`movies_record_design`: both genre lists, decade and
  5-year bins, rating, country, language, people and companies of >= 3 training films, bins of
  runtime, critic scores, box office and Oscars); about 0.60.

Penalties are chosen on ``val`` after fitting on ``train``; the chosen model is then refit
on ``train + val`` and scored on ``test``. Every intercept is unpenalised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from genz_pyro.datasets.base import Dataset
from genz_pyro.metrics import as_2d, mean_cosine_similarity, median_absolute_error, median_relative_error

__all__ = [
    "Ridge",
    "fit_ridge",
    "select_penalty",
    "one_hot",
    "BaselineScore",
    "houses_baselines",
    "movies_baselines",
    "movies_record_design",
    "PENALTIES",
    "RECORD_PENALTIES",
]

#: default grid of ridge penalties
PENALTIES: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
#: the grid of the records ridge (hundreds of columns: larger penalties)
RECORD_PENALTIES: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


@dataclass(frozen=True)
class Ridge:
    """A fitted linear map ``X -> X @ coef + intercept``.

    Attributes:
        coef: ``[P, D]``; intercept: ``[D]``; penalty: the ridge penalty used.
    """

    coef: np.ndarray
    intercept: np.ndarray
    penalty: float

    def predict(self, X: Any) -> np.ndarray:
        """``[M, P]`` -> ``[M, D]``."""
        x = as_2d(X, "X")
        if x.shape[1] != self.coef.shape[0]:
            raise ValueError(f"X: has {x.shape[1]} columns, the model was fitted on {self.coef.shape[0]}")
        return x @ self.coef + self.intercept


def fit_ridge(X: Any, Y: Any, *, penalty: float = 0.0, penalize: Sequence[bool] | None = None) -> Ridge:
    """Minimise ``|Y - X W - b|^2 + penalty * sum_{j penalised} |W_j|^2`` (``b`` unpenalised).

    Args:
        X: ``[N, P]`` (``P = 0`` fits the intercept only); Y: ``[N]`` or ``[N, D]``.
        penalty: ``>= 0``; 0 is least squares (minimum-norm solution when rank deficient).
        penalize: ``P`` booleans, which columns the penalty applies to (default all).
    """
    y = as_2d(Y, "Y")
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"X: expected [N, P] with N = {y.shape[0]} rows like Y, got {x.shape}")
    if penalty < 0:
        raise ValueError(f"penalty: must be >= 0, got {penalty}")
    mask = np.ones(x.shape[1], dtype=bool) if penalize is None else np.asarray(penalize, dtype=bool)
    if mask.shape != (x.shape[1],):
        raise ValueError(f"penalize: expected {x.shape[1]} booleans (one per column of X), got {mask.shape}")
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - xm, y - ym
    if x.shape[1] == 0:
        coef = np.zeros((0, y.shape[1]))
    elif penalty == 0:
        coef = np.linalg.lstsq(xc, yc, rcond=None)[0]
    else:
        gram = xc.T @ xc + penalty * np.diag(mask.astype(float))
        coef = np.linalg.lstsq(gram, xc.T @ yc, rcond=None)[0]
    return Ridge(coef=coef, intercept=ym - xm @ coef, penalty=float(penalty))


def select_penalty(
    X: np.ndarray,
    Y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    *,
    score: Callable[[np.ndarray, np.ndarray], float],
    greater_is_better: bool,
    penalties: Sequence[float] = PENALTIES,
    penalize: Sequence[bool] | None = None,
) -> tuple[float, float]:
    """Fit on ``train`` for each penalty, score ``score(pred, Y[val])``; return ``(best penalty, its score)``.

    Ties go to the larger penalty (the simpler model).
    """
    if len(val) == 0:
        raise ValueError("val: the validation split is empty; load the dataset with val_fraction > 0")
    if len(penalties) == 0:
        raise ValueError("penalties: give at least one penalty, e.g. PENALTIES")
    best_lam, best_s = 0.0, float("nan")
    for i, lam in enumerate(sorted(penalties)):
        s = score(fit_ridge(X[train], Y[train], penalty=lam, penalize=penalize).predict(X[val]), Y[val])
        if i == 0 or (s >= best_s if greater_is_better else s <= best_s):
            best_lam, best_s = float(lam), float(s)
    return best_lam, best_s


def one_hot(values: Sequence[Any], categories: Sequence[Any]) -> np.ndarray:
    """``[N, len(categories)]`` indicator matrix; values outside ``categories`` get an all-zero row."""
    index = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(values), len(categories)))
    for i, v in enumerate(values):
        j = index.get(v)
        if j is not None:
            out[i, j] = 1.0
    return out


@dataclass(frozen=True)
class BaselineScore:
    """One baseline's result on a dataset split.

    Attributes:
        name: baseline name.
        test: the dataset's test metric (houses: median abs log error; movies: mean cosine).
        val: validation score of the chosen penalty (``None`` when nothing was selected).
        penalty: chosen ridge penalty (``None`` when not a ridge).
        predictions: ``[n_test, D]`` test predictions.
        metrics: further test metrics (e.g. ``median_relative_error``).
    """

    name: str
    test: float
    val: float | None = None
    penalty: float | None = None
    predictions: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))
    metrics: dict[str, float] = field(default_factory=dict)


def _check_split(ds: Dataset, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if ds.name != name:
        raise ValueError(f"dataset: expected the {name!r} dataset, got {ds.name!r}")
    if len(ds.train) == 0 or len(ds.test) == 0:
        raise ValueError("dataset: the train or test split is empty; load it with test_fraction > 0")
    return ds.train, ds.val, np.concatenate([ds.train, ds.val])


def houses_baselines(
    ds: Dataset, *, penalties: Sequence[float] = PENALTIES, include_sklearn: bool = True, seed: int = 0
) -> dict[str, BaselineScore]:
    """The houses baselines (module docstring) on ``ds`` from :func:`load_houses`.

    Returns:
        ``{name: BaselineScore}`` with ``test`` = median absolute error of log price.
    """
    train, val, fit_rows = _check_split(ds, "houses")
    y, te = ds.targets, ds.test
    U = ds.covariates if ds.covariates is not None else np.zeros((len(ds), 0))

    def scored(name: str, pred: np.ndarray, **kw: Any) -> BaselineScore:
        pred = as_2d(pred, "pred")
        return BaselineScore(
            name=name,
            test=median_absolute_error(pred, y[te]),
            predictions=pred,
            metrics={"median_relative_error": median_relative_error(pred, y[te])},
            **kw,
        )

    out = {
        "train_median": scored("train_median", np.full((len(te), 1), np.median(y[fit_rows]))),
        "train_mean": scored("train_mean", np.full((len(te), 1), np.mean(y[fit_rows]))),
        "least_squares": scored("least_squares", fit_ridge(U[fit_rows], y[fit_rows]).predict(U[te])),
    }
    zips = list(ds.extras["zipcodes"])

    def design(rows_for_categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cats = sorted({zips[i] for i in rows_for_categories})
        X = np.hstack([U, one_hot(zips, cats)])
        return X, np.r_[np.zeros(U.shape[1], dtype=bool), np.ones(len(cats), dtype=bool)]

    X, pen = design(train)
    lam, v = select_penalty(X, y, train, val, score=median_absolute_error, greater_is_better=False,
                            penalties=penalties, penalize=pen)
    X, pen = design(fit_rows)
    ridge = fit_ridge(X[fit_rows], y[fit_rows], penalty=lam, penalize=pen)
    out["zip_ridge"] = scored("zip_ridge", ridge.predict(X[te]), val=v, penalty=lam)

    if include_sklearn:
        try:  # optional reference only; scikit-learn is not a dependency
            from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
        except ImportError:
            return out
        raw = np.column_stack([
            [ds.items[i]["bedrooms"] for i in ds.ids],
            [ds.items[i]["bathrooms"] for i in ds.ids],
            [ds.items[i]["area"] for i in ds.ids],
            [float(z) for z in zips],
        ]).astype(float)
        for name, model in (
            ("random_forest", RandomForestRegressor(n_estimators=300, random_state=seed)),
            ("gradient_boosting", GradientBoostingRegressor(random_state=seed)),
        ):
            model.fit(raw[fit_rows], y[fit_rows, 0])
            out[name] = scored(name, model.predict(raw[te])[:, None])
    return out


def _decades(years: np.ndarray) -> list[int]:
    return [int(y) // 10 * 10 if y > 0 else 0 for y in years]


def movies_baselines(ds: Dataset, *, penalties: Sequence[float] = PENALTIES) -> dict[str, BaselineScore]:
    """The movies baselines (module docstring) on ``ds`` from :func:`load_movies`.

    Returns:
        ``{name: BaselineScore}`` with ``test`` = mean cosine similarity (centred target,
        except ``train_mean_raw``, scored on the raw embeddings).
    """
    train, val, fit_rows = _check_split(ds, "movies")
    y, te = ds.targets, ds.test
    raw = ds.extras["embeddings"]
    mean_c = y[fit_rows].mean(axis=0)
    mean_r = raw[fit_rows].mean(axis=0)
    out = {
        "train_mean": BaselineScore(
            "train_mean", mean_cosine_similarity(np.tile(mean_c, (len(te), 1)), y[te]),
            predictions=np.tile(mean_c, (len(te), 1)),
        ),
        "train_mean_raw": BaselineScore(
            "train_mean_raw", mean_cosine_similarity(np.tile(mean_r, (len(te), 1)), raw[te]),
            predictions=np.tile(mean_r, (len(te), 1)),
        ),
    }
    genres = [g.split("|") for g in ds.extras["genres"]]
    genre_cats = sorted({g for gs in genres for g in gs if g and g != "(no genres listed)"})
    G = np.array([[float(c in gs) for c in genre_cats] for gs in genres]).reshape(len(genres), len(genre_cats))
    dec = _decades(np.asarray(ds.extras["years"]))

    def design(rows_for_categories: np.ndarray) -> np.ndarray:
        return np.hstack([G, one_hot(dec, sorted({dec[i] for i in rows_for_categories}))])

    X = design(train)
    lam, v = select_penalty(X, y, train, val, score=mean_cosine_similarity, greater_is_better=True,
                            penalties=penalties)
    X = design(fit_rows)
    pred = fit_ridge(X[fit_rows], y[fit_rows], penalty=lam).predict(X[te])
    out["genre_year_ridge"] = BaselineScore(
        "genre_year_ridge", mean_cosine_similarity(pred, y[te]), val=v, penalty=lam, predictions=pred
    )
    if any(len(it) > 2 for it in ds.items.values()):  # items enriched with film records
        X = movies_record_design(ds, train)[0]
        lam, v = select_penalty(X, y, train, val, score=mean_cosine_similarity, greater_is_better=True,
                                penalties=RECORD_PENALTIES)
        X = movies_record_design(ds, fit_rows)[0]
        pred = fit_ridge(X[fit_rows], y[fit_rows], penalty=lam).predict(X[te])
        out["records_ridge"] = BaselineScore(
            "records_ridge", mean_cosine_similarity(pred, y[te]), val=v, penalty=lam, predictions=pred
        )
    return out


_LIST_FIELDS = ("genre", "director", "writer", "cast", "country", "language", "production", "rated")
_BINS: dict[str, tuple[float, ...]] = {
    "runtime": (0, 90, 100, 110, 120, 135, 150, 1e9),
    "metacritic": (0, 40, 50, 60, 70, 80, 90, 101),
    "tomatometer": (0, 30, 50, 70, 80, 90, 95, 101),
    "box_office": (0, 1e6, 1e7, 10**7.5, 1e8, 10**8.5, 1e12),
    "oscars": (0, 1, 2, 4, 1e9),
}


def movies_record_design(ds: Dataset, rows: np.ndarray, *, min_count: int = 3) -> tuple[np.ndarray, list[str]]:
    """Indicators of the movie records ``[N, P]`` and their names (the ``records_ridge`` design).

    Columns: MovieLens genres; release decade and 5-year bins; for each of ``genre``,
    ``director``, ``writer``, ``cast``, ``country``, ``language``, ``production`` (comma-separated
    lists) and ``rated``, every value held by at least ``min_count`` of ``rows``; bins of
    ``runtime``, ``metacritic``, ``tomatometer``, ``box_office`` and ``oscars`` (missing: all 0).

    Args:
        ds: the movies dataset; rows: the rows whose values define the categories (train).
    """
    items = [ds.items[i] for i in ds.ids]
    cols: list[np.ndarray] = []
    names: list[str] = []

    def members(values: list[set[str]], field: str, keep: Any = None) -> None:
        counts: dict[str, int] = {}
        for i in rows:
            for m in values[i]:
                counts[m] = counts.get(m, 0) + 1
        for m in sorted(c for c, n in counts.items() if n >= (min_count if keep is None else keep)):
            cols.append(np.array([m in v for v in values], dtype=float))
            names.append(f"{field}={m}")

    members([set(g.split("|")) - {"", "(no genres listed)"} for g in ds.extras["genres"]], "movielens_genre", 1)
    years = np.asarray(ds.extras["years"])
    for width in (10, 5):
        members([{str(int(y) // width * width)} if y > 0 else set() for y in years], f"year_{width}", 1)
    for f in _LIST_FIELDS:
        members([{p.strip() for p in str(it[f]).split(",") if p.strip()} if f in it else set() for it in items], f)
    for f, edges in _BINS.items():
        v = np.array([float(it[f]) if isinstance(it.get(f), (int, float)) else np.nan for it in items])
        for lo, hi in zip(edges[:-1], edges[1:]):
            cols.append(((v >= lo) & (v < hi)).astype(float))
            names.append(f"{f} in [{lo:g}, {hi:g})")
    return np.stack(cols, axis=1), names
