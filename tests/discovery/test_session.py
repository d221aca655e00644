"""Discovery runs: determinism, no peeking at held-out targets, the zero-shot baseline, errors."""

from __future__ import annotations

import numpy as np
import pytest

from genz_pyro.datasets.planted import make_planted
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.fm.offline import OfflineModel

from discovery_helpers import Counting, comparable

EXEMPLARS = ExemplarConfig(30, 30, confident=0.3)
FAST = {"tol": 1e-4}  # looser CAVI stopping rule: these tests are about bookkeeping


def _run(ds, seed: int) -> Discovery:
    d = Discovery(ds, OfflineModel(), seed=seed, exemplars=EXEMPLARS, fit_options=FAST)
    d.run(algorithm=4, cycles=2, n_add=3, n_remove=1)
    return d


def test_same_seed_same_history_step_for_step() -> None:
    ds = make_planted(300, seed=4)
    a, b, c = _run(ds, 0), _run(ds, 0), _run(ds, 1)
    assert [r.action for r in a.history].count("remove") == 2
    assert comparable(a.history) == comparable(b.history)
    assert comparable(a.history) != comparable(c.history)  # the seed matters (exemplar draws)


def test_held_out_targets_are_never_used() -> None:
    ds = make_planted(300, seed=5)
    shuffled = make_planted(300, seed=5)
    y = shuffled.targets.copy()
    for rows in (ds.val, ds.test):  # permute the validation and test targets
        y[rows] = y[rows[::-1]]
    shuffled.targets = y
    a = Discovery(ds, OfflineModel(), seed=0, exemplars=EXEMPLARS, fit_options=FAST)
    b = Discovery(shuffled, OfflineModel(), seed=0, exemplars=EXEMPLARS, fit_options=FAST)
    for d in (a, b):
        d.add_feature()
        d.add_feature(conditional=True)
    ra, rb = comparable(a.history, drop=("metric",)), comparable(b.history, drop=("metric",))
    assert ra == rb
    assert [r.metric["train"] for r in a.history] == [r.metric["train"] for r in b.history]
    assert a.history[-1].metric["test"] != b.history[-1].metric["test"]
    np.testing.assert_array_equal(a.predict(ds.test), b.predict(ds.test))


def test_zero_shot_prunes_and_selects_on_validation() -> None:
    ds = make_planted(400, seed=6)
    fm = Counting(OfflineModel())
    d = Discovery(ds, fm, seed=0, fit_options=FAST)
    sel = d.zero_shot(n=10, num_examples=20)
    recs = list(d.history)
    assert recs[0].action == "zero-shot" and recs[-1].action == "select"
    k0 = len(recs[0].features)
    assert 2 <= k0 <= 10
    assert [r.action for r in recs[1:-1]] == ["remove"] * (k0 - 1)
    assert [len(r.features) for r in recs[:-1]] == list(range(k0, 0, -1))
    path = recs[:-1]
    best = max(path, key=lambda r: (r.metric["val"], -r.step))
    assert sel.features == best.features == d.features
    assert sel.metric["val"] == pytest.approx(best.metric["val"], abs=0.02)  # refit from its judgments
    assert np.isfinite(sel.metric["test"])
    assert fm.calls["propose"] == 1 and fm.calls["mine"] == 0
    # the proposal saw training items only
    shown = set(recs[0].exemplars["positive"])
    assert shown and shown <= {ds.ids[i] for i in ds.train}


def test_predict_accepts_rows_ids_and_new_items() -> None:
    ds = make_planted(200, seed=7)
    d = Discovery(ds, OfflineModel(), seed=0)
    d.add_description(ds.extras["hidden"]["descriptions"][0])
    by_row = d.predict([0, 5])
    by_id = d.predict([ds.ids[0], ds.ids[5]])
    by_item = d.predict({"new0": ds.items[ds.ids[0]], "new5": ds.items[ds.ids[5]]})
    np.testing.assert_allclose(by_row, by_id)
    np.testing.assert_allclose(by_row, by_item)
    with pytest.raises(ValueError, match="unknown item id"):
        d.predict(["nope"])


def test_bad_arguments_name_the_fix(tmp_path) -> None:
    ds = make_planted(100, seed=8)
    with pytest.raises(ValueError, match="link"):
        Discovery(ds, OfflineModel(), link="cubic")
    with pytest.raises(ValueError, match="metric"):
        Discovery(ds, OfflineModel(), metric="accuracy")
    with pytest.raises(ValueError, match="model"):
        Discovery(ds, object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="algorithm"):
        Discovery(ds, OfflineModel()).run(algorithm=5, cycles=1)
    empty_val = make_planted(100, seed=8)
    empty_val.val = np.zeros(0, dtype=int)
    with pytest.raises(ValueError, match="validation split"):
        Discovery(empty_val, OfflineModel()).zero_shot(n=5)
    d = Discovery(ds, OfflineModel(), run_dir=tmp_path / "run")
    d.add_description(ds.extras["hidden"]["descriptions"][0])
    with pytest.raises(ValueError, match="resume"):
        Discovery(ds, OfflineModel(), run_dir=tmp_path / "run")
    with pytest.raises(ValueError, match="differs"):
        Discovery.resume(tmp_path / "run", make_planted(100, seed=9), OfflineModel())


def test_mlp_link_runs_and_restores_from_the_run_dir(tmp_path) -> None:
    ds = make_planted(120, seed=9)
    opts = {"max_sweeps": 2, "m_epochs": 1, "init_epochs": 2}  # plumbing, not accuracy
    d = Discovery(ds, OfflineModel(), link="mlp", engine="em", seed=0, fit_options=opts,
                  exemplars=ExemplarConfig(10, 10), run_dir=tmp_path / "run")
    rec = d.add_feature(conditional=True)
    assert rec.action == "add" and d.result is not None
    pred = d.predict(ds.test)
    assert np.all(np.isfinite(pred))
    back = Discovery.resume(tmp_path / "run", ds, OfflineModel())
    assert type(back.result.link) is type(d.result.link) and not back.result.link.training
    np.testing.assert_allclose(back.predict(ds.test), pred, rtol=1e-6, atol=1e-6)
