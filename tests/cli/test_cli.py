"""The `genz` command end to end: demo, fit, SIGKILL + --resume, report, a user's CSV."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from genz_pyro.discovery.history import RunHistory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# a small Algorithm 4 run on planted records: 2 cycles x (3 adds + 1 removal) = 8 steps, then the
# treatment of the last state chosen on validation (--eps/--ridge auto): one "select" record
FIT_ARGS = ["fit", "--dataset", "planted", "--n-items", "160", "--planted-features", "3", "--algorithm", "4",
            "--cycles", "2", "--n-add", "3", "--n-remove", "1", "--seed", "1", "--no-progress"]
N_STEPS = 9


def _cmd() -> list[str]:
    """The installed `genz` script next to this interpreter, else ``python -m genz_pyro.cli``."""
    script = Path(sys.executable).with_name("genz")
    return [str(script)] if script.exists() else [sys.executable, "-m", "genz_pyro.cli"]


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd() + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run (the reference of the resume test and the report's input)."""
    from genz_pyro.cli import main

    root = tmp_path_factory.mktemp("full")
    assert main(FIT_ARGS + ["--run-dir", str(root / "run"), "--call-log", str(root / "calls.jsonl")]) == 0
    return root


def test_demo_prints_the_nine_bits_and_the_exact_reconstruction(tmp_path: Path) -> None:
    r = _run(["demo", "--no-progress"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    feats = re.findall(r"^\s+\d\. (.+?)  eps", r.stdout, flags=re.MULTILINE)
    assert len(feats) == 9, r.stdout
    bits = sorted(int(m.group(1)) for f in feats if (m := re.search(r"2\^(\d) bit", f)))
    assert bits == list(range(9)), feats  # every binary digit once
    err = float(re.search(r"reconstruction over 512 items: max \|error\| ([0-9.e+-]+)", r.stdout).group(1))
    assert err < 0.01
    # coarse to fine (paper section 5.1): the first feature is the 2^8 bit
    assert "2^8" in feats[0]


def test_fit_writes_the_run_directory(full_run: Path) -> None:
    run = full_run / "run"
    for name in ("cli.json", "config.json", "history.jsonl", "params.pt", "features.json", "predictions.csv",
                 "cache.sqlite", "baselines.json", "summary.json"):
        assert (run / name).exists(), name
    hist = RunHistory.load(run / "history.jsonl")
    assert len(hist) == N_STEPS
    summary = json.loads((run / "summary.json").read_text())
    feats = json.loads((run / "features.json").read_text())
    assert [f["description"] for f in summary["features"]] == [f["description"] for f in feats] == hist[-1].features
    # the summary's calls are the calls that reached the model (the call log under the cache)
    assert summary["usage"]["calls"] == len(_calls(full_run / "calls.jsonl")) > 0
    # the planted signal is found: the test R^2 is far above the mean predictor's 0
    assert summary["scores"]["test"] > 0.4
    pred = (run / "predictions.csv").read_text().splitlines()
    assert pred[0] == "id,split,pred_0,target_0" and len(pred) == 161


def test_sigkill_then_resume_repeats_no_step_and_no_call(full_run: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(_cmd() + FIT_ARGS + ["--run-dir", "run", "--call-log", "calls.jsonl"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    hist = tmp_path / "run" / "history.jsonl"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if hist.exists() and hist.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(RunHistory.load(hist))
    assert 2 <= done_before < N_STEPS
    calls_before = _calls(tmp_path / "calls.jsonl")

    r = _run(["fit", "--run-dir", "run", "--resume", "--call-log", "calls2.jsonl", "--no-progress"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    resumed, ref = RunHistory.load(hist), RunHistory.load(full_run / "run" / "history.jsonl")

    def asked(record: dict) -> dict:
        """The record with its answers counted whether paid or served: a kill inside a step
        after one of its calls came back (and was cached) makes the redone step's usage one
        cache hit where the uninterrupted run has one call; no call is paid twice (below)."""
        usage = dict(record["usage"])
        usage["calls"] = usage["calls"] + usage.pop("cache_hits", 0)
        return {**record, "usage": usage}

    # the same steps (records without wall times) and so the same final features
    pairs = zip((asked(x.comparable()) for x in resumed), (asked(x.comparable()) for x in ref))
    diffs = [(a["step"], k, a[k], b[k]) for a, b in pairs for k in a if a[k] != b[k]]
    assert len(resumed) == len(ref) and not diffs, diffs[:5]
    assert json.loads((tmp_path / "run" / "features.json").read_text()) == \
        json.loads((full_run / "run" / "features.json").read_text())
    # no foundation-model call was made twice: killed + resumed calls = the uninterrupted run's calls
    calls_after = _calls(tmp_path / "calls2.jsonl")
    assert Counter(calls_before + calls_after) == Counter(_calls(full_run / "calls.jsonl"))
    assert len(calls_before) > 0 and len(calls_after) > 0
    # a second --resume of a finished run does nothing and calls nothing
    r = _run(["fit", "--run-dir", "run", "--resume", "--call-log", "calls3.jsonl", "--no-progress"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(RunHistory.load(hist)) == N_STEPS and _calls(tmp_path / "calls3.jsonl") == []
    # starting over in a used run directory is refused
    r = _run(FIT_ARGS + ["--run-dir", "run"], cwd=tmp_path)
    assert r.returncode == 2 and "--resume" in r.stderr


def test_report_writes_png_figures(full_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib.image as mpimg

    from genz_pyro.cli import main

    capsys.readouterr()
    assert main(["report", str(full_run / "run")]) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    assert sorted(p.name for p in paths) == ["eps.png", "feature_timeline.png", "learning_curves.png"]
    for p in paths:
        raw = p.read_bytes()
        assert raw[:8] == PNG_SIGNATURE and len(raw) > 5000
        img = mpimg.imread(str(p))
        rgb = np.round(img[..., :3] * 255).astype(np.int64).reshape(-1, 3)
        assert np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).size > 1
    assert main(["report", str(full_run / "nowhere")]) == 2
    assert "RUN_DIR" in capsys.readouterr().err


def test_fit_on_a_user_csv_rediscovers_the_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genz_pyro.cli import main

    rows = ["name,value"] + [f"{i},{i}" for i in range(64)]
    (tmp_path / "ints.csv").write_text("\n".join(rows) + "\n")
    # a fixed plan with the paper's treatment (the defaults' is in tests/cli/test_defaults.py)
    rc = main(["fit", "--items-file", str(tmp_path / "ints.csv"), "--item-column", "name", "--target-column",
               "value", "--algorithm", "1", "--cycles", "6", "--eps", "learned", "--ridge", "0", "--run-dir",
               str(tmp_path / "run"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    descs = [f["description"] for f in summary["features"]]
    assert sorted(int(re.search(r"2\^(\d)", d).group(1)) for d in descs) == list(range(6)), descs
    assert summary["scores"]["test"] > 0.99  # held-out integers predicted from their judgments
    assert "6 feature(s):" in out
