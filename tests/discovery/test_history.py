"""Run history: JSONL round trip, durability, torn-line repair, bad files."""

from __future__ import annotations

import math

import pytest

from genz_pyro.discovery.history import RunHistory, StepRecord


def _rec(step: int, **kw) -> StepRecord:
    base = dict(
        step=step,
        action="add",
        algorithm="alg1",
        feature=f"Integers with the 2^{step} bit set",
        exemplars={"positive": ["1", "3"], "negative": ["0", "2"]},
        eps=0.05,
        activity=0.5,
        features=["a", "b"],
        eps_all=[0.1, 0.05],
        metric={"train": 0.9, "val": float("nan"), "test": 0.8},
        bound=-12.5,
        usage={"calls": 2, "input_tokens": 10, "output_tokens": 3, "cost_usd": 0.0, "cache_hits": 0},
        time={"fit": 0.1, "fm": 0.2, "total": 0.3},
        seed=7,
    )
    base.update(kw)
    return StepRecord(**base)


def test_round_trip_on_disk(tmp_path) -> None:
    h = RunHistory(tmp_path / "history.jsonl")
    h.append(_rec(0))
    h.append(_rec(1, action="remove", algorithm="alg3", eps=float("nan")))
    back = RunHistory.load(tmp_path / "history.jsonl")
    assert len(back) == 2
    assert back[0].to_json() == h[0].to_json()
    assert math.isnan(back[0].metric["val"]) and math.isnan(back[1].eps)
    assert back[1].action == "remove"
    assert back.column("metric", "test") == [0.8, 0.8]
    assert back[0].comparable() == h[0].comparable() and "time" not in back[0].comparable()


def test_torn_last_line_is_cut_and_appending_continues(tmp_path) -> None:
    p = tmp_path / "history.jsonl"
    h = RunHistory(p)
    h.append(_rec(0))
    h.append(_rec(1))
    good = p.read_bytes()
    p.write_bytes(good + _rec(2).to_json().encode()[:40])  # killed mid-write
    back = RunHistory(p)
    assert len(back) == 2
    assert p.read_bytes() == good
    back.append(_rec(2))
    assert [r.step for r in RunHistory.load(p)] == [0, 1, 2]


def test_corrupt_middle_line_is_an_error(tmp_path) -> None:
    p = tmp_path / "history.jsonl"
    p.write_text(_rec(0).to_json() + "\n{not json\n" + _rec(2).to_json() + "\n")
    with pytest.raises(ValueError, match="line 2"):
        RunHistory.load(p)


def test_steps_must_be_consecutive(tmp_path) -> None:
    h = RunHistory()
    h.append(_rec(0))
    with pytest.raises(ValueError, match="step 2"):
        h.append(_rec(2))
    p = tmp_path / "h.jsonl"
    p.write_text(_rec(0).to_json() + "\n" + _rec(5).to_json() + "\n")
    with pytest.raises(ValueError, match="consecutive"):
        RunHistory.load(p)


def test_bad_action_and_missing_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="action"):
        _rec(0, action="mutate")
    with pytest.raises(ValueError, match="no run history"):
        RunHistory.load(tmp_path / "nope.jsonl")
