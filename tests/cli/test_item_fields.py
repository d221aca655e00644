"""`genz fit --item-fields`: the records shown to the foundation model cut to chosen fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.cli import CliError, main, select_item_fields
from genz_pyro.datasets.base import Dataset

HOUSES = Path(__file__).resolve().parents[3] / "shared" / "data" / "houses-ahmed-moustafa-2016"


def _toy() -> Dataset:
    items = {f"r{i}": {"a": i, "b": f"x{i % 3}", "c": "text"} for i in range(6)}
    return Dataset(name="toy", items=items, targets=np.arange(6.0)[:, None], covariates=np.ones((6, 1)),
                   covariate_names=("a",), train=np.arange(4), val=np.array([4]), test=np.array([5]))


def test_select_item_fields_cuts_each_record_and_keeps_targets_covariates_and_split() -> None:
    ds = _toy()
    cut = select_item_fields(ds, "b, c")
    assert list(cut.items) == list(ds.items)
    assert cut.items["r4"] == {"b": "x1", "c": "text"}
    assert ds.items["r4"] == {"a": 4, "b": "x1", "c": "text"}  # the original is untouched
    assert cut.targets is ds.targets and cut.covariates is ds.covariates
    np.testing.assert_array_equal(cut.test, ds.test)
    assert select_item_fields(ds, ["a"]).items["r2"] == {"a": 2}


def test_select_item_fields_names_the_missing_field_and_bad_items() -> None:
    with pytest.raises(CliError, match=r"--item-fields: item 'r0' has no field 'zip'"):
        select_item_fields(_toy(), "b,zip")
    with pytest.raises(CliError, match="at least one field"):
        select_item_fields(_toy(), " , ")
    plain = Dataset(name="t", items={"x": "a sentence"}, targets=np.zeros((1, 1)))
    with pytest.raises(CliError, match="'x' is not a record"):
        select_item_fields(plain, "b")


@pytest.mark.skipif(not HOUSES.exists(), reason=f"houses data not found at {HOUSES}")
def test_houses_with_the_zip_code_only_discovers_zip_features_that_beat_the_covariates(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rc = main(["fit", "--dataset", "houses", "--data-dir", str(HOUSES.parent), "--seed", "0", "--algorithm", "1",
               "--cycles", "8", "--item-fields", "zipcode", "--run-dir", str(run), "--no-progress"])
    assert rc == 0
    assert json.loads((run / "cli.json").read_text())["item_fields"] == "zipcode"  # kept for --resume
    summary = json.loads((run / "summary.json").read_text())
    descs = [f["description"] for f in summary["features"]]
    assert len(descs) >= 4 and all("zip" in d.lower() for d in descs), descs
    # the zip-code features add what the covariates miss: well below least squares on the covariates
    assert summary["scores"]["test"] < 0.8 * summary["baselines"]["least_squares"]
