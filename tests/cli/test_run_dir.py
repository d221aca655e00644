"""What a run directory guarantees under faults (issue 9, items 2, 4 and 5; docs/run_directory.md):
one writer at a time (two real processes), a stale lock after kill -9 does not block --resume,
a read-only run directory and a full disk give clear errors and leave valid files, and
``--resume`` with new flags extends (``--cycles``) or refuses, listing the differences."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genz_pyro.discovery.history import RunHistory

# a small Algorithm 1 run on planted records (seconds); eps and ridge are given, so the plan ends
# at its last step (no treatment check on validation: see the test of an extension with one)
FIT = ["fit", "--dataset", "planted", "--n-items", "120", "--planted-features", "3", "--algorithm", "1",
       "--cycles", "4", "--seed", "2", "--eps", "learned", "--ridge", "0", "--no-progress"]


def _cmd() -> list[str]:
    script = Path(sys.executable).with_name("genz")
    return [str(script)] if script.exists() else [sys.executable, "-m", "genz_pyro.cli"]


def _run(args: list[str], cwd: Path, *, prefix: list[str] = (), **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *_cmd(), *args], cwd=cwd, capture_output=True, text=True, timeout=600, **kw)


def _comparable(run: Path) -> list[dict]:
    return [r.comparable() for r in RunHistory.load(run / "history.jsonl")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run of FIT (4 cycles)."""
    root = tmp_path_factory.mktemp("reference")
    r = _run(FIT + ["--run-dir", "run"], root)
    assert r.returncode == 0, r.stderr
    return root / "run"


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the first process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ------------------------------------------------------------------ item 2: the lock
def test_two_processes_on_one_run_dir_one_is_refused_naming_the_holder(tmp_path: Path) -> None:
    fifo = tmp_path / "calls.fifo"
    os.mkfifo(fifo)  # the first run blocks at its first call-log write (nobody reads), holding the lock
    first = subprocess.Popen(_cmd() + FIT + ["--run-dir", "run", "--call-log", str(fifo)], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: (tmp_path / "run" / "config.json").exists(), first, "the run started")
        # the same command again, and a --resume: both refused at once, naming the first process
        for extra in ([], ["--resume"]):
            args = (["fit", "--run-dir", "run", "--no-progress"] + extra) if extra else FIT + ["--run-dir", "run"]
            second = _run(args, tmp_path)
            assert second.returncode == 2, second.stderr
            assert f"pid {first.pid}" in second.stderr and "--run-dir" in second.stderr, second.stderr
            assert "Traceback" not in second.stderr
        assert first.poll() is None  # the holder was not disturbed
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    # the killed holder left its lock file (with its pid) behind: it does not block --resume
    assert json.loads((tmp_path / "run" / "run.lock").read_text())["pid"] == first.pid
    r = _run(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(RunHistory.load(tmp_path / "run" / "history.jsonl")) == 4


def test_the_lock_is_reentrant_in_a_process_and_exclusive_across_processes(tmp_path: Path) -> None:
    from genz_pyro.discovery.lock import RunDirBusyError, RunLock

    with RunLock(tmp_path / "r") as outer, RunLock(tmp_path / "r"):
        assert outer.held
        code = ("import sys; from genz_pyro.discovery.lock import RunLock, RunDirBusyError\n"
                "try:\n    RunLock(sys.argv[1]).acquire()\nexcept RunDirBusyError as e:\n"
                "    print(e.holder['pid']); sys.exit(7)\n")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], capture_output=True, text=True,
                               timeout=120)
        assert other.returncode == 7 and int(other.stdout) == os.getpid(), other.stderr
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], capture_output=True, text=True,
                           timeout=120)
    assert other.returncode == 0, other.stderr  # released when the last holder let go
    assert issubclass(RunDirBusyError, ValueError)


