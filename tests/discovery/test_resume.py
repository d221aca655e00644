"""Resume: a run killed at any point continues from its run directory with the same
history and no repeated foundation-model call (answers come from cache.sqlite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from genz_pyro.datasets.planted import make_planted
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.fm.offline import OfflineModel

from discovery_helpers import CrashAt, Counting, SimulatedCrash, comparable

N, DATA_SEED = 300, 11
EXEMPLARS = ExemplarConfig(30, 30, confident=0.3)
FAST = {"tol": 1e-4}
PLAN = dict(algorithm=4, cycles=2, n_add=2, n_remove=1)  # add add remove add add remove


def _dataset():
    return make_planted(N, seed=DATA_SEED)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run and its inner model's call counts."""
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    fm = Counting(OfflineModel())
    d = Discovery(_dataset(), fm, seed=0, exemplars=EXEMPLARS, fit_options=FAST, run_dir=run_dir)
    d.run(**PLAN)
    return d, fm, run_dir


def _same_run(ref_dir: Path, other_dir: Path, ref: Discovery, other: Discovery) -> None:
    # identical steps (usage and wall times differ: the redone step's calls were cache hits)
    assert comparable(ref.history, drop=("usage",)) == comparable(other.history, drop=("usage",))
    on_disk = [json.loads(line) for line in (other_dir / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in on_disk] == list(range(len(ref.history)))
    assert (ref_dir / "features.json").read_text() == (other_dir / "features.json").read_text()
    assert (ref_dir / "predictions.csv").read_text() == (other_dir / "predictions.csv").read_text()
    assert torch.equal(ref.result.q, other.result.q)
    assert ref.features == other.features


def test_reference_run_layout(reference) -> None:
    d, fm, run_dir = reference
    for name in ("config.json", "history.jsonl", "params.pt", "plan.json", "features.json",
                 "predictions.csv", "cache.sqlite"):
        assert (run_dir / name).exists(), name
    assert [r.action in ("add", "discard") for r in d.history] == [True, True, False, True, True, False]
    assert json.loads((run_dir / "plan.json").read_text())["done"] is True
    feats = json.loads((run_dir / "features.json").read_text())
    assert [f["description"] for f in feats] == d.features


@pytest.mark.parametrize("crash_at", [4, 6])  # at the judge call of step 1 / step 3 (mine cached)
def test_resume_after_a_crash_repeats_no_call(reference, tmp_path, crash_at) -> None:
    ref, ref_fm, ref_dir = reference
    run_dir = tmp_path / "run"
    first = CrashAt(OfflineModel(), at=crash_at)
    d = Discovery(_dataset(), first, seed=0, exemplars=EXEMPLARS, fit_options=FAST, run_dir=run_dir)
    with pytest.raises(SimulatedCrash):
        d.run(**PLAN)
    done = len(d.history)
    assert 0 < done < len(ref.history)

    second = Counting(OfflineModel())
    resumed = Discovery.resume(run_dir, _dataset(), second)
    _same_run(ref_dir, run_dir, ref, resumed)
    # every inner call of the uninterrupted run was made exactly once over the two processes
    for op in ("mine", "judge"):
        assert first.calls[op] + second.calls[op] == ref_fm.calls[op], op
    assert resumed.model.usage.cache_hits >= 1  # the in-flight mine call came from the cache

    # resuming a finished run does nothing and makes no call
    third = Counting(OfflineModel())
    again = Discovery.resume(run_dir, _dataset(), third)
    assert len(again.history) == len(ref.history) and sum(third.calls.values()) == 0


# The victim runs with one torch thread like the reference (tests/conftest.py): float sums
# split over another number of threads round differently, and on a CPU without AVX-512
# (ATEN_CPU_CAPABILITY=default) two threads changed step 3's exemplars. A resume reproduces
# the run bit for bit on the same CPU with the same thread count (docs/run_directory.md).
_SCRIPT = """
import os, signal, sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from genz_pyro.datasets.planted import make_planted
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.discovery import history as history_module
from genz_pyro.fm.offline import OfflineModel
from discovery_helpers import Counting

mode, at = sys.argv[1], int(sys.argv[2])

class KillAt(Counting):
    n = 0
    async def ajudge(self, description, items):
        KillAt.n += 1
        if mode == "call" and KillAt.n == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().ajudge(description, items)

if mode == "append":  # die while appending record `at`, after params.pt was written
    original = history_module.RunHistory.append
    def append(self, record):
        if record.step == at:
            with open(self.path, "a") as fh:
                fh.write(record.to_json()[:25])  # a torn line
                fh.flush()
                os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, record)
    history_module.RunHistory.append = append

if mode == "outputs":  # die while writing features.json of step `at` (its record is on disk)
    from genz_pyro.discovery import persist
    original_outputs = persist.write_outputs
    def write_outputs(run_dir, **kw):
        with open(os.path.join(run_dir, "history.jsonl")) as fh:
            if len(fh.read().splitlines()) == at + 1:
                os.kill(os.getpid(), signal.SIGKILL)
        original_outputs(run_dir, **kw)
    persist.write_outputs = write_outputs

d = Discovery(make_planted({n}, seed={seed}), KillAt(OfflineModel()), seed=0,
              exemplars=ExemplarConfig(30, 30, confident=0.3), fit_options={{"tol": 1e-4}}, run_dir=sys.argv[3])
d.run(algorithm=4, cycles=2, n_add=2, n_remove=1)
"""


@pytest.mark.parametrize("mode,at", [("call", 2), ("append", 3), ("outputs", 5)])
def test_resume_after_sigkill(reference, tmp_path, mode, at) -> None:
    ref, _, ref_dir = reference
    script = tmp_path / "victim.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(tests=str(Path(__file__).parent), n=N, seed=DATA_SEED)))
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2])] + sys.path))
    proc = subprocess.run([sys.executable, str(script), mode, str(at), str(run_dir)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    lines = (run_dir / "history.jsonl").read_bytes()
    if mode == "append":
        assert not lines.endswith(b"\n")  # the torn record is on disk
    second = Counting(OfflineModel())
    resumed = Discovery.resume(run_dir, _dataset(), second)
    _same_run(ref_dir, run_dir, ref, resumed)
    if mode == "append":  # step 3 was finished but not recorded: redone from the cache
        assert second.calls["mine"] + second.calls["judge"] == sum(
            r.usage["calls"] for r in ref.history.records[4:]
        )


def test_resume_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="no discovery run"):
        Discovery.resume(tmp_path, _dataset(), OfflineModel())


def test_zero_shot_resumes_mid_pruning_without_calls(tmp_path, monkeypatch) -> None:
    ds = make_planted(300, seed=6)
    ref_fm = Counting(OfflineModel())
    ref = Discovery(ds, ref_fm, seed=0, fit_options=FAST, run_dir=tmp_path / "a")
    ref.zero_shot(n=8, num_examples=20)

    original = Discovery.remove_feature
    count = {"n": 0}

    def dying(self, **kw):
        count["n"] += 1
        if count["n"] == 3:  # the process dies in the third pruning step
            raise SimulatedCrash("simulated crash while pruning")
        return original(self, **kw)

    monkeypatch.setattr(Discovery, "remove_feature", dying)
    first = Counting(OfflineModel())
    d = Discovery(ds, first, seed=0, fit_options=FAST, run_dir=tmp_path / "b")
    with pytest.raises(SimulatedCrash):
        d.zero_shot(n=8, num_examples=20)
    monkeypatch.setattr(Discovery, "remove_feature", original)

    second = Counting(OfflineModel())
    resumed = Discovery.resume(tmp_path / "b", ds, second)
    assert comparable(ref.history, drop=("usage",)) == comparable(resumed.history, drop=("usage",))
    assert resumed.features == ref.features and resumed.history[-1].action == "select"
    assert first.calls == ref_fm.calls and sum(second.calls.values()) == 0
