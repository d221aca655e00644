"""load_movies: SVD embeddings of the 512 most-rated MovieLens movies, centred target, bokeh join."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.datasets.movies import _title_year, fold_in, load_movies, read_ratings, truncated_svd
from genz_pyro.metrics import mean_cosine_similarity

ML = "movielens-latest-small"
BOKEH = "bokeh-sampledata-movies/movies.db"


@pytest.fixture(scope="module")
def paths(shared_data: Path) -> tuple[Path, Path]:
    ml, db = shared_data / ML, shared_data / BOKEH
    if not (ml / "ratings.csv").is_file() or not db.is_file():
        pytest.skip(f"MovieLens or bokeh movies.db absent under {shared_data} (set GENZ_DATA)")
    return ml, db


@pytest.fixture(scope="module")
def ds(paths: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    return load_movies(paths[0], bokeh_db=paths[1], seed=0)


def test_shapes_ids_and_most_rated(ds, paths) -> None:  # type: ignore[no-untyped-def]
    assert ds.name == "movies" and len(ds) == 512
    assert ds.targets.shape == (512, 32) and ds.covariates is None
    ex = ds.extras
    assert ex["embeddings"].shape == (512, 32) and ex["user_factors"].shape == (610, 32)
    assert ex["ratings"].shape == (9724, 610)  # PROVENANCE: 9,724 rated movies, 610 users
    assert int((ex["ratings"] > 0).sum()) == 100836
    assert ds.ids == [f"movie-{m}" for m in ex["movie_ids"]]
    counts = (ex["ratings"] > 0).sum(axis=1)
    kept = counts[ex["movie_rows"]]
    np.testing.assert_array_equal(kept, ex["num_ratings"])
    assert np.all(np.diff(kept) <= 0) and kept[0] == counts.max() == 329
    left_out = np.delete(counts, ex["movie_rows"])
    assert left_out.max() <= kept.min()  # no movie outside the 512 has more ratings


def test_embeddings_are_the_svd_of_the_whole_matrix(ds) -> None:  # type: ignore[no-untyped-def]
    ex = ds.extras
    R = ex["ratings"]
    # U S = R V: the embedding of a movie is its ratings row folded in on the user factors
    np.testing.assert_allclose(fold_in(R[ex["movie_rows"]], ex["user_factors"], ex["singular_values"]),
                               ex["embeddings"], atol=1e-9)
    np.testing.assert_allclose(ex["user_factors"].T @ ex["user_factors"], np.eye(32), atol=1e-9)
    # singular triplets: R^T R V = V S^2, and the leading ones (cf. the small-matrix test below)
    V, S = ex["user_factors"], ex["singular_values"]
    np.testing.assert_allclose(R.T @ (R @ V), V * S**2, rtol=0, atol=1e-8 * S[0] ** 2)
    assert np.all(np.diff(S) <= 0) and S[0] == pytest.approx(np.linalg.norm(R @ V[:, 0]))
    assert S[31] > np.sqrt(max(np.linalg.eigvalsh(R.T @ R - (V * S**2) @ V.T)))  - 1e-6


def test_target_is_centred_by_the_training_mean(ds) -> None:  # type: ignore[no-untyped-def]
    mean = ds.extras["embedding_mean"]
    np.testing.assert_allclose(ds.targets[ds.train].mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(ds.targets + mean, ds.extras["embeddings"], atol=1e-12)
    assert np.abs(ds.targets[ds.test].mean(axis=0)).max() > 1e-3  # not refitted on test rows


def test_mean_predictor_scores_071_on_raw_embeddings(ds) -> None:  # type: ignore[no-untyped-def]
    raw, te = ds.extras["embeddings"], ds.test
    mean = ds.extras["embedding_mean"]
    cos = mean_cosine_similarity(np.tile(mean, (len(te), 1)), raw[te])
    assert cos == pytest.approx(0.71, abs=0.02)  # measured 0.706 (seed 0)
    # on the centred target the same predictor is the zero vector: cosine 0
    assert mean_cosine_similarity(np.zeros((len(te), 32)), ds.targets[te]) == 0.0


def test_bokeh_join_and_item_records(ds) -> None:  # type: ignore[no-untyped-def]
    assert ds.extras["joined"] == 503 and len(ds.extras["unjoined"]) == 9
    assert "movie-919" in ds.extras["unjoined"]  # The Wizard of Oz (1939) predates the 1940-2014 snapshot
    assert ds.items["movie-919"] == {"title": "The Wizard of Oz", "year": 1939}
    matrix = ds.items["movie-2571"]
    assert matrix["title"] == "The Matrix" and matrix["year"] == 1999
    assert "Wachowski" in matrix["director"] and "Keanu Reeves" in matrix["cast"]
    assert matrix["runtime"] == 136 and matrix["rated"] == "R" and matrix["country"] == "Australia, United States"
    for rec in ds.items.values():
        assert isinstance(rec["title"], str) and 1900 < rec["year"] < 2019
        assert all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in rec.values())
        assert all(v != "" for v in rec.values())
    # plain JSON values (no numpy scalars), as the foundation models see them
    json.dumps(dict(ds.items))
    joined = [ds.items[i] for i in ds.ids if i not in set(ds.extras["unjoined"])]
    assert sum("genre" in r for r in joined) >= 500


def test_split_determinism(paths) -> None:  # type: ignore[no-untyped-def]
    a = load_movies(paths[0], seed=5, num_movies=64)
    b = load_movies(paths[0], seed=5, num_movies=64)
    assert (len(a.train), len(a.val), len(a.test)) == (41, 10, 13)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert len(set(a.train) | set(a.val) | set(a.test)) == 64
    np.testing.assert_array_equal(a.targets, b.targets)
    assert a.extras["joined"] == 0 and a.items["movie-356"] == {"title": "Forrest Gump", "year": 1994}


def test_sqrt_scaling_is_a_column_rescaling(paths, ds) -> None:  # type: ignore[no-untyped-def]
    s = load_movies(paths[0], scaling="sqrt")
    ratio = ds.extras["embeddings"] / s.extras["embeddings"]
    np.testing.assert_allclose(ratio, np.tile(np.sqrt(ds.extras["singular_values"]), (512, 1)), rtol=1e-9)


def test_truncated_svd_matches_numpy_on_tall_and_wide(rng: np.random.Generator) -> None:
    for shape in ((40, 15), (15, 40)):
        R = rng.normal(size=shape)
        emb, V, S = truncated_svd(R, 5)
        U0, S0, Vt0 = np.linalg.svd(R, full_matrices=False)
        np.testing.assert_allclose(S, S0[:5], rtol=1e-10)
        np.testing.assert_allclose(emb @ V.T, (U0[:, :5] * S0[:5]) @ Vt0[:5], atol=1e-10)  # best rank-5
        assert np.all(V.sum(axis=0) >= 0)
        emb_h, _, _ = truncated_svd(R, 5, scaling="sqrt")
        np.testing.assert_allclose(emb_h * np.sqrt(S), emb, atol=1e-10)


def test_title_parsing() -> None:
    assert _title_year("Matrix, The (1999)") == ("The Matrix", 1999)
    assert _title_year("Babylon 5") == ("Babylon 5", None)
    assert _title_year("City of God (Cidade de Deus) (2002)") == ("City of God (Cidade de Deus)", 2002)
    assert _title_year("Usual Suspects, The (1995) ") == ("The Usual Suspects", 1995)


def test_bad_arguments_are_named(tmp_path: Path, paths) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="movielens_dir: .*ratings.csv not found"):
        load_movies(tmp_path)
    with pytest.raises(ValueError, match="fields: unknown field"):
        load_movies(paths[0], fields=("plot",))
    with pytest.raises(ValueError, match="num_movies"):
        load_movies(paths[0], num_movies=10**6)
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,4.0,0\n1,x,3,0\n")
    with pytest.raises(ValueError, match="line 3"):
        read_ratings(tmp_path)
