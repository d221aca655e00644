"""The automatic loop (``Discovery.run_auto``): it stops on validation, prunes, ends on the best
validation state, chooses the treatment without model calls, and resumes after a crash."""

from __future__ import annotations

import numpy as np
import pytest

from genz_pyro.datasets.base import split_indices
from genz_pyro.datasets.planted import make_planted
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.discovery import auto as auto_module
from genz_pyro.discovery import session as session_module
from genz_pyro.discovery.selection import Selection, val_score
from genz_pyro.fm.offline import OfflineModel

from discovery_helpers import CrashAt, Counting, SimulatedCrash, comparable, integer_dataset

FAST = {"tol": 1e-4}


def _noisy_bits(seed: int = 0):
    """120 integers, y = 10 bit6 + 6 bit5 + noise (SD 3): two features carry the signal; what the
    miner adds after them fits the 72 training items' noise and worsens validation."""
    rng = np.random.default_rng(seed)
    n = 120
    i = np.arange(n)
    y = 10.0 * (i >> 6 & 1) + 6.0 * (i >> 5 & 1) + 3.0 * rng.standard_normal(n)
    train, val, test = split_indices(n, test_fraction=0.2, val_fraction=0.25, seed=seed)
    return integer_dataset(y, train=train, val=val, test=test)


def test_a_run_whose_later_steps_worsen_validation_ends_on_the_best_state() -> None:
    d = Discovery(_noisy_bits(1), OfflineModel(), seed=0, selection=Selection(), fit_options=FAST)
    final = d.run_auto(12, patience=12, prune_patience=0)  # forced on: 12 additions whatever validation says
    states = [r for r in d.history if r.action == "add"]
    vals = [r.metric["val"] for r in states]
    best = int(np.argmax(vals))
    assert len(states) >= 4 and best < len(states) - 1
    assert min(vals[best + 1:]) < vals[best] - 0.02  # later steps do worsen validation (not vacuous)
    assert final.action == "select" and final.selection["phase"] == "final"
    assert final.selection["best_step"] == states[best].step
    assert sorted(d.features) == sorted(states[best].features)
    # the end state scores at least the best seen (its last treatment check may only improve it)
    assert final.metric["val"] >= vals[best] - 1e-9 and len(d.features) >= 1
    assert final.usage["calls"] == 0


def test_the_empty_model_competes_and_the_loop_stops_on_patience() -> None:
    rng = np.random.default_rng(3)
    y = rng.standard_normal(90)  # no signal: features only fit the training noise
    train, val, test = split_indices(90, test_fraction=0.2, val_fraction=0.25, seed=3)
    d = Discovery(integer_dataset(y, train=train, val=val, test=test), OfflineModel(), seed=0,
                  selection=Selection(), fit_options=FAST)
    empty_val = val_score(d, None)  # the training mean, the state before the loop
    d.run_auto(40, patience=3, prune_patience=2)
    assert sum(r.algorithm == "alg1" for r in d.history) < 40  # patience stopped the additions before the cap
    seen = [r.metric["val"] for r in d.history if r.action in ("add", "remove")]
    assert d.history[-1].metric["val"] >= max([empty_val] + seen) - 1e-9


