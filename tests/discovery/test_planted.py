"""Planted features: Algorithm 4 against ground truth (six hidden predicates plus noise)."""

from __future__ import annotations

import numpy as np
import pytest

from genz_pyro.datasets.planted import make_planted, oracle_r2
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.fm.offline import OfflineModel


def _matches(judgments: np.ndarray, hidden: np.ndarray, threshold: float = 0.95) -> set[int]:
    """Hidden predicates matched by a discovered feature (agreement with it or its negation)."""
    found = set()
    for j in range(judgments.shape[1]):
        s = judgments[:, j]
        for k in range(hidden.shape[1]):
            agree = float((s == hidden[:, k]).mean())
            if max(agree, 1 - agree) >= threshold:
                found.add(k)
    return found


@pytest.fixture(scope="module")
def planted_run():
    ds = make_planted(1000, seed=0)
    d = Discovery(
        ds,
        OfflineModel(),
        link="linear",
        seed=0,
        exemplars=ExemplarConfig(20, 20, confident=0.3),
        fit_options={"tol": 1e-4},
    )
    d.run(algorithm=4, cycles=2, n_add=5, n_remove=2)
    return ds, d


def test_algorithm4_finds_five_of_six_hidden_predicates(planted_run) -> None:
    ds, d = planted_run
    hidden = np.asarray(ds.extras["hidden"]["judgments"])
    found = _matches(d.judgments, hidden)
    assert len(found) >= 5, (d.features, found)
    # a random predicate of similar activity does not count as found (the check can fail)
    rng = np.random.default_rng(0)
    assert not _matches((rng.random((len(ds), 3)) < 0.3).astype(float), hidden)


def test_held_out_r2_is_within_0_05_of_the_oracle(planted_run) -> None:
    ds, d = planted_run
    r2 = d.metrics()["test"]
    oracle = oracle_r2(ds)
    assert r2 >= oracle - 0.05, (r2, oracle)
    assert r2 <= oracle + 0.05  # no better than the truth beyond noise: no peeking at test targets


def test_the_run_used_algorithm2_and_algorithm3(planted_run) -> None:
    _, d = planted_run
    algs = [r.algorithm for r in d.history]
    assert algs.count("alg3") == 4
    assert set(algs) == {"alg2", "alg3"}
    assert all(r.subgroup is not None for r in d.history if r.algorithm == "alg2")
