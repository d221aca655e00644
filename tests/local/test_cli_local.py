"""`genz fit --judge-model gguf: --soft/--no-soft`: the offline model mines, the real small model
judges; the run directory records the judge, a resume repeats no call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genz_pyro.cli import main


def _csv(tmp_path: Path) -> Path:
    rows = ["name,value"] + [f"{i},{i}" for i in range(16)]
    p = tmp_path / "ints.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_fit_mined_offline_and_judged_by_a_local_model_then_resumed(tmp_path: Path) -> None:
    run, log = tmp_path / "run", tmp_path / "calls.jsonl"
    args = ["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
            "--algorithm", "1", "--cycles", "1", "--judge-model", "gguf:", "--run-dir", str(run), "--no-progress",
            "--min-activity", "0"]
    assert main(args + ["--call-log", str(log)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["judge_model"].startswith("gguf:SmolLM2") and cfg["soft"] is True
    assert json.loads((run / "cli.json").read_text())["judge_model"] == "gguf:"
    ops = [json.loads(line)["op"] for line in log.read_text().splitlines()]
    assert ops.count("judge") >= 1 and ops.count("mine") >= 1
    n = len(ops)
    assert main(["fit", "--run-dir", str(run), "--resume", "--no-progress", "--call-log", str(log)]) == 0
    assert len(log.read_text().splitlines()) == n  # the resume is served by the cache


@pytest.mark.parametrize("flags, message", [
    (["--soft"], "--soft: offline gives no token log-probabilities"),
    (["--judge-model", "anthropic:claude-haiku-4-5", "--soft"], "--soft: anthropic"),
    (["--judge-model", "gguf:/no/such/file.gguf"], "--judge-model: path: no GGUF file"),
])
def test_bad_judging_flags_name_the_flag(tmp_path: Path, capsys, flags, message) -> None:
    rc = main(["fit", "--items-file", str(_csv(tmp_path)), "--item-column", "name", "--target-column", "value",
               "--run-dir", str(tmp_path / "r"), "--no-progress", *flags])
    assert rc == 2 and message in capsys.readouterr().err
