"""load_houses: records, log-price target, train-only standardisation, split, validation errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.datasets.houses import load_houses, read_descriptions, read_houses_info

HOUSES = "houses-ahmed-moustafa-2016"

SMALL = "4 4 4053 85255 869500\n4 3 3343 36372 865200\n3 4 3923 85266 889000\n5 5 4022 85262 910000\n3 2.5 1500 85255 400000\n"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    p = tmp_path / "HousesInfo.txt"
    p.write_text(SMALL)
    return p


@pytest.fixture
def houses_dir(shared_data: Path) -> Path:
    d = shared_data / HOUSES
    if not (d / "HousesInfo.txt").is_file():
        pytest.skip(f"{d / 'HousesInfo.txt'} is absent")
    return d


def test_real_file_shapes_items_and_target(houses_dir: Path) -> None:
    ds = load_houses(houses_dir)
    assert ds.name == "houses" and len(ds) == 535
    assert ds.targets.shape == (535, 1) and ds.covariates is not None and ds.covariates.shape == (535, 3)
    assert ds.covariate_names == ("log_area", "bedrooms", "bathrooms")
    assert ds.ids[0] == "house-1" and ds.ids[-1] == "house-535"
    assert ds.items["house-1"] == {"bedrooms": 4, "bathrooms": 4, "area": 4053, "zipcode": "85255"}
    assert all("price" not in rec for rec in ds.items.values())
    json.dumps(dict(ds.items))  # plain JSON values (no numpy scalars), as the foundation models see them
    assert all(isinstance(rec["zipcode"], str) for rec in ds.items.values())
    assert ds.targets[0, 0] == pytest.approx(math.log(869500))
    # PROVENANCE.md: log(price) mean 12.963, population SD 0.868; 49 zip codes
    assert ds.targets.mean() == pytest.approx(12.963, abs=5e-4)
    assert ds.targets.std() == pytest.approx(0.868, abs=5e-4)
    assert len(set(ds.extras["zipcodes"])) == 49
    # the file path works as well as its folder
    np.testing.assert_array_equal(load_houses(houses_dir / "HousesInfo.txt").targets, ds.targets)


def test_split_is_seeded_disjoint_and_complete(houses_dir: Path) -> None:
    a, b, c = load_houses(houses_dir, seed=3), load_houses(houses_dir, seed=3), load_houses(houses_dir, seed=4)
    assert (len(a.train), len(a.val), len(a.test)) == (342, 86, 107)  # 535 -> 20% test, 20% of the rest val
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)
    every = np.concatenate([a.train, a.val, a.test])
    assert np.array_equal(np.sort(every), np.arange(535))


def test_standardisation_is_fitted_on_training_rows_only(houses_dir: Path) -> None:
    ds = load_houses(houses_dir, seed=1)
    u = ds.covariates
    assert u is not None
    np.testing.assert_allclose(u[ds.train].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(u[ds.train].std(axis=0), 1.0, atol=1e-12)
    # not refitted on the other rows: their mean is off zero
    assert np.abs(u[ds.test].mean(axis=0)).max() > 0.01
    # and it is exactly (raw - train mean) / train SD
    area = np.array([ds.items[i]["area"] for i in ds.ids], dtype=float)
    raw = np.log(area)
    expect = (raw - raw[ds.train].mean()) / raw[ds.train].std()
    np.testing.assert_allclose(u[:, 0], expect, atol=1e-12)
    np.testing.assert_allclose(ds.extras["covariate_mean"][0], raw[ds.train].mean())
    raw_area = load_houses(houses_dir, seed=1, log_area=False)
    assert raw_area.covariate_names[0] == "area"
    assert raw_area.covariates is not None
    np.testing.assert_allclose(raw_area.covariates[:, 0], (area - area[ds.train].mean()) / area[ds.train].std())


@pytest.mark.parametrize(
    "bad_line, match",
    [
        ("4 3 3343 36372\n", "line 2 has 4 fields, expected 5"),
        ("4 three 3343 36372 865200\n", "line 2: bathrooms 'three' is not a number"),
        ("4 3 3343 36372 -5\n", "line 2: price must be a positive number"),
        ("4 3 3343 36-72 865200\n", "line 2: zipcode"),
        ("\n", "line 2 is empty"),
    ],
)
def test_malformed_line_is_named(tmp_path: Path, bad_line: str, match: str) -> None:
    lines = SMALL.splitlines(keepends=True)
    p = tmp_path / "HousesInfo.txt"
    p.write_text(lines[0] + bad_line + "".join(lines[2:]))
    with pytest.raises(ValueError, match=match):
        load_houses(p)


def test_missing_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="path: .* does not exist"):
        load_houses(tmp_path / "nope")


def test_descriptions_json_and_jsonl_are_added_to_items(small: Path, tmp_path: Path) -> None:
    j = tmp_path / "desc.json"
    j.write_text(json.dumps({
        "photos/1_frontal.jpg": "A two-storey stucco house.",
        "1_kitchen.jpg": "Granite counters.",
        "house-2": {"bedroom": "A small bedroom."},
    }))
    ds = load_houses(small, descriptions=j)
    assert ds.items["house-1"]["image_descriptions"] == {
        "frontal": "A two-storey stucco house.", "kitchen": "Granite counters."}
    assert ds.items["house-2"]["image_descriptions"] == {"bedroom": "A small bedroom."}
    assert "image_descriptions" not in ds.items["house-3"]

    jl = tmp_path / "desc.jsonl"
    jl.write_text(json.dumps({"image": "3_bathroom.jpg", "description": "Tiled shower."}) + "\n\n"
                  + json.dumps({"file": "5_frontal.jpg", "text": "Ranch house."}) + "\n")
    ds = load_houses(small, descriptions=jl)
    assert ds.items["house-3"]["image_descriptions"] == {"bathroom": "Tiled shower."}
    assert ds.items["house-5"]["image_descriptions"] == {"frontal": "Ranch house."}

    one = tmp_path / "one.jsonl"  # a one-line JSONL file is also valid JSON: still a record
    one.write_text(json.dumps({"image": "2_kitchen.jpg", "description": "Open plan."}) + "\n")
    assert read_descriptions(one, 5) == {2: {"kitchen": "Open plan."}}
    lst = tmp_path / "list.json"
    lst.write_text(json.dumps([{"photo": "4_bedroom.jpg", "text": "Bunk beds."}, {"id": "house-1", "text": "All."}]))
    assert read_descriptions(lst, 5) == {4: {"bedroom": "Bunk beds."}, 1: {"all": "All."}}


def test_bad_descriptions_are_named(small: Path, tmp_path: Path) -> None:
    j = tmp_path / "desc.json"
    j.write_text(json.dumps({"9_frontal.jpg": "nope"}))
    with pytest.raises(ValueError, match="'9_frontal.jpg' is not a house of this file"):
        load_houses(small, descriptions=j)
    j.write_text(json.dumps({"1_frontal.jpg": ""}))
    with pytest.raises(ValueError, match="non-empty text"):
        read_descriptions(j, 5)
    jl = tmp_path / "desc.jsonl"
    jl.write_text(json.dumps({"image": "1_frontal.jpg", "description": "ok"}) + "\n" + json.dumps({"x": 1}) + "\n")
    with pytest.raises(ValueError, match="line 2 needs an 'image'"):
        load_houses(small, descriptions=jl)
    jl.write_text("{not json\n")
    with pytest.raises(ValueError, match="line 1 is not valid JSON"):
        read_descriptions(jl, 5)
    j.write_text("[1, 2]")
    with pytest.raises(ValueError, match="record 0 needs an 'image'"):
        read_descriptions(j, 5)


def test_images_dir_records_photo_paths(small: Path, tmp_path: Path) -> None:
    img = tmp_path / "img"
    img.mkdir()
    for name in ("1_frontal.jpg", "1_kitchen.jpg", "4_bedroom.jpg", "notes.txt"):
        (img / name).write_bytes(b"\xff\xd8")
    ds = load_houses(small, images_dir=img)
    assert ds.extras["image_paths"] == {
        "house-1": {"frontal": str(img / "1_frontal.jpg"), "kitchen": str(img / "1_kitchen.jpg")},
        "house-4": {"bedroom": str(img / "4_bedroom.jpg")},
    }
    assert "image_descriptions" not in ds.items["house-1"]  # photos are described by a later step
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="images_dir: .* holds no photos"):
        load_houses(small, images_dir=empty)


def test_read_houses_info_parses_the_fields(small: Path) -> None:
    rows = read_houses_info(small)
    assert rows.shape == (5, 5)
    np.testing.assert_array_equal(rows[4], [3, 2.5, 1500, 85255, 400000])
    ds = load_houses(small, test_fraction=0.2, val_fraction=0.25)
    assert ds.items["house-5"]["bathrooms"] == 2.5 and (len(ds.train), len(ds.val), len(ds.test)) == (3, 1, 1)
