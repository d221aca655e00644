"""The final refit on train + validation rows (the baselines' protocol)."""

from __future__ import annotations

import numpy as np
import pytest

from genz_pyro.discovery import Discovery, refit_rows, refit_train_val
from genz_pyro.fm.offline import OfflineModel
from genz_pyro.metrics import r2_score

from discovery_helpers import integer_dataset

BITS = ("Integers with the 2^0 bit set", "Integers with the 2^3 bit set", "Integers with the 2^5 bit set")


def _run(eps_fixed: float | None = 0.001) -> tuple[Discovery, np.ndarray, np.ndarray]:
    x = np.arange(256)
    s = np.stack([(x >> b) & 1 for b in (0, 3, 5)], axis=1).astype(float)
    y = s @ np.array([1.0, -2.0, 0.7]) + 0.5 * np.random.default_rng(0).standard_normal(256)
    perm = np.random.default_rng(1).permutation(256)
    ds = integer_dataset(y, train=perm[:60], val=perm[60:160], test=perm[160:])
    d = Discovery(ds, OfflineModel(), seed=0, eps_fixed=eps_fixed)
    for desc in BITS:
        assert d.add_description(desc).action == "add"
    return d, s, y


def test_refit_train_val_scores_test_with_the_train_plus_val_regression() -> None:
    d, s, y = _run()
    got = refit_train_val(d)
    rows = np.concatenate([d.train, d.val])
    assert got["num_rows"] == 160
    a = np.hstack([s, np.ones((256, 1))])
    coef = np.linalg.lstsq(a[rows], y[rows], rcond=None)[0]
    expected = r2_score(a[d.test] @ coef, y[d.test])
    assert got["test"] == pytest.approx(expected, abs=1e-4)
    # and it differs from the train-only fit's test score (60 rows): the refit did use the new rows
    assert abs(got["test"] - d.metrics()["test"]) > 1e-4


def test_refit_rows_on_the_training_rows_reproduces_the_run_fit() -> None:
    d, _, _ = _run(eps_fixed=None)
    res = refit_rows(d, d.train)
    assert res is not None and d.result is not None
    w0 = d.result.link.feature_weight.detach()
    w1 = res.link.feature_weight.detach()
    assert float((w0 - w1).abs().max()) < 0.05 * float(w0.abs().max())


def test_refit_rows_rejects_bad_rows_and_handles_no_feature() -> None:
    d, _, _ = _run()
    with pytest.raises(ValueError, match="rows: need at least 2"):
        refit_rows(d, np.array([0]))
    with pytest.raises(ValueError, match="rows: indices"):
        refit_rows(d, np.array([0, 999]))
    empty = Discovery(d.dataset, OfflineModel(), seed=0)
    assert refit_rows(empty, d.train) is None
    rows = np.concatenate([d.train, d.val])
    y = np.asarray(d.dataset.targets)[:, 0]
    mean_pred = np.full((len(d.test), 1), y[rows].mean())
    assert refit_train_val(empty)["test"] == pytest.approx(r2_score(mean_pred, y[d.test][:, None]), abs=1e-6)