# ------------------------------------------------------------------ item 5: --resume with new flags
def test_resume_with_more_cycles_extends_a_finished_run_to_the_longer_run(reference: Path, tmp_path: Path) -> None:
    short = [a if a != "4" else "2" for a in FIT]  # --cycles 2
    r = _run(short + ["--run-dir", "run"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(RunHistory.load(tmp_path / "run" / "history.jsonl")) == 2
    r = _run(["fit", "--run-dir", "run", "--resume", "--cycles", "4", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    # the extended run records exactly the steps of an uninterrupted 4-cycle run
    assert _comparable(tmp_path / "run") == _comparable(reference)
    assert (tmp_path / "run" / "features.json").read_text() == (reference / "features.json").read_text()
    assert json.loads((tmp_path / "run" / "cli.json").read_text())["cycles"] == 4
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 4
    # a later plain --resume continues nothing more; fewer cycles than made are refused
    r = _run(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path)
    assert r.returncode == 0 and len(RunHistory.load(tmp_path / "run" / "history.jsonl")) == 4
    r = _run(["fit", "--run-dir", "run", "--resume", "--cycles", "3", "--no-progress"], tmp_path)
    assert r.returncode == 2 and "--cycles: the run has already made 4 steps" in r.stderr, r.stderr
    assert json.loads((tmp_path / "run" / "cli.json").read_text())["cycles"] == 4  # unchanged by the refusal


def test_resume_with_more_cycles_extends_a_run_that_ended_with_a_treatment_check(tmp_path: Path) -> None:
    # eps and ridge "auto" (the default): each plan ends with a treatment check on validation,
    # recorded as a "select" step; an extension continues after it and ends with its own check
    args = [a for a in FIT if a not in ("--eps", "learned", "--ridge", "0")]
    args = [a if a != "4" else "2" for a in args]  # --cycles 2
    r = _run(args + ["--run-dir", "run"], tmp_path)
    assert r.returncode == 0, r.stderr
    first = RunHistory.load(tmp_path / "run" / "history.jsonl").records
    assert [r.algorithm for r in first] == ["alg1", "alg1", "treatment"], [r.algorithm for r in first]
    r = _run(["fit", "--run-dir", "run", "--resume", "--cycles", "4", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    records = RunHistory.load(tmp_path / "run" / "history.jsonl").records
    assert [r.comparable() for r in records[:3]] == [r.comparable() for r in first]  # nothing rewritten
    assert [r.algorithm for r in records] == ["alg1", "alg1", "treatment", "alg1", "alg1", "treatment"]
    assert [r.plan_pos for r in records[3:]] == [2, 3, 4]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 6
    r = _run(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path)  # nothing more to do
    assert r.returncode == 0 and len(RunHistory.load(tmp_path / "run" / "history.jsonl")) == 6


def test_resume_refuses_settings_that_cannot_change_listing_them(reference: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from genz_pyro.cli import main

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    before = (run / "history.jsonl").read_bytes(), (run / "cli.json").read_bytes()
    capsys.readouterr()
    rc = main(["fit", "--run-dir", str(run), "--resume", "--algorithm", "2", "--seed", "5", "--model",
               "openai:gpt-4.1", "--cycles", "5", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    for part in ("--algorithm 2 (the run: 1)", "--seed 5 (the run: 2)", "--model openai:gpt-4.1 (the run: offline)"):
        assert part in err, err
    assert "--cycles 5" not in err  # --cycles may change: not listed as a difference
    assert ((run / "history.jsonl").read_bytes(), (run / "cli.json").read_bytes()) == before
    # the same values as the run's are fine (nothing to change, nothing run)
    rc = main(["fit", "--run-dir", str(run), "--resume", "--algorithm", "1", "--seed", "2", "--no-progress"])
    assert rc == 0 and (run / "history.jsonl").read_bytes() == before[0]


def test_a_setting_added_later_is_refused_on_resume_unless_declared(tmp_path: Path) -> None:
    """The table is generic: every setting not declared in RESUME_CHANGEABLE is refused."""
    import argparse

    from genz_pyro.cli.common import CliError
    from genz_pyro.cli.resume import RESUME_CHANGEABLE, resume_settings
    from genz_pyro.cli.settings import SETTING_KEYS

    saved = {k: None for k in SETTING_KEYS} | {"dataset": "binary", "model": "offline", "link": "linear",
                                               "algorithm": 1, "cycles": 3, "n_add": 5, "n_remove": 2,
                                               "zero_shot_n": 40, "zero_shot_baseline": 0, "seed": 0,
                                               "metric": "r2", "cold_start": True, "refit_train_val": False}
    for key in ("link", "n_add", "engine", "eps", "item_fields"):
        assert key not in RESUME_CHANGEABLE
        value = {"link": "mlp", "n_add": 7, "engine": "sem", "eps": 0.01, "item_fields": "x"}[key]
        args = argparse.Namespace(**{**saved, key: value, "given": {key}})
        with pytest.raises(CliError, match="cannot change when it continues: " + key.replace("_", "-").join(["--", " "])):
            resume_settings(args, saved)
    args = argparse.Namespace(**{**saved, "cycles": 6, "given": {"cycles"}})
    merged, changed = resume_settings(args, saved)
    assert changed == {"cycles"} and merged["cycles"] == 6


# ------------------------------------------------------------------ item 4: a read-only run directory
def _unshare_works() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt && umount /mnt"], capture_output=True)
    return r.returncode == 0


def _read_only(path: Path) -> list[str]:
    """A command prefix running the command with ``path`` mounted read-only (a private mount
    namespace: a real EROFS, which root's bypass of permission bits does not defeat)."""
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(path)]


@pytest.mark.skipif(not _unshare_works(), reason="needs root and unshare(1) for a read-only bind mount")
def test_a_read_only_run_dir_names_the_cause_and_throws_nothing_away(reference: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    with open(run / "history.jsonl", "ab") as fh:
        fh.write(b'{"step": 4, "act')  # a torn last line: a reader must not try to repair it
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    # --resume: the cause (a read-only file system) is named; no advice to move the cache away
    r = _run(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path, prefix=_read_only(run))
    assert r.returncode == 2, r.stderr
    assert "Read-only file system" in r.stderr and "--resume" in r.stderr, r.stderr
    assert "move it away" not in r.stderr and "Traceback" not in r.stderr
    # a new fit into a read-only place
    ro = tmp_path / "ro"
    ro.mkdir()
    r = _run(FIT + ["--run-dir", str(ro / "new")], tmp_path, prefix=_read_only(ro))
    assert r.returncode == 2 and "Read-only file system" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # genz report: names --out; with a writable --out it reads the run and writes the figures
    r = _run(["report", "run"], tmp_path, prefix=_read_only(run))
    assert r.returncode == 2 and "--out" in r.stderr and "Read-only file system" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = _run(["report", "run", "--out", str(tmp_path / "figures")], tmp_path, prefix=_read_only(run))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "figures" / "learning_curves.png").exists()
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing in the run was touched


def test_the_cache_on_a_read_only_file_names_the_permissions_not_move_it_away(tmp_path: Path) -> None:
    from genz_pyro.fm.cache import JudgmentCache

    code = ("import sys; from genz_pyro.fm.cache import JudgmentCache\n"
            "try:\n    JudgmentCache(sys.argv[1])\nexcept ValueError as e:\n    print(e); sys.exit(7)\n")
    path = tmp_path / "c" / "cache.sqlite"
    path.parent.mkdir()
    JudgmentCache(path).close()
    if not _unshare_works():
        pytest.skip("needs root and unshare(1) for a read-only bind mount")
    r = subprocess.run(_read_only(path.parent) + [sys.executable, "-c", code, str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 7, r.stderr
    assert "not writable" in r.stdout and "move it away" not in r.stdout, r.stdout


# ------------------------------------------------------------------ fault matrix: a full disk
def _limit_file_size(limit: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # a write past it fails with EFBIG
    return preexec


def test_a_full_disk_stops_the_run_with_a_clear_error_and_valid_files(reference: Path, tmp_path: Path) -> None:
    """RLIMIT_FSIZE in the child: a write that would grow a file past 96 KiB fails (``EFBIG``,
    sqlite's "disk I/O error"), as a write to a full disk fails. The cache (its write-ahead
    log) reaches it after the first step is recorded: the run stops there, naming the cause."""
    r = _run(FIT + ["--run-dir", "run"], tmp_path, preexec_fn=_limit_file_size(96 * 1024))
    assert r.returncode == 1, r.stderr
    assert "a full disk or a file-size limit" in r.stderr and "cache.sqlite" in r.stderr, r.stderr
    assert "--resume" in r.stderr and "Traceback" not in r.stderr, r.stderr
    run = tmp_path / "run"
    hist = RunHistory.load(run / "history.jsonl")
    assert 1 <= len(hist) < 4
    states = torch.load(run / "params.pt", weights_only=True)["states"]
    assert len(hist) - 1 in states and states[len(hist) - 1]["descriptions"] == hist[-1].features
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
    with sqlite3.connect(run / "cache.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    json.loads((run / "features.json").read_text())
    # with space again, --resume finishes the run: the same steps as the uninterrupted run
    r = _run(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert _comparable(run) == _comparable(reference)


# ------------------------------------------------------------------ item 7: a damaged cache
def test_a_damaged_cache_warns_once_with_the_count_and_the_fix(reference: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    lines = (run / "history.jsonl").read_bytes().splitlines(keepends=True)
    (run / "history.jsonl").write_bytes(b"".join(lines[:-1]))  # as if killed before the last step was recorded:
    plan = json.loads((run / "plan.json").read_text())        # it is redone on --resume
    (run / "plan.json").write_text(json.dumps({**plan, "done": False}))
    size = (run / "cache.sqlite").stat().st_size
    assert size > 12 * 4096
    with open(run / "cache.sqlite", "r+b") as fh:  # damage every page after the tables' root pages
        fh.seek(8 * 4096)
        fh.write(bytes(range(256)) * ((size - 8 * 4096) // 256))
    r = _run(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    damaged = [line for line in r.stderr.splitlines() if "is damaged" in line]
    assert len(damaged) == 2, r.stderr  # one warning when it is found, one count at the end
    assert "paid again" in damaged[0] and "move the file away" in damaged[0]
    assert damaged[1].startswith("warning: the cache") and "failed" in damaged[1] and "paid again" in damaged[1]
    assert re.search(r"\d+ reads", damaged[1]), damaged[1]
    # the redone step is the same step (the offline model answered again: calls, not cache hits)
    drop = lambda rs: [{k: v for k, v in r.items() if k != "usage"} for r in rs]  # noqa: E731
    assert drop(_comparable(run)) == drop(_comparable(reference))
    assert RunHistory.load(run / "history.jsonl")[-1].usage["calls"] > 0  # asked again, not served
