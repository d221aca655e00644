"""bench/bench_inference.py runs end to end with tiny settings (the figures are in BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_inference_smoke(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_inference.py"),
            "--configs",
            "64,3,2",
            "--engines",
            "lstsq,cavi,sem",
            "--max-sweeps",
            "20",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert [r["engine"] for r in rows] == ["lstsq", "cavi", "sem"]
    assert all("error" not in r and r["maxrss_mb"] > 0 for r in rows)
    assert all(r["eps_err_max"] < 0.5 for r in rows[1:])
    assert "| 64 | 3 | 2 | cavi |" in proc.stdout
