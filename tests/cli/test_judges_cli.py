"""`genz fit` with several judges: the flags are checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from genz_pyro.cli import main
from genz_pyro.cli.settings import fit_settings
from genz_pyro.cli.parser import build_parser


def _csv(tmp_path: Path) -> Path:
    p = tmp_path / "ints.csv"
    p.write_text("\n".join(["name,value"] + [f"{i},{i}" for i in range(16)]) + "\n")
    return p


def _args(tmp_path: Path, *flags: str) -> list[str]:
    return ["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
            "--run-dir", str(tmp_path / "r"), "--no-progress", "--algorithm", "1", "--cycles", "1", *flags]


def test_judge_model_given_several_times_is_the_runs_judge_then_further_judges(tmp_path: Path) -> None:
    args = build_parser().parse_args(_args(tmp_path, "--judge-model", "gguf:", "--judge-model", "offline",
                                           "--judge-model", "openai:m", "--judge-variant", "--shared-rates"))
    s = fit_settings(args)
    assert s["judge_model"] == "gguf:" and s["judges"] == ["offline", "openai:m"]
    assert s["judge_variant"] is True and s["shared_rates"] is True
    one = fit_settings(build_parser().parse_args(_args(tmp_path, "--judge-model", "gguf:")))
    assert one["judge_model"] == "gguf:" and one["judges"] == []


@pytest.mark.parametrize("flags, message", [
    (["--judge-variant"], "--judge-variant: the offline model parses only its own grammar"),
    (["--judge-model", "offline", "--judge-model", "offline"], "--judge-model: offline is the run's judge already"),
])
def test_bad_judge_flags_name_the_flag(tmp_path: Path, capsys, flags, message) -> None:
    assert main(_args(tmp_path, *flags)) == 2
    assert message in capsys.readouterr().err


def test_dry_run_with_a_local_judge_prices_judging_at_zero_and_counts_the_miners_calls(tmp_path: Path,
                                                                                      capsys) -> None:
    """A local judge has no provider plan: the dry run says judging is free (it used to fail with
    "OfflineModel has no plan_judge()"); a provider miner's calls are still counted, one a feature."""
    assert main(_args(tmp_path, "--judge-model", "offline", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "runs locally; no provider calls, cost $0.00" in out
    assert main(_args(tmp_path, "--model", "openai:gpt-4.1", "--judge-model", "offline", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "judge offline: runs locally; no provider calls for judging" in out
    assert "miner openai:gpt-4.1: about 1 calls (one a mined feature)" in out
    assert not (tmp_path / "r").exists()  # a dry run creates nothing
