"""The offline model on the real houses records (skipped when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genz_pyro.fm.offline import OfflineModel


def _houses(shared_data: Path) -> dict:
    rows = (shared_data / "houses-ahmed-moustafa-2016" / "HousesInfo.txt").read_text().split("\n")
    out = {}
    for i, line in enumerate(r for r in rows if r.strip()):
        bed, bath, area, zipcode, _price = line.split()
        out[f"house-{i + 1}"] = {"bedrooms": int(bed), "bathrooms": float(bath), "area": int(area), "zipcode": zipcode}
    return out


def test_houses_zip_prefix_and_propose(shared_data: Path) -> None:
    items = _houses(shared_data)
    assert len(items) == 535
    fm = OfflineModel()
    zips = np.array([r["zipcode"] for r in items.values()])
    truth = np.char.startswith(zips, "92")  # the Californian listings
    assert 0.2 < truth.mean() < 0.8
    ids = np.array(list(items))
    rng = np.random.default_rng(0)
    pos = {k: items[k] for k in rng.choice(ids[truth], 25, replace=False)}
    neg = {k: items[k] for k in rng.choice(ids[~truth], 25, replace=False)}
    mined = fm.mine(pos, neg).description
    assert mined.startswith("Located in a zip code starting with 9")
    assert (fm.judge_array(mined, items) == truth).mean() >= 0.95
    props = fm.propose("house prices", items, 12)
    assert "Located in the 92276 zip code" in props  # the most common zip code (100 houses)
    assert "Has 3 or more bedrooms" in props
    for d in props:
        assert 0 < fm.judge_array(d, items).mean() < 1, d


MOVIE_CASES = [
    ("Directed by Steven Spielberg", lambda r: "Steven Spielberg" in r["director"].split(", ")),
    ("Starring Tom Hanks", lambda r: "Tom Hanks" in r["cast"].split(", ")),
    ("Genre includes Horror", lambda r: "Horror" in r["genre"].split(", ")),
    ("Released between 1995 and 2000", lambda r: 1995 <= r["year"] <= 2000),
]


def test_movie_records_from_the_cc0_database(shared_data: Path) -> None:
    """Films from the bokeh (CC0) database read with sqlite3: each truth is mined back from
    20 + 20 exemplars it draws (the paper's "Directed by Steven Spielberg" style)."""
    import sqlite3

    db = shared_data / "bokeh-sampledata-movies" / "movies.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute('select "imdbID", "Title", "Year", "Genre", "Director", "Cast", "Runtime" from omdb '
                           'where "Director" is not null and "Genre" is not null order by "imdbID"').fetchall()
    finally:
        con.close()
    items = {r[0]: {"title": r[1], "year": r[2], "genre": r[3], "director": r[4], "cast": r[5] or "",
                    "runtime": r[6]} for r in rows}
    assert len(items) > 10_000
    fm = OfflineModel()
    ids = np.array(list(items))
    rng = np.random.default_rng(0)
    for sentence, fn in MOVIE_CASES:
        truth = np.array([bool(fn(r)) for r in items.values()])
        np.testing.assert_array_equal(fm.judge_array(sentence, items), truth)  # the judge reads it right
        pos = {k: items[k] for k in rng.choice(ids[truth], 20, replace=False)}
        neg = {k: items[k] for k in rng.choice(ids[~truth], 20, replace=False)}
        mined = fm.mine(pos, neg).description
        assert mined == sentence, (sentence, mined)
