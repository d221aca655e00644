"""Exemplar sampling: group sizes, the agree/disagree mix, subgroups, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.discovery.exemplars import ExemplarConfig, sample_exemplars, split_by_posterior


def _q(n: int = 200, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).random(n))


def test_threshold_groups_respect_the_posterior_and_sizes() -> None:
    q = _q()
    split = sample_exemplars(q, config=ExemplarConfig(num_positive=7, num_negative=5), seed=3)
    assert split.positive.size == 7 and split.negative.size == 5
    assert (q[split.positive] > 0.5).all() and (q[split.negative] <= 0.5).all()
    assert split.num_positive_group == int((q > 0.5).sum())
    assert len(set(split.positive.tolist())) == 7  # no repeats


def test_small_group_gives_all_its_members() -> None:
    q = torch.zeros(50)
    q[[4, 9]] = 0.9
    split = sample_exemplars(q, config=ExemplarConfig(num_positive=10, num_negative=10), seed=0)
    assert split.positive.tolist() == [4, 9]
    assert split.negative.size == 10


def test_same_seed_same_exemplars_other_seed_differs() -> None:
    q = _q()
    a = sample_exemplars(q, seed=11)
    b = sample_exemplars(q, seed=11)
    c = sample_exemplars(q, seed=12)
    assert a.positive.tolist() == b.positive.tolist() and a.negative.tolist() == b.negative.tolist()
    assert a.positive.tolist() != c.positive.tolist()


def test_agree_disagree_mix_with_current_judgments() -> None:
    rng = np.random.default_rng(1)
    q = torch.as_tensor(rng.random(400))
    z = q.numpy() > 0.5
    s = z.copy()
    flip = rng.random(400) < 0.2  # the current wording is wrong on about 20% of the items
    s[flip] = ~s[flip]
    cfg = ExemplarConfig(num_positive=10, num_negative=10, disagree_fraction=0.4)
    split = sample_exemplars(q, config=cfg, judgments=s.astype(float), seed=5)
    for rows, label in ((split.positive, True), (split.negative, False)):
        assert (z[rows] == label).all()
        disagree = int((s[rows] != label).sum())
        assert disagree == 4  # round(0.4 * 10) from the disagreeing pool, 6 agreeing


def test_disagreeing_pool_too_small_is_topped_up_with_agreeing_items() -> None:
    q = torch.as_tensor(np.r_[np.full(30, 0.9), np.full(30, 0.1)])
    s = np.r_[np.ones(30), np.zeros(30)]
    s[0] = 0  # a single positive item disagrees
    split = sample_exemplars(q, config=ExemplarConfig(8, 8, disagree_fraction=0.5), judgments=s, seed=0)
    assert split.positive.size == 8 and 0 in split.positive.tolist()
    assert split.negative.size == 8


def test_candidates_restrict_the_exemplars() -> None:
    q = _q()
    cand = np.arange(100, 160)
    split = sample_exemplars(q, config=ExemplarConfig(5, 5), candidates=cand, seed=2)
    assert set(split.positive.tolist()) | set(split.negative.tolist()) <= set(cand.tolist())


def test_sample_mode_draws_from_the_posterior() -> None:
    q = torch.full((20000,), 0.3)
    z = split_by_posterior(q, mode="sample", seed=0)
    assert abs(z.mean() - 0.3) < 0.01
    assert split_by_posterior(q, mode="sample", seed=0).tolist() == z.tolist()


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="all 10 candidate items in one group"):
        sample_exemplars(torch.ones(10) * 0.9)
    with pytest.raises(ValueError, match="judgments"):
        sample_exemplars(_q(10), judgments=np.zeros(3))
    with pytest.raises(ValueError, match="candidates"):
        sample_exemplars(_q(10), candidates=[0, 12])
    with pytest.raises(ValueError, match="mode"):
        ExemplarConfig(mode="median")
    with pytest.raises(ValueError, match="num_positive"):
        ExemplarConfig(num_positive=0)
