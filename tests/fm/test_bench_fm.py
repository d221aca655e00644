"""bench/bench_fm.py runs end to end with --quick (the smoke run CI keeps alive)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_fm_quick():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_fm.py"), "--quick", "--concurrency", "4"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    # batched extraction: 500 items, B = 20 -> 25 calls per feature, equal to the dry run
    assert "| cold, batched B=20, concurrency 4: calls made (server count) | 50 (25/feature; bound ceil(N/B) = 25;" \
        " dry-run said 50) |" in out
    assert "| warm cache, CachedModel.judge: server requests | 0 |" in out
