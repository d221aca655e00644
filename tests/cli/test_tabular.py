"""A user's CSV/JSONL as a Dataset; errors name the column and row (library and CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.cli import main
from genz_pyro.tabular import load_table, parse_columns

CSV = """id,title,year,genre,score,budget,box
m1,Alien,1979,horror,8.5,11,104
m2,Heat,1995,crime,8.3,60,187
m3,Up,2009,animation,8.2,175,735
m4,Jaws,1975,horror,8.1,9,470
m5,Big,1988,comedy,7.3,18,151
"""


def _csv(tmp_path: Path, text: str = CSV) -> Path:
    p = tmp_path / "films.csv"
    p.write_text(text)
    return p


def test_csv_records_targets_covariates_and_split(tmp_path: Path) -> None:
    ds = load_table(_csv(tmp_path), item_columns="title,year,genre", target_columns="score,box",
                    covariate_columns=["budget"], id_column="id", seed=3, test_fraction=0.2, val_fraction=0.25)
    assert list(ds.items) == ["m1", "m2", "m3", "m4", "m5"]
    assert ds.items["m3"] == {"title": "Up", "year": 2009, "genre": "animation"}  # numbers parsed
    np.testing.assert_array_equal(ds.targets, [[8.5, 104], [8.3, 187], [8.2, 735], [8.1, 470], [7.3, 151]])
    assert ds.target_names == ("score", "box") and ds.covariate_names == ("budget",)
    # split covers every row once
    assert sorted(np.concatenate([ds.train, ds.val, ds.test]).tolist()) == [0, 1, 2, 3, 4]
    assert len(ds.test) == 1 and len(ds.val) == 1
    # covariates standardised with the TRAINING rows only
    raw = np.array([11, 60, 175, 9, 18], dtype=float)
    mu, sd = raw[ds.train].mean(), raw[ds.train].std()
    np.testing.assert_allclose(ds.covariates[:, 0], (raw - mu) / sd)
    np.testing.assert_allclose(ds.covariates[ds.train, 0].mean(), 0.0, atol=1e-12)


def test_single_item_column_keeps_the_text_and_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    rows = [{"text": "a red car", "y": 1.0, "extra": [1, 2]}, {"text": "a blue bike", "y": 2},
            {"text": "a red bus", "y": 3.5}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    ds = load_table(p, item_columns="text", target_columns="y", test_fraction=0.0, val_fraction=0.0)
    assert ds.items == {"row-1": "a red car", "row-2": "a blue bike", "row-3": "a red bus"}
    assert ds.targets[:, 0].tolist() == [1.0, 2.0, 3.5]
    assert ds.covariates is None and ds.name == "t"


@pytest.mark.parametrize(
    "kwargs, text, match",
    [
        ({"item_columns": "title", "target_columns": "rating"}, CSV, r"target_columns: column 'rating' is not in"),
        ({"item_columns": "titel", "target_columns": "score"}, CSV, r"item_columns: column 'titel' is not in"),
        ({"item_columns": "title", "target_columns": "score"}, CSV.replace("8.3", "n/a"),
         r"target_columns: column 'score' of .* row 2 holds 'n/a', not a number"),
        ({"item_columns": "title", "target_columns": "score", "covariate_columns": "budget"},
         CSV.replace(",175,", ",,"), r"covariate_columns: column 'budget' of .* row 3 holds ''"),
        ({"item_columns": "title,score", "target_columns": "score"}, CSV, r"target_columns: 'score' is also an item"),
        ({"item_columns": "title", "target_columns": "score", "id_column": "genre"}, CSV,
         r"id_column: id 'horror' of .* row 4 repeats"),
        ({"item_columns": "title,,year", "target_columns": "score"}, CSV, r"item_columns: empty column name"),
        ({"item_columns": "title", "target_columns": "score,score"}, CSV, r"target_columns: column 'score' is given twice"),
        ({"item_columns": "title", "target_columns": "score"}, "title,score\n", r"no data rows"),
    ],
)
def test_errors_name_the_column_and_row(tmp_path: Path, kwargs: dict, text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_table(_csv(tmp_path, text), **kwargs)


def test_jsonl_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "a", "y": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"line 2 is a list, not a JSON object"):
        load_table(p, item_columns="text", target_columns="y")
    p.write_text('{"text": "a", "y": 1}\n{"text": \n')
    with pytest.raises(ValueError, match=r"line 2 is not valid JSON"):
        load_table(p, item_columns="text", target_columns="y")


def test_parse_columns() -> None:
    assert parse_columns(" a, b ,c", name="x") == ["a", "b", "c"]
    assert parse_columns(None, name="x") == []


def test_cli_errors_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _csv(tmp_path)
    rc = main(["fit", "--items-file", str(p), "--item-column", "title", "--target-column", "rating",
               "--run-dir", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--target-column: column 'rating' is not in" in err
    rc = main(["fit", "--items-file", str(p), "--item-column", "title", "--run-dir", str(tmp_path / "r2")])
    assert rc == 2 and "--item-column/--target-column" in capsys.readouterr().err
    rc = main(["fit", "--run-dir", str(tmp_path / "r3")])
    assert rc == 2 and "--dataset" in capsys.readouterr().err
    rc = main(["fit", "--resume", "--run-dir", str(tmp_path / "nothing")])
    assert rc == 2 and "--resume" in capsys.readouterr().err
    rc = main(["fit", "--dataset", "binary", "--model", "bogus:", "--run-dir", str(tmp_path / "r4")])
    assert rc == 2 and "--model" in capsys.readouterr().err
    rc = main(["fit", "--dataset", "houses", "--data-dir", str(tmp_path / "nowhere"), "--run-dir",
               str(tmp_path / "r5")])
    assert rc == 2 and "--data-dir" in capsys.readouterr().err


def test_dry_run_sends_nothing_and_prices_a_provider(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    p = _csv(tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-NOT-A-REAL-KEY")
    rc = main(["fit", "--items-file", str(p), "--item-column", "title,year", "--target-column", "score", "--model",
               "anthropic:claude-sonnet-4-5", "--base-url", "http://127.0.0.1:9", "--algorithm", "1", "--cycles", "3",
               "--dry-run", "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "plan: 3 mined feature(s)" in out and "each judged on 5 items" in out
    # one batch of 5 items per feature (batch size 20): 3 judge calls + 3 mine calls
    assert "about 6 calls" in out
    assert not (tmp_path / "run").exists()  # a dry run writes nothing
