"""Movies: MovieLens collaborative-filtering embeddings (the paper's section 5.3, Netflix -> MovieLens).

:func:`load_movies` builds the paper's cold-start task on ``ml-latest-small``:

1. ``ratings.csv`` becomes the dense movies x users matrix ``R`` ``[9724, 610]``
   (stars 0.5-5, unrated = 0), rows ordered by movieId, columns by userId.
2. Its rank-``dim`` truncated SVD ``R ~ U S V^T`` is taken on the **whole matrix** (as
   the paper does), and the embeddings of the ``num_movies`` most-rated movies are rows of
   ``U S`` (``scaling="us"``, default) or ``U S^(1/2)`` (``scaling="sqrt"``, the symmetric
   convention of ``shared/design/genz-math.md``). ``U S = R V``: a movie's embedding is its ratings row
   projected on the fixed user factors ``V`` (scikit-learn's ``TruncatedSVD.transform``),
   which is also how :func:`cold_start_curve` re-estimates an embedding from a few ratings.
   The default reproduces the figures of the issue: predicting the training mean scores
   cosine 0.71 on raw ``U S`` embeddings (0.45 with ``U S^(1/2)``), and a genre +
   decade ridge 0.52 on the centred target. Signs are fixed so that every column of ``V``
   sums to a non-negative value (numpy's SVD signs are arbitrary).
3. The target is the embedding **centred** by the training mean (stored in
   ``extras["embedding_mean"]``): raw embeddings share one dominant direction (the
   popularity component), which makes cosine similarity uninformative.
4. Items are ``{"title", "year"}`` (MovieLens title with a trailing article moved to the
   front: "Matrix, The" -> "The Matrix"), enriched with the CC0 Wikidata film records of
   bokeh-sampledata's ``movies.db`` joined on IMDb ids from ``links.csv`` (503 of the 512
   join); list-like fields are comma-separated strings, missing fields are left out.

The top movies are ranked by number of ratings (ties broken by smaller movieId). MovieLens
small has 610 users (Netflix: 480,189), so a movie has at most 329 ratings and the
cold-start curve's ``k`` runs up to each movie's own rating count (see
:func:`cold_start_curve`).
"""

from __future__ import annotations

import csv
import functools
import re
import sqlite3
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genz_pyro.datasets.base import Dataset, split_indices

__all__ = [
    "load_movies",
    "read_ratings",
    "truncated_svd",
    "fold_in",
    "cold_start_curve",
    "ratings_equivalent",
    "BOKEH_FIELDS",
    "DEFAULT_FIELDS",
    "MOVIES_TASK",
]

MOVIES_TASK = (
    "Predict a movie's collaborative-filtering embedding (from MovieLens users' ratings, "
    "centred) from its record: title, year and film metadata."
)

#: item field -> (table, column) in bokeh-sampledata's movies.db
BOKEH_FIELDS: dict[str, tuple[str, str]] = {
    "genre": ("omdb", "Genre"),
    "director": ("omdb", "Director"),
    "writer": ("omdb", "Writer"),
    "cast": ("omdb", "Cast"),
    "country": ("omdb", "Country"),
    "language": ("omdb", "Language"),
    "runtime": ("omdb", "Runtime"),
    "rated": ("omdb", "Rating"),
    "released": ("omdb", "Released"),
    "awards": ("omdb", "Awards"),
    "oscars": ("omdb", "Oscars"),
    "metacritic": ("omdb", "Metacritic"),
    "tomatometer": ("tomatoes", "Meter"),
    "critic_rating": ("tomatoes", "Rating"),
    "box_office": ("tomatoes", "BoxOffice"),
    "production": ("tomatoes", "Production"),
}
DEFAULT_FIELDS: tuple[str, ...] = (
    "genre", "director", "writer", "cast", "country", "language", "runtime", "rated",
    "awards", "oscars", "metacritic", "tomatometer", "box_office", "production",
)
_SCALINGS = ("us", "sqrt")


