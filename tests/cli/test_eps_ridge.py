"""`genz fit --eps/--ridge`: fixed flip probabilities and a ridge on the feature weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.cli import main


def _csv(tmp_path: Path) -> Path:
    # y = 3 * bit2 - 2 * bit0 + 1 * bit4 + 0.5 (exact): the three bits rebuild every target
    rows = ["name,value"] + [f"{i},{3 * (i >> 2 & 1) - 2 * (i & 1) + (i >> 4 & 1) + 0.5}" for i in range(64)]
    p = tmp_path / "ints.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_fit_with_fixed_eps_and_ridge_records_them_and_holds_eps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rc = main(["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
               "--algorithm", "1", "--cycles", "3", "--eps", "0.001", "--ridge", "0.01", "--run-dir", str(run),
               "--no-progress"])
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["eps_fixed"] == 0.001 and cfg["fit_options"]["ridge"] == 0.01
    cli = json.loads((run / "cli.json").read_text())
    assert cli["eps"] == 0.001 and cli["ridge"] == 0.01  # kept for --resume
    summary = json.loads((run / "summary.json").read_text())
    assert [f["eps"] for f in summary["features"]] == pytest.approx([0.001] * 3)
    bits = sorted(int(f["description"].split("2^")[1][0]) for f in summary["features"])
    assert bits == [0, 2, 4]
    assert summary["scores"]["test"] > 0.99  # R^2 of held-out integers from their judgments


@pytest.mark.parametrize(
    "flags, message",
    [(["--eps", "0.5"], "--eps: must lie in"), (["--eps", "0"], "--eps: must lie in"),
     (["--ridge", "-1"], "--ridge: must be a finite number >= 0"),
     (["--ridge", "1", "--link", "mlp"], "--ridge: applies to the linear")],
)
def test_bad_eps_or_ridge_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                         message: str) -> None:
    rc = main(["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
               "--run-dir", str(tmp_path / "run"), "--no-progress", *flags])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # rejected before anything was written


def test_resume_keeps_the_fixed_eps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
            "--algorithm", "1", "--cycles", "3", "--eps", "0.02", "--run-dir", str(run), "--no-progress"]
    assert main(args) == 0
    first = json.loads((run / "summary.json").read_text())
    assert main(["fit", "--resume", "--run-dir", str(run), "--no-progress"]) == 0
    again = json.loads((run / "summary.json").read_text())
    assert again["features"] == first["features"]
    assert np.allclose([f["eps"] for f in again["features"]], 0.02)


def test_refit_train_val_flag_writes_the_refitted_test_score(tmp_path: Path) -> None:
    from genz_pyro.discovery import Discovery
    from genz_pyro.discovery.refit import refit_train_val
    from genz_pyro.fm.offline import OfflineModel
    from genz_pyro.tabular import load_table

    run = tmp_path / "run"
    csv = _csv(tmp_path)
    assert main(["fit", "--items-file", str(csv), "--item-column", "name", "--target-column", "value",
                 "--algorithm", "1", "--cycles", "2", "--eps", "0.001", "--refit-train-val", "--run-dir", str(run),
                 "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    # the same refit through the API on the resumed run gives the same number
    ds = load_table(str(csv), item_columns="name", target_columns="value", seed=0)
    d = Discovery.resume(run, ds, OfflineModel(), continue_run=False)
    assert summary["refit_train_val"]["test"] == pytest.approx(refit_train_val(d, seed=0)["test"], abs=1e-9)
    assert len(summary["features"]) == 2 and summary["refit_train_val"]["test"] < 0.99  # two of three bits


def test_min_activity_reaches_the_discovery_and_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    # the floor decides: what is kept is positive for >= 45% of the training items, and a mined
    # feature below it (kept under the default 0.02) is discarded for its activity
    assert main(["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
                 "--algorithm", "1", "--cycles", "2", "--min-activity", "0.45", "--run-dir", str(run),
                 "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["min_activity"] == 0.45
    hist = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert all(h["activity"] >= 0.45 for h in hist if h["action"] == "add")
    low = [h for h in hist if h["action"] == "discard"]
    assert low and all(h["reason"] == "activity" and 0.02 <= h["activity"] < 0.45 for h in low)
    rc = main(["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
               "--min-activity", "0.6", "--run-dir", str(tmp_path / "bad"), "--no-progress"])
    assert rc == 2 and "--min-activity: must lie in [0, 0.5)" in capsys.readouterr().err
