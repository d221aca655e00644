"""cold_start_curve (paper Fig. 5 on MovieLens) and ratings_equivalent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genz_pyro.datasets.movies import cold_start_curve, fold_in, load_movies, ratings_equivalent, truncated_svd

KS = [1, 2, 5, 10, 20, 50, 100, 200, 329]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_small_matrix_by_hand(rng: np.random.Generator) -> None:
    R = np.round(rng.uniform(0.5, 5, size=(30, 12)) * (rng.uniform(size=(30, 12)) < 0.5) * 2) / 2
    R[0] = 0.0
    R[0, [3, 7]] = [4.0, 1.5]  # a movie with exactly two ratings
    _, V, S = truncated_svd(R, 4)
    full = fold_in(R[0], V, S)
    one_a = _cos(4.0 * V[3], full)  # only user 3's rating added
    one_b = _cos(1.5 * V[7], full)
    ks, mean, lo, hi = cold_start_curve(R, [0], [0, 1, 2, 5], num_movies=1, dim=4)
    np.testing.assert_array_equal(ks, [0, 1, 2, 5])
    assert mean[0] == 0.0  # no ratings: zero embedding
    assert min(abs(mean[1] - one_a), abs(mean[1] - one_b)) < 1e-12  # whichever user came first
    np.testing.assert_allclose(mean[2:], 1.0, atol=1e-12)  # all ratings in: the full embedding
    # both orders occur across seeds
    firsts = {round(float(cold_start_curve(R, [0], [1], num_movies=1, dim=4, seed=s)[1][0]), 12) for s in range(20)}
    assert firsts == {round(one_a, 12), round(one_b, 12)}
    # the sqrt convention rescales the columns before the cosine
    m_sqrt = cold_start_curve(R, [0], [1], num_movies=1, dim=4, scaling="sqrt", seed=0)[1][0]
    cands = {_cos(4.0 * V[3] / np.sqrt(S), full / np.sqrt(S)), _cos(1.5 * V[7] / np.sqrt(S), full / np.sqrt(S))}
    assert min(abs(m_sqrt - c) for c in cands) < 1e-12


@pytest.fixture(scope="module")
def movies(shared_data: Path):  # type: ignore[no-untyped-def]
    d = shared_data / "movielens-latest-small"
    if not (d / "ratings.csv").is_file():
        pytest.skip(f"{d / 'ratings.csv'} is absent")
    return load_movies(d)


def test_movielens_curve_is_monotone_bounded_and_reaches_one(movies) -> None:  # type: ignore[no-untyped-def]
    ex = movies.extras
    ks, mean, lo, hi = cold_start_curve(ex["ratings"], ex["movie_rows"], KS,
                                        user_factors=ex["user_factors"], singular_values=ex["singular_values"])
    assert np.all(np.diff(mean) > 0)  # strictly rising in mean
    for a in (mean, lo, hi):
        assert np.all(a >= -1 - 1e-12) and np.all(a <= 1 + 1e-12)
    assert np.all(lo <= mean + 1e-12) and np.all(mean <= hi + 1e-12)
    assert mean[-1] == pytest.approx(1.0, abs=1e-9)  # 329 = the largest rating count
    # measured (seed 0): 0.32 at 1 rating, 0.58 at 10, 0.99 at 100; stated tolerance 0.05
    np.testing.assert_allclose(mean[[0, 3, 6]], [0.32, 0.58, 0.99], atol=0.05)
    # the factors are recomputed identically when not passed
    again = cold_start_curve(ex["ratings"], ex["movie_rows"], KS)
    np.testing.assert_allclose(again[1], mean, atol=1e-9)
    # counting exposed users (the paper's x axis) needs more users than ratings
    users = cold_start_curve(ex["ratings"], ex["movie_rows"], [50, 100, 200], unit="users",
                             user_factors=ex["user_factors"])
    assert np.all(users[1] < mean[[5, 6, 7]])
    # centred curve (the movies target's scale) rises later
    centred = cold_start_curve(ex["ratings"], ex["movie_rows"], KS, center=ex["embedding_mean"],
                               user_factors=ex["user_factors"])
    assert np.all(centred[1][:6] < mean[:6]) and centred[1][-1] == pytest.approx(1.0, abs=1e-9)
    k = ratings_equivalent(0.52, (ks, mean, lo, hi))
    assert 5 < k < 10 and np.interp(k, ks, mean) == pytest.approx(0.52, abs=1e-9)


def test_ratings_equivalent_by_hand() -> None:
    curve = (np.array([10, 20, 40]), np.array([0.2, 0.4, 0.5]), np.zeros(3), np.ones(3))
    assert ratings_equivalent(0.3, curve) == pytest.approx(15.0)
    assert ratings_equivalent(0.1, curve) == pytest.approx(5.0)  # from the point (0, 0)
    assert ratings_equivalent(0.45, curve) == pytest.approx(30.0)
    assert ratings_equivalent(0.5, curve) == pytest.approx(40.0)
    assert ratings_equivalent(0.6, curve) == float("inf")
    assert ratings_equivalent(-0.2, curve) == 0.0
    bumpy = (np.array([1, 2, 3]), np.array([0.3, 0.25, 0.6]), np.zeros(3), np.ones(3))
    assert ratings_equivalent(0.45, bumpy) == pytest.approx(2.5)  # running max: 0.3, 0.3, 0.6
    with pytest.raises(ValueError, match="cos"):
        ratings_equivalent(1.5, curve)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ks": [5, 2]}, "ks: must be non-negative and strictly increasing"),
        ({"ks": [1.5]}, "ks: need"),
        ({"num_movies": 5}, "num_movies"),
        ({"unit": "views"}, "unit"),
        ({"movie_rows": [99]}, "movie_rows"),
        ({"center": np.zeros(3)}, "center: expected shape"),
        ({"user_factors": np.zeros((5, 2))}, "user_factors"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str, rng: np.random.Generator) -> None:
    args = {"ratings_matrix": rng.uniform(size=(10, 6)), "movie_rows": [0, 1], "ks": [1, 2], "num_movies": 2, "dim": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cold_start_curve(**args)
