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
