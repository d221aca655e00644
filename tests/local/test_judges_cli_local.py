"""`genz fit --judge-model gguf: --judge-model offline --judge-variant`: the real small model is
the run's judge, the offline model and a paraphrase of the small model's question are further
judges; summary.json shows each judge's rates and calls, and a resume repeats no call."""

from __future__ import annotations

import json
from pathlib import Path

from genz_pyro.cli import main


def test_three_judges_through_the_command_line_then_resumed(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "ints.csv"
    csv.write_text("\n".join(["name,value"] + [f"{i},{i}" for i in range(16)]) + "\n")
    run, log = tmp_path / "run", tmp_path / "calls.jsonl"
    args = ["fit", "--items-file", str(csv), "--item-column", "name", "--target-column", "value",
            "--algorithm", "1", "--cycles", "1", "--min-activity", "0", "--judge-model", "gguf:",
            "--judge-model", "offline", "--judge-variant", "--run-dir", str(run), "--no-progress"]
    assert main(args + ["--call-log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "judges (mean error rate" in out and "variant(gguf:)" in out
    summary = json.loads((run / "summary.json").read_text())
    j = summary["judges"]
    small = json.loads((run / "config.json").read_text())["judge_model"]
    assert j["names"] == [small, "offline", "variant(gguf:)"]
    k = len(summary["features"])
    assert k >= 1 and len(j["rates"]) == 3 * k
    assert all(0.0 <= r["error"] <= 1.0 for r in j["rates"])
    assert j["usage"]["offline"]["calls"] == k and j["usage"]["variant(gguf:)"]["calls"] >= k
    asked = [json.loads(line).get("description", "") for line in log.read_text().splitlines()]
    assert any(a.startswith("Is the following true of the item? ") for a in asked)  # the paraphrase
    assert (run / "judges.json").exists()
    n = len(log.read_text().splitlines())
    assert main(["fit", "--run-dir", str(run), "--resume", "--no-progress", "--call-log", str(log)]) == 0
    assert len(log.read_text().splitlines()) == n  # every judge's answers came from the run's cache
