"""The flip model against a useless judge: the offline model mines the binary features, the
real small model (nearly a constant judge: P(yes) ~ 0.7 for every item) judges them.

Binary data, 64 items (48 train / 16 test, seed 0), Algorithm 1 x 2, soft judgments, so
``fit``'s default Beta(1.3, 1.3) prior on eps (``eps_prior`` 0.3). Measured: features "2^5 bit
unset" (weight -0.004) and "greater than or equal to 35" (weight -30.8), eps 0.50 and 0.43; the
test predictions span 0.33 (sd(y) 18.5); test median absolute error 15.508 against 15.500 for
the training mean. The offline model judging the same features: eps at the 1e-3 floor.

Without the prior an unused feature's eps drifted to 0.018: the small model's P(yes) is nearly
constant (0.74 +- 0.03 over the training items), so the prior P(z = 1) = s + eps (1 - 2 s) is the
same for every item and eps only sets its base rate (0.5 at eps = 0.5, 0.74 at eps = 0); the M
step matches that rate to the mean of q, which y pins for a used feature (half the items: eps
~ 0.5) and nothing pins for an unused one. The prior settles such an eps at 0.5
(tests/infer/test_eps_prior.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from genz_pyro import GenZData, fit
from genz_pyro.datasets.binary import load_binary
from genz_pyro.discovery import Discovery
from genz_pyro.fm.gguf_backend import GGUFModel
from genz_pyro.fm.mixed import judgment_column
from genz_pyro.fm.offline import OfflineModel


def binary_split(bits: int, seed: int = 0):
    ds = load_binary(bits)
    n = len(ds.items)
    perm = np.random.default_rng(seed).permutation(n)
    return dataclasses.replace(ds, train=np.sort(perm[n // 4:]), test=np.sort(perm[: n // 4]))


@pytest.fixture(scope="module")
def useless_judge_run():
    ds = binary_split(6)
    judge = GGUFModel()  # soft one-item judgments (one slot: parallel slots are slower on 2 cores)
    try:
        disc = Discovery(ds, OfflineModel(), judge_model=judge, metric="median_absolute_error", seed=0)
        disc.run(1, 2)
    finally:
        judge.close()
    return ds, disc, judge


def test_the_flip_model_distrusts_a_useless_judge(useless_judge_run):
    ds, disc, judge = useless_judge_run
    assert len(disc.features) == 2 and disc.model.soft
    assert judge.usage.calls == 2 * len(ds.items)  # the small model judged every item of both features
    eps = disc.result.eps.double()
    y = ds.targets[:, 0]
    sd = float(y.std())
    weight = disc.result.link.weight.detach().double()[0, :2].abs()
    assert bool((eps >= 0.3).all()), (eps, weight)  # every learned eps: the useless judge is distrusted
    pred = disc.predict(list(ds.test))[:, 0]
    # the judge moves no prediction (measured spread 0.018 sd; a feature the judge informed
    # would move them by its weight, ~1.7 sd)
    assert float(pred.max() - pred.min()) <= 0.05 * sd
    mean_error = float(np.median(np.abs(y[ds.test] - y[ds.train].mean())))
    assert disc.metrics()["test"] <= 1.01 * mean_error  # no worse than the training mean (1% slack)


def test_the_same_features_judged_by_the_offline_model_are_trusted(useless_judge_run):
    ds, disc, _ = useless_judge_run
    ids = list(ds.items)
    offline = OfflineModel()
    s = np.stack([judgment_column(offline.judge(d, ds.items), ids, soft=False) for d in disc.features], 1)
    res = fit(GenZData.create(s[ds.train], ds.targets[ds.train]), engine="cavi", seed=0)
    assert bool((res.eps <= 0.01).all()), res.eps
