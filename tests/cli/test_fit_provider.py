"""`genz fit` with a provider model (the real OpenAI SDK against the local fake provider):
a provider fault in the middle of a run, then ``--resume``; a kill with calls in flight,
then a summary that counts every call the server received (issue 9, item 7 and the
fault matrix)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fm"))
from servers import Fault, FakeProvider  # noqa: E402

from genz_pyro.discovery.history import RunHistory  # noqa: E402

KEY = "sk-test-NOT-A-REAL-KEY-fit-0123456789"
FIT = ["fit", "--dataset", "planted", "--n-items", "60", "--planted-features", "2", "--algorithm", "1",
       "--cycles", "3", "--seed", "3", "--no-progress", "--model", "openai:gpt-4.1"]


def _oracle(description: str, text: str) -> bool:
    """A deterministic judge: about a third of the items hold each description."""
    return zlib.crc32(f"{description}|{text}".encode()) % 3 == 0


def _cmd() -> list[str]:
    script = Path(sys.executable).with_name("genz")
    return [str(script)] if script.exists() else [sys.executable, "-m", "genz_pyro.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["OPENAI_API_KEY"] = KEY
    return env


def _fit(args: list[str], cwd: Path, server: FakeProvider) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd() + args + ["--base-url", server.url + "/v1"], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=_env())


def _answered(server: FakeProvider) -> list[str]:
    """The request bodies the server answered with a model answer (paid calls)."""
    return [json.dumps(r.body, sort_keys=True) for r in server.model_calls() if r.response is not None]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("provider-ref")
    with FakeProvider(oracle=_oracle) as server:
        r = _fit(FIT + ["--run-dir", "run"], root, server)
        assert r.returncode == 0, r.stderr
        return root / "run", _answered(server)


def test_a_provider_fault_mid_run_then_resume_pays_no_call_twice(reference: tuple[Path, list[str]],
                                                                tmp_path: Path) -> None:
    ref_run, ref_calls = reference
    records = RunHistory.load(ref_run / "history.jsonl").records
    # the plan's three steps, then the treatment check on validation (eps and ridge are "auto")
    assert [r.algorithm for r in records][-1] == "treatment" and len(records) == 4 and len(ref_calls) >= 6
    with FakeProvider(oracle=_oracle) as server:
        # the 6th request on fails with 503, and tells the SDK not to retry (no backoff to wait out)
        server.faults = [Fault("pass")] * 5 + [Fault("status", 503, {"x-should-retry": "false"},
                                                     error_type="overloaded_error")] * 1000
        r = _fit(FIT + ["--run-dir", "run"], tmp_path, server)
        assert r.returncode == 3, r.stderr
        assert "503" in r.stderr and "--resume" in r.stderr and "Traceback" not in r.stderr, r.stderr
        first = _answered(server)
        assert len(first) == 5
        server.faults = []
        r = _fit(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path, server)
        assert r.returncode == 0, r.stderr
        second = _answered(server)[5:]
    # the same run as the uninterrupted one, and every answered call made exactly once
    ref = [x.comparable() for x in RunHistory.load(ref_run / "history.jsonl")]
    got = [x.comparable() for x in RunHistory.load(tmp_path / "run" / "history.jsonl")]
    drop = ("usage",)  # the resumed step's calls partly came from the cache
    assert [{k: v for k, v in x.items() if k not in drop} for x in got] == \
        [{k: v for k, v in x.items() if k not in drop} for x in ref]
    assert Counter(first + second) == Counter(ref_calls)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["usage"]["calls"] == len(ref_calls)  # counted over both processes


def test_calls_in_flight_when_killed_are_counted_as_paid(tmp_path: Path) -> None:
    """Killed while 8 calls (max_concurrency) are in flight at the server: the resumed
    summary counts every call the server received, the lost ones too."""
    args = FIT[:4] + ["400"] + FIT[5:] + ["--run-dir", "run"]  # 400 items: 20 judge calls a feature
    with FakeProvider(oracle=_oracle) as server:
        server.delay = 1.0
        proc = subprocess.Popen(_cmd() + args + ["--base-url", server.url + "/v1"], cwd=tmp_path, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while server.in_flight < 8:
                assert proc.poll() is None and time.monotonic() < deadline, "the run never had 8 calls in flight"
                time.sleep(0.01)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        while server.in_flight:  # the killed calls' requests end (the server answers into a closed socket)
            time.sleep(0.05)
        received = len(server.model_calls())
        server.delay = 0.0
        r = _fit(["fit", "--run-dir", "run", "--resume", "--no-progress"], tmp_path, server)
        assert r.returncode == 0, r.stderr
        total = len(server.model_calls())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["usage"]["calls"] == total  # every request the server received, in both processes
    assert summary["usage"]["in_flight_when_killed"] == 8
    assert total > received > 8
    assert "8 in flight when a process was killed" in r.stdout