def test_treatment_checks_make_no_model_call_and_trust_exact_judgments(monkeypatch) -> None:
    n = 256
    y = 3.0 * np.arange(n) + 7.0
    train, val, test = split_indices(n, test_fraction=0.2, val_fraction=0.2, seed=0)
    fm = Counting(OfflineModel())
    checks: list[tuple[dict, dict]] = []
    original = session_module.check_treatment

    def counted(disc, selection, **kw):
        before = dict(fm.calls)
        out = original(disc, selection, **kw)
        checks.append((before, dict(fm.calls)))
        return out

    monkeypatch.setattr(session_module, "check_treatment", counted)
    monkeypatch.setattr(auto_module, "check_treatment", counted)
    # a check after every accepted addition from the first, the learned eps fitted at each too
    d = Discovery(integer_dataset(y, train=train, val=val, test=test), fm, seed=0,
                  selection=Selection(first=1, growth=1.01, learned_in_path=True))
    d.run_auto(12, patience=3)
    assert len(checks) >= 8
    assert any("eps learned, ridge 0" in r.selection["scores"] for r in d.history if r.selection
               and r.selection.get("kind") == "treatment")
    assert all(before == after for before, after in checks)  # refits only: the judgments already paid for
    # exact judgments of the eight bits: the validation choice holds eps at the smallest value, no ridge
    assert sorted(int(f.split("2^")[1][0]) for f in d.features) == list(range(8))
    assert d.history[-1].spec == {"eps": 1e-6, "ridge": 0.0}
    err = np.abs(d.predict(list(test))[:, 0] - y[test])
    # eps 1e-6 x the summed |weights| (3 x 255) is 8e-4, float32 rounding of values near 772 ~1e-4 more;
    # with the learned eps's floor of 1e-3 the error would reach 0.77
    assert err.max() < 0.01


@pytest.fixture(scope="module")
def planted_reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("auto") / "run"
    fm = Counting(OfflineModel())
    d = Discovery(make_planted(300, num_features=4, seed=11), fm, seed=0,
                  exemplars=ExemplarConfig(30, 30, confident=0.3), fit_options=FAST, run_dir=run_dir,
                  selection=Selection())
    d.run_auto(8, patience=4, prune_patience=2)
    return d, fm, run_dir


def _resume_matches(planted_reference, run_dir, first) -> None:
    ref, ref_fm, _ = planted_reference
    second = Counting(OfflineModel())
    resumed = Discovery.resume(run_dir, make_planted(300, num_features=4, seed=11), second)
    assert comparable(ref.history, drop=("usage",)) == comparable(resumed.history, drop=("usage",))
    assert resumed.features == ref.features and resumed.history[-1].selection["phase"] == "final"
    for op in ("mine", "judge"):
        assert first.calls[op] + second.calls[op] == ref_fm.calls[op], op


@pytest.mark.parametrize("crash_at", [5, 11])
def test_the_automatic_loop_resumes_after_a_crash(planted_reference, tmp_path, crash_at) -> None:
    run_dir = tmp_path / "run"
    first = CrashAt(OfflineModel(), at=crash_at)
    d = Discovery(make_planted(300, num_features=4, seed=11), first, seed=0,
                  exemplars=ExemplarConfig(30, 30, confident=0.3), fit_options=FAST, run_dir=run_dir,
                  selection=Selection())
    with pytest.raises(SimulatedCrash):
        d.run_auto(8, patience=4, prune_patience=2)
    _resume_matches(planted_reference, run_dir, first)


def test_a_crash_between_a_new_best_and_its_saved_state_resumes(planted_reference, tmp_path, monkeypatch) -> None:
    ref = planted_reference[0]
    best = val_score(ref, None)  # the empty model's validation score starts the race
    improving = []
    for r in ref.history:
        if r.algorithm == "alg1" and r.action == "add" and r.metric["val"] > best:
            best = r.metric["val"]
            improving.append(r.step)
    assert len(improving) >= 2
    original = auto_module._save_best

    def dying(disc, state, start):
        if state.step == improving[1]:
            raise SimulatedCrash("killed after the record of a new best, before best.pt was written")
        original(disc, state, start)

    monkeypatch.setattr(auto_module, "_save_best", dying)
    first = Counting(OfflineModel())
    d = Discovery(make_planted(300, num_features=4, seed=11), first, seed=0,
                  exemplars=ExemplarConfig(30, 30, confident=0.3), fit_options=FAST, run_dir=tmp_path / "run",
                  selection=Selection())
    with pytest.raises(SimulatedCrash):
        d.run_auto(8, patience=4, prune_patience=2)
    assert len(d.history) == improving[1] + 1  # the record is on disk, best.pt still holds the older best
    monkeypatch.setattr(auto_module, "_save_best", original)
    _resume_matches(planted_reference, tmp_path / "run", first)