# --------------------------------------------------------------------------- ratings + SVD
def read_ratings(movielens_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``ratings.csv`` into the dense matrix.

    Returns:
        ``(R, movie_ids, user_ids)``: ``R`` ``[M, U]`` float64 (0 = unrated), rows ordered by
        ``movie_ids`` ``[M]`` and columns by ``user_ids`` ``[U]`` (both ascending int).

    Raises:
        ValueError: naming the folder when ``ratings.csv`` is missing or a line that is malformed.
    """
    path = Path(movielens_dir) / "ratings.csv"
    if not path.is_file():
        raise ValueError(f"movielens_dir: {path} not found; pass the ml-latest-small folder")
    users: list[int] = []
    movies: list[int] = []
    stars: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["userId", "movieId", "rating"]:
            raise ValueError(f"{path}: expected the header 'userId,movieId,rating,timestamp'")
        for lineno, row in enumerate(reader, start=2):
            try:
                u, m, r = int(row[0]), int(row[1]), float(row[2])
            except (IndexError, ValueError):
                raise ValueError(f"{path}: line {lineno} is not 'userId,movieId,rating,...': {row!r}") from None
            if not 0 < r <= 5:
                raise ValueError(f"{path}: line {lineno}: rating {r} outside (0, 5]")
            users.append(u)
            movies.append(m)
            stars.append(r)
    movie_ids, mi = np.unique(np.asarray(movies), return_inverse=True)
    user_ids, ui = np.unique(np.asarray(users), return_inverse=True)
    R = np.zeros((len(movie_ids), len(user_ids)))
    R[mi, ui] = stars
    return R, movie_ids, user_ids


def truncated_svd(ratings: np.ndarray, dim: int, *, scaling: str = "us") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-``dim`` SVD ``R ~ U S V^T`` of the whole ratings matrix (numpy, exact to rounding).

    Args:
        ratings: ``[M, U]``.
        dim: number of components (``<= min(M, U)``).
        scaling: ``"us"`` -> embeddings ``U S`` (= ``R V``); ``"sqrt"`` -> ``U S^(1/2)``.

    Returns:
        ``(embeddings [M, dim], user_factors V [U, dim] (orthonormal columns), singular_values [dim])``,
        signs fixed so that each column of ``V`` has a non-negative sum.
    """
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling: must be one of {_SCALINGS}, got {scaling!r}")
    R = np.asarray(ratings, dtype=np.float64)
    if R.ndim != 2 or not 1 <= dim <= min(R.shape):
        raise ValueError(f"dim: need 1 <= dim <= min{R.shape}, got {dim}")
    # eigendecomposition of the small Gram matrix (610 x 610 for MovieLens): the same
    # top singular triplets as np.linalg.svd to ~1e-12, about 30x faster on 2 cores
    if R.shape[1] <= R.shape[0]:
        w, V = np.linalg.eigh(R.T @ R)
        S = np.sqrt(np.clip(w[::-1][:dim], 0.0, None))
        V = V[:, ::-1][:, :dim]
        U = (R @ V) / np.where(S > 0, S, 1.0)
    else:
        w, U = np.linalg.eigh(R @ R.T)
        S = np.sqrt(np.clip(w[::-1][:dim], 0.0, None))
        U = U[:, ::-1][:, :dim]
        V = (R.T @ U) / np.where(S > 0, S, 1.0)
    sign = np.where(V.sum(axis=0) < 0, -1.0, 1.0)
    U, V = U * sign, V * sign
    emb = U * (S if scaling == "us" else np.sqrt(S))
    return emb, V, S


def fold_in(ratings_rows: np.ndarray, user_factors: np.ndarray, singular_values: np.ndarray, *, scaling: str = "us") -> np.ndarray:
    """Embed ratings rows on fixed user factors: ``r V`` (``"us"``) or ``r V S^(-1/2)`` (``"sqrt"``).

    For a row of the matrix the SVD was taken on this returns exactly its embedding row.

    Args:
        ratings_rows: ``[..., U]``; user_factors: ``[U, dim]``; singular_values: ``[dim]``.

    Returns:
        ``[..., dim]``.
    """
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling: must be one of {_SCALINGS}, got {scaling!r}")
    out = np.asarray(ratings_rows, dtype=np.float64) @ user_factors
    return out if scaling == "us" else out / np.sqrt(singular_values)


# --------------------------------------------------------------------------- items
_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ARTICLE = re.compile(r"^(.*), (The|A|An)$")


def _title_year(raw: str) -> tuple[str, int | None]:
    """``"Matrix, The (1999)"`` -> ``("The Matrix", 1999)``; alternate titles are kept."""
    m = _YEAR.search(raw)
    year = int(m.group(1)) if m else None
    title = raw[: m.start()] if m else raw.strip()
    main, sep, rest = title.partition(" (")
    a = _ARTICLE.match(main)
    if a:
        main = f"{a.group(2)} {a.group(1)}"
    return (main + sep + rest).strip(), year


def _bokeh_records(db: Path, imdb_ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{imdb_id: {field: value}}`` for the ids found in ``movies.db`` (smallest ID on duplicates)."""
    cols = ", ".join(f'{BOKEH_FIELDS[f][0]}."{BOKEH_FIELDS[f][1]}"' for f in fields)
    sql = (
        f"SELECT omdb.imdbID, {cols} FROM omdb LEFT JOIN tomatoes ON tomatoes.ID = omdb.ID "
        "ORDER BY omdb.ID DESC"
    )
    wanted = set(imdb_ids)
    out: dict[str, dict[str, Any]] = {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for row in con.execute(sql):
            if row[0] not in wanted:
                continue
            rec: dict[str, Any] = {}
            for f, v in zip(fields, row[1:]):
                if v is None or (isinstance(v, str) and not v.strip()):
                    continue
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                rec[f] = v.strip() if isinstance(v, str) else v
            out[row[0]] = rec  # descending ID: the smallest ID wins
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"bokeh_db: {db} is not bokeh-sampledata's movies.db ({exc})") from None
    finally:
        con.close()
    return out


# --------------------------------------------------------------------------- loader
@functools.lru_cache(maxsize=4)
def _matrix_and_svd(
    d: Path, mtime_ns: int, dim: int, scaling: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ratings matrix and its SVD, cached per (folder, file version, dim, scaling) so that
    loading several seeds reads and decomposes once; the arrays are read-only."""
    R, movie_ids, _ = read_ratings(d)
    if not 1 <= dim <= min(R.shape):
        raise ValueError(f"dim: need 1 <= dim <= {min(R.shape)}, got {dim}")
    emb, V, S = truncated_svd(R, dim, scaling=scaling)
    for a in (R, movie_ids, emb, V, S):
        a.flags.writeable = False
    return R, movie_ids, emb, V, S


def load_movies(
    movielens_dir: str | Path,
    *,
    bokeh_db: str | Path | None = None,
    num_movies: int = 512,
    dim: int = 32,
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    scaling: str = "us",
    fields: Sequence[str] = DEFAULT_FIELDS,
) -> Dataset:
    """Load the movies cold-start task (see the module docstring for every convention).

    Args:
        movielens_dir: folder of ``ml-latest-small`` (ratings.csv, movies.csv, links.csv).
        bokeh_db: optional bokeh-sampledata ``movies.db`` (>= 2026.1, CC0) to enrich items.
        num_movies: how many of the most-rated movies to keep (paper: 512).
        dim: embedding dimension (paper: 32).
        seed, test_fraction, val_fraction: the seeded split (:func:`split_indices`).
        scaling: ``"us"`` (``U S``, default) or ``"sqrt"`` (``U S^(1/2)``).
        fields: which :data:`BOKEH_FIELDS` to add to the items.

    Returns:
        Dataset ``"movies"`` with items ``"movie-<movieId>"``, targets ``[num_movies, dim]``
        (centred embeddings), no covariates, and ``extras``: ``embeddings`` (raw)
        ``[num_movies, dim]``, ``embedding_mean`` ``[dim]`` (training mean), ``ratings``
        ``[M, U]`` (whole matrix, read-only and shared between loads), ``movie_rows`` ``[num_movies]`` (rows of the kept movies
        in it), ``user_factors`` ``[U, dim]``, ``singular_values`` ``[dim]``, ``scaling``,
        ``movie_ids``, ``num_ratings``, ``years`` (0 if unknown), ``genres`` (MovieLens
        genres, ``|``-separated, used by the genre baseline), ``imdb_ids``, ``joined``
        (how many items got a bokeh record) and ``unjoined`` (their ids).
    """
    d = Path(movielens_dir)
    for name in ("ratings.csv", "movies.csv", "links.csv"):
        if not (d / name).is_file():
            raise ValueError(f"movielens_dir: {d / name} not found; pass the ml-latest-small folder")
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling: must be one of {_SCALINGS}, got {scaling!r}")
    unknown = [f for f in fields if f not in BOKEH_FIELDS]
    if unknown:
        raise ValueError(f"fields: unknown field(s) {unknown}; choose from {sorted(BOKEH_FIELDS)}")
    R, movie_ids, emb_all, V, S = _matrix_and_svd(d.resolve(), (d / "ratings.csv").stat().st_mtime_ns, dim, scaling)
    if not 2 <= num_movies <= len(movie_ids):
        raise ValueError(f"num_movies: need 2 <= num_movies <= {len(movie_ids)}, got {num_movies}")
    counts = (R > 0).sum(axis=1)
    rows = np.lexsort((movie_ids, -counts))[:num_movies]
    emb = emb_all[rows]

    with (d / "movies.csv").open(newline="", encoding="utf-8") as fh:
        info = {int(r["movieId"]): r for r in csv.DictReader(fh)}
    with (d / "links.csv").open(newline="", encoding="utf-8") as fh:
        links = {int(r["movieId"]): f"tt{r['imdbId']}" for r in csv.DictReader(fh)}
    kept = [int(m) for m in movie_ids[rows]]
    imdb = [links.get(m, "") for m in kept]
    records: dict[str, dict[str, Any]] = {}
    if bokeh_db is not None:
        db = Path(bokeh_db)
        if not db.is_file():
            raise ValueError(f"bokeh_db: {db} not found; pass bokeh_sampledata/_data/movies.db")
        records = _bokeh_records(db, imdb, tuple(fields))

    items: dict[str, dict[str, Any]] = {}
    years = np.zeros(num_movies, dtype=int)
    unjoined: list[str] = []
    for i, m in enumerate(kept):
        title, year = _title_year(info[m]["title"]) if m in info else (f"movie {m}", None)
        rec: dict[str, Any] = {"title": title}
        if year is not None:
            rec["year"] = year
            years[i] = year
        if bokeh_db is not None:
            if imdb[i] in records:
                rec.update(records[imdb[i]])
            else:
                unjoined.append(f"movie-{m}")
        items[f"movie-{m}"] = rec

    train, val, test = split_indices(num_movies, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    mean = emb[train].mean(axis=0)
    extras: dict[str, Any] = {
        "embeddings": emb,
        "embedding_mean": mean,
        "ratings": R,
        "movie_rows": rows,
        "user_factors": V,
        "singular_values": S,
        "scaling": scaling,
        "movie_ids": np.asarray(kept),
        "num_ratings": counts[rows],
        "years": years,
        "genres": [info[m]["genres"] if m in info else "" for m in kept],
        "imdb_ids": imdb,
        "joined": num_movies - len(unjoined) if bokeh_db is not None else 0,
        "unjoined": unjoined,
    }
    return Dataset(
        name="movies",
        items=items,
        targets=emb - mean,
        covariates=None,
        target_names=tuple(f"e{j}" for j in range(dim)),
        train=train,
        val=val,
        test=test,
        task=MOVIES_TASK,
        extras=extras,
    )


# --------------------------------------------------------------------------- cold start
def _check_ks(ks: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ks)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"ks: need a 1-d, non-empty sequence of whole numbers, got {ks!r}")
    arr = arr.astype(int)
    if arr[0] < 0 or np.any(np.diff(arr) <= 0):
        raise ValueError("ks: must be non-negative and strictly increasing, e.g. [1, 2, 5, 10, 20]")
    return arr


def cold_start_curve(
    ratings_matrix: np.ndarray,
    movie_rows: Sequence[int] | np.ndarray,
    ks: Sequence[int] | np.ndarray,
    *,
    num_movies: int = 100,
    seed: int = 0,
    dim: int = 32,
    scaling: str = "us",
    user_factors: np.ndarray | None = None,
    singular_values: np.ndarray | None = None,
    unit: str = "ratings",
    center: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cold-start curve of the paper's Fig. 5.

    For each of ``num_movies`` movies drawn (seeded, without replacement) from
    ``movie_rows``: zero its ratings row, add back its real ratings one user at a time in
    a random order, and after ``k`` additions re-estimate its embedding by projecting the
    partial row on the fixed user factors (:func:`fold_in`: ``r_k V``, "folding in"; the
    factors come from the SVD of the full matrix, in which one movie among thousands
    barely moves ``V``); score the cosine similarity with its full embedding ``r V``.
    ``k = 0`` (no ratings) scores 0, and ``k`` at or beyond the movie's rating count
    scores 1.

    ``unit="ratings"`` (default) counts actual ratings. ``unit="users"`` follows the
    paper's wording literally: ``k`` users exposed in random order, most of whom did not
    rate the movie (their zero adds nothing). With Netflix (480,189 users, movies with
    thousands of ratings) the paper reports 0.38 at 1000 and 0.57 at 4000 users; with
    MovieLens small (610 users, at most 329 ratings a movie) the curve reaches 1 within a
    few hundred ratings, so its ratings-equivalents are not comparable with the paper's.

    Args:
        ratings_matrix: ``[M, U]`` (unrated = 0).
        movie_rows: rows eligible for the draw (e.g. ``extras["movie_rows"]``).
        ks: strictly increasing counts ``[T]``.
        num_movies: movies averaged over (paper: 100).
        seed: seed of the movie draw and the rating orders.
        dim, scaling: the SVD (ignored for ``dim`` when ``user_factors`` is given).
        user_factors, singular_values: ``[U, dim]`` and ``[dim]`` of a precomputed SVD
            (e.g. ``extras["user_factors"]``); computed from ``ratings_matrix`` if omitted.
        unit: ``"ratings"`` or ``"users"`` (see above).
        center: optional ``[dim]`` vector (e.g. ``extras["embedding_mean"]``) subtracted
            from the estimate and the full embedding before the cosine, to put the curve
            on the centred scale of the movies target. Default ``None``: raw embeddings,
            the paper's protocol. Centred, a fold-in of few ratings (small norm) sits near
            ``-center`` and scores low: the centred curve rises later than the raw one.

    Returns:
        ``(ks [T], mean [T], lo5 [T], hi95 [T])``: the mean cosine similarity and its 5%
        and 95% quantiles over the movies (a 90% band).
    """
    if unit not in ("ratings", "users"):
        raise ValueError(f"unit: must be 'ratings' or 'users', got {unit!r}")
    R = np.asarray(ratings_matrix, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"ratings_matrix: expected [M, U], got shape {R.shape}")
    k_arr = _check_ks(ks)
    rows = np.asarray(movie_rows, dtype=int)
    if rows.ndim != 1 or rows.size == 0 or rows.min() < 0 or rows.max() >= R.shape[0]:
        raise ValueError(f"movie_rows: need a non-empty 1-d array of row indices in [0, {R.shape[0]})")
    if not 1 <= num_movies <= rows.size:
        raise ValueError(f"num_movies: need 1 <= num_movies <= len(movie_rows) = {rows.size}, got {num_movies}")
    if user_factors is None:
        _, V, S = truncated_svd(R, dim, scaling=scaling)
    else:
        V = np.asarray(user_factors, dtype=np.float64)
        S = np.ones(V.shape[1]) if singular_values is None else np.asarray(singular_values, dtype=np.float64)
        if scaling == "sqrt" and singular_values is None:
            raise ValueError("singular_values: required with scaling='sqrt' and user_factors")
        if V.ndim != 2 or V.shape[0] != R.shape[1]:
            raise ValueError(f"user_factors: expected [{R.shape[1]}, dim], got {V.shape}")
    c = None if center is None else np.asarray(center, dtype=np.float64)
    if c is not None and c.shape != (V.shape[1],):
        raise ValueError(f"center: expected shape [{V.shape[1]}] (one value per embedding dimension), got {c.shape}")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(rows, size=num_movies, replace=False)
    cos = np.zeros((num_movies, k_arr.size))
    for i, row in enumerate(chosen):
        r = R[row]
        users = np.flatnonzero(r) if unit == "ratings" else np.arange(r.size)
        order = rng.permutation(users)
        full = fold_in(r, V, S, scaling=scaling)
        if center is not None:
            full = full - c
        # row t: r_(t+1 users) V, the fold-in of the partial row, accumulated user by user
        partial = np.cumsum(r[order, None] * V[order], axis=0)
        if scaling == "sqrt":
            partial = partial / np.sqrt(S)
        partial = np.vstack([np.zeros((1, V.shape[1])), partial])  # k = 0
        est = partial[np.minimum(k_arr, order.size)]
        if center is not None:
            est = est - c
        denom = np.maximum(np.linalg.norm(est, axis=1) * np.linalg.norm(full), 1e-300)
        cos[i] = est @ full / denom
    return k_arr, cos.mean(axis=0), np.quantile(cos, 0.05, axis=0), np.quantile(cos, 0.95, axis=0)


def ratings_equivalent(cos: float, curve: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> float:
    """How many ratings the cold-start curve needs to reach cosine similarity ``cos``.

    Linear interpolation of ``k`` against the curve's mean, from the point ``(k=0, 0)``;
    the mean is made non-decreasing first (running maximum). Returns ``inf`` if the curve
    never reaches ``cos``, and 0 for ``cos <= 0``.

    Args:
        cos: a cosine similarity (e.g. a model's mean test cosine similarity).
        curve: the return value of :func:`cold_start_curve`.
    """
    ks, mean = np.asarray(curve[0], dtype=float), np.asarray(curve[1], dtype=float)
    if ks.ndim != 1 or ks.shape != mean.shape or ks.size == 0:
        raise ValueError("curve: expected (ks [T], mean [T], lo [T], hi [T]) from cold_start_curve")
    c = float(cos)
    if not np.isfinite(c) or c > 1:
        raise ValueError(f"cos: must be a cosine similarity <= 1, got {cos}")
    if ks[0] > 0:
        ks, mean = np.concatenate([[0.0], ks]), np.concatenate([[0.0], mean])
    mono = np.maximum.accumulate(mean)
    if c <= mono[0]:
        return float(ks[0])
    if c > mono[-1]:
        return float("inf")
    j = int(np.argmax(mono >= c))
    lo_c, hi_c = mono[j - 1], mono[j]
    return float(ks[j - 1] + (ks[j] - ks[j - 1]) * (c - lo_c) / (hi_c - lo_c))
