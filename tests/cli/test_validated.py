"""`genz fit --validated`: the hand-tuned settings of earlier releases (an alias kept for reproducing
them; the defaults choose on validation themselves), explicit flags win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genz_pyro.cli import VALIDATED_SETTINGS, main, parse_args


@pytest.mark.parametrize("dataset", sorted(VALIDATED_SETTINGS))
def test_validated_fills_in_the_dataset_settings(dataset: str) -> None:
    args = parse_args(["fit", "--dataset", dataset, "--validated"])
    for key, value in VALIDATED_SETTINGS[dataset].items():
        assert getattr(args, key) == value, key


def test_explicit_flags_win_over_the_validated_settings() -> None:
    args = parse_args(["fit", "--dataset", "movies", "--validated", "--cycles", "5", "--ridge", "3"])
    assert (args.cycles, args.ridge, args.eps, args.algorithm) == (5, 3.0, 0.001, "1")
    plain = parse_args(["fit", "--dataset", "movies"])
    # the defaults untouched: the automatic loop, eps and ridge chosen on validation
    assert (plain.cycles, plain.ridge, plain.eps, plain.algorithm) == (None, "auto", "auto", "auto")


def test_validated_without_settings_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--dataset", "binary", "--validated"]) == 2
    err = capsys.readouterr().err
    assert "--validated" in err and "houses or movies" in err


def test_a_validated_run_stores_the_settings_for_resume(tmp_path: Path, shared_data: Path) -> None:
    run = tmp_path / "run"
    rc = main(["fit", "--dataset", "houses", "--data-dir", str(shared_data), "--validated", "--cycles", "2",
               "--run-dir", str(run), "--no-progress"])
    assert rc == 0
    cli = json.loads((run / "cli.json").read_text())
    assert (cli["algorithm"], cli["cycles"], cli["item_fields"], cli["eps"], cli["ridge"]) == (1, 2, "zipcode", 0.01, 1.0)
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["features"]) == 2
    assert [f["eps"] for f in summary["features"]] == pytest.approx([0.01, 0.01])
    assert "refit_train_val" in summary
