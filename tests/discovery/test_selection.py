"""Treatments (flip probability, ridge) chosen on validation: the pieces of
``genz_pyro.discovery.selection`` and the screened Algorithm 3 of ``screening``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.datasets.base import split_indices
from genz_pyro.datasets.planted import make_planted
from genz_pyro.discovery import Discovery
from genz_pyro.discovery.algorithms import FitSpec, remove_step
from genz_pyro.discovery.screening import removal_bounds_at_q
from genz_pyro.discovery.selection import (
    Selection,
    Treatment,
    check_treatment,
    pooled,
    retired_eps,
    ridge_variant,
    treatment_settings,
    val_score,
)
from genz_pyro.fm.offline import OfflineModel

from discovery_helpers import Counting, integer_dataset


def test_treatment_labels_and_specs() -> None:
    spec = FitSpec(options={"tol": 1e-4, "ridge": 3.0}, eps_fixed=0.01)
    t = Treatment.of(spec)
    assert t == Treatment(0.01, 3.0) and t.label == "eps 0.01, ridge 3"
    learned = Treatment(None, 0.0).apply(spec)
    assert learned.eps_fixed is None and learned.options == {"tol": 1e-4}  # ridge 0: no option
    assert Treatment(1e-6, 10.0).apply(spec).options == {"tol": 1e-4, "ridge": 10.0}


def test_selection_schedule_and_validation() -> None:
    s = Selection()
    assert [n for n in range(1, 110) if s.checks_after(n)] == [9, 14, 21, 32, 48, 72, 108]
    every = Selection(first=1)
    assert [n for n in range(1, 50) if every.checks_after(n)] == [1, 2, 3, 4, 6, 9, 14, 21, 32, 48]
    assert s.initial() == Treatment(1e-2, 1.0)
    assert Selection(eps_grid=(0.01,), ridge_grid=(3.0,)).initial() == Treatment(0.01, 3.0)
    assert not Selection(eps_grid=(0.01,), ridge_grid=(3.0,)).active
    assert Selection.from_json(s.to_json()) == s
    with pytest.raises(ValueError, match="eps_grid"):
        Selection(eps_grid=(0.5,))
    with pytest.raises(ValueError, match="ridge_grid"):
        Selection(ridge_grid=(-1.0,))
    with pytest.raises(ValueError, match="eps_grid, ridge_grid"):
        Selection(eps_grid=())


def test_treatment_settings_from_user_values() -> None:
    auto = treatment_settings()
    assert auto["selection"] == Selection() and auto["eps_fixed"] is None
    held = treatment_settings(1e-6, 0)
    assert held == {"eps_fixed": 1e-6, "ridge": 0.0, "selection": None}
    only_ridge = treatment_settings("auto", 10)
    assert only_ridge["selection"].ridge_grid == (10.0,) and only_ridge["selection"].eps_grid == Selection().eps_grid
    learned = treatment_settings("learned", 1)
    assert learned["eps_fixed"] is None and learned["selection"] is None
    for bad in (0.0, 0.5, "often"):
        with pytest.raises(ValueError, match="eps:"):
            treatment_settings(bad, 0)
    with pytest.raises(ValueError, match="ridge:"):
        treatment_settings("auto", -1)


def test_pooled_evidence_centres_each_check_and_keeps_the_grid_order() -> None:
    checks = [{"a": 0.5, "b": 0.7, "c": 0.6}, {"a": 0.9, "b": 0.8, "c": 0.85}]
    got = pooled(checks, greater_is_better=True)
    # medians 0.6 and 0.85: a -> (-0.1 + 0.05) / 2, b -> (0.1 - 0.05) / 2, c -> 0
    assert list(got) == ["a", "b", "c"]
    assert got == pytest.approx({"a": -0.025, "b": 0.025, "c": 0.0})
    lower = pooled([{"a": 0.1, "b": 0.3}], greater_is_better=False)
    assert lower["a"] > lower["b"]  # an error metric: smaller is better
    assert pooled([{"a": None, "b": 1.0}, {"a": 0.5, "b": 0.2}], True) == {"b": 0.0}


def test_an_eps_value_last_in_three_checks_in_a_row_is_retired() -> None:
    c = {"eps learned, ridge 0": 0.1, "eps learned, ridge 1": 0.2, "eps 0.01, ridge 0": 0.5, "eps 1e-06, ridge 0": 0.4}
    assert retired_eps([c, c, c], True, 3) == {"eps learned"}
    assert retired_eps([c, c], True, 3) == set()  # too few checks
    flipped = {k: -v for k, v in c.items()}
    assert retired_eps([c, c, flipped], True, 3) == set()  # not last in every one
    assert retired_eps([flipped] * 3, False, 3) == {"eps learned"}  # smaller is better: -0.2 is the worst


def _exact_ints(n: int = 128):
    y = 3.0 * np.arange(n) + 7.0
    train, val, test = split_indices(n, test_fraction=0.2, val_fraction=0.2, seed=0)
    return integer_dataset(y, train=train, val=val, test=test), y


def test_ridge_variant_is_the_ridge_regression_on_the_posterior() -> None:
    ds, y = _exact_ints()
    d = Discovery(ds, OfflineModel(), seed=0, eps_fixed=1e-6)
    for k in (6, 4, 1):
        d.add_description(f"Integers with the 2^{k} bit set")
    data = d.train_data()
    q = d.result.q.detach().double().numpy()
    x = np.column_stack([q, np.ones(len(q))])
    for r in (0.0, 10.0):
        var = ridge_variant(d.result, data, r)
        pen = np.diag([r] * 3 + [0.0])
        # the mean-field normal equations: E[z z^T] has q on the diagonal (q (1 - q) ~ 0 here)
        xtx = x.T @ x
        np.fill_diagonal(xtx[:3, :3], q.sum(0))
        w = np.linalg.solve(xtx + pen, x.T @ y[ds.train])
        got = np.concatenate([var.link.weight.detach().double().numpy()[0], var.link.bias.detach().double().numpy()])
        assert got == pytest.approx(w, rel=1e-5, abs=1e-4)
    # a ridge shrinks the weights toward 0
    shrunk = ridge_variant(d.result, data, 100.0).link.weight.detach().abs().sum()
    assert float(shrunk) < float(d.result.link.weight.detach().abs().sum())


def test_check_treatment_trusts_exact_judgments_and_makes_no_call() -> None:
    ds, y = _exact_ints()
    fm = Counting(OfflineModel())
    d = Discovery(ds, fm, seed=0, selection=Selection(start=Treatment(None, 10.0)))
    for k in range(7):
        d.add_description(f"Integers with the 2^{k} bit set")
    calls = dict(fm.calls)
    before = val_score(d, d.result)
    info = check_treatment(d, d.selection, seed=0, final=True)
    assert fm.calls == calls
    assert info["chosen"] == {"eps": 1e-6, "ridge": 0.0} and d.spec.eps_fixed == 1e-6
    assert len(info["scores"]) == 20 and info["val_after"] > before
    assert val_score(d, d.result) == pytest.approx(info["val_after"])
    err = np.abs(d.predict(list(ds.test))[:, 0] - y[ds.test])
    assert err.max() < 0.01  # eps 1e-6 x (3 x 127) = 4e-4 plus float32 rounding


def test_screened_removal_bounds_are_lower_bounds_and_pick_the_same_feature() -> None:
    ds = make_planted(300, num_features=4, seed=2)
    d = Discovery(ds, OfflineModel(), seed=0, eps_fixed=0.001, fit_options={"ridge": 1.0, "tol": 1e-6})
    for desc in ds.extras["hidden"]["descriptions"]:
        d.add_description(desc)
    d.add_description("Has 3 or more bedrooms")
    data, res = d.train_data(), d.result
    approx = removal_bounds_at_q(data, res, ridge=1.0)
    exact = remove_step(data, res, d.spec, seed=0)
    assert np.all(approx <= np.asarray(exact.bounds) + 1e-6 * np.abs(approx))  # one M step: a lower bound
    screened = remove_step(data, res, d.spec, seed=0, screen=2)
    assert screened.index == exact.index
    assert torch.equal(screened.result.q, exact.result.q)


def test_a_median_metric_chooses_on_the_mean_of_the_same_errors() -> None:
    from genz_pyro.discovery.scoring import Scorer

    pred, target = np.array([[0.0], [1.0], [5.0]]), np.zeros((3, 1))
    med = Scorer.create("median_absolute_error")
    assert med(pred, target) == 1.0 and med.select_value(pred, target) == pytest.approx(2.0)
    assert med.criterion_name == "mean_absolute_error" and not med.greater_is_better
    rel = Scorer.create("median_relative_error")
    assert rel.select_value(pred, target) == pytest.approx(np.mean(np.abs(np.expm1([0.0, 1.0, 5.0]))))
    r2 = Scorer.create("r2")
    varied = np.array([[0.5], [1.0], [4.0]])
    assert r2.criterion is None and r2.select_value(pred, varied) == r2(pred, varied)

    ds, _ = _exact_ints()
    d = Discovery(ds, OfflineModel(), seed=0, metric="median_absolute_error", eps_fixed=1e-3)
    rec = d.add_description("Integers with the 2^6 bit set")
    p = d.predict(list(ds.val))
    assert rec.metric["val"] == pytest.approx(float(np.median(np.abs(p - ds.targets[ds.val]))))
    assert rec.metric["val_criterion"] == pytest.approx(float(np.mean(np.abs(p - ds.targets[ds.val]))))


def test_a_switch_must_beat_the_noise_of_the_comparison() -> None:
    rng = np.random.default_rng(0)
    n = 120
    y = rng.standard_normal(n)  # no signal: the treatments differ by noise only
    train, val, test = split_indices(n, test_fraction=0.2, val_fraction=0.3, seed=0)
    outcomes = {}
    for se in (0.0, 1e9):
        d = Discovery(integer_dataset(y, train=train, val=val, test=test), OfflineModel(), seed=0,
                      selection=Selection(switch_se=se))
        for k in range(5):
            d.add_description(f"Integers with the 2^{k} bit set")
        start = Treatment.of(d.spec)
        info = check_treatment(d, d.selection, seed=0, final=True)
        outcomes[se] = (start, Treatment(info["chosen"]["eps"], info["chosen"]["ridge"]), info)
    start, chosen, info = outcomes[0.0]
    assert chosen != start and info["val_after"] > info["val_before"]  # any gain switches
    start, chosen, info = outcomes[1e9]
    assert chosen == start and info["switch_se"] > 0  # no gain beats a billion standard errors


def test_the_learned_eps_competes_at_the_end_only_by_default() -> None:
    ds, _ = _exact_ints(256)
    d = Discovery(ds, OfflineModel(), seed=0, selection=Selection(first=1))
    d.run_auto(10, patience=2)
    path = [r.selection for r in d.history if r.selection and r.selection.get("kind") == "treatment"]
    final = d.history[-1].selection["treatment"]
    assert path and all(not any(k.startswith("eps learned") for k in c["scores"]) for c in path)
    assert any(k.startswith("eps learned") for k in final["scores"])
