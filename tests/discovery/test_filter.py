"""Bookkeeping of the add step: the 2% / 98% activity filter, duplicates, avoid lists.

The subject here is the loop's bookkeeping, so a tiny scripted foundation model
answers with fixed descriptions whose judgments are known sets of items.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from genz_pyro.discovery import Discovery, ExemplarConfig
import pytest

from genz_pyro.fm.errors import NoFeatureFoundError
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature

from discovery_helpers import integer_dataset

N = 400


class Scripted(FoundationModel):
    """Mines the next description of ``script``; judges by a fixed set of positive ids."""

    name = "scripted"

    def __init__(self, script: list[tuple[str, set[int]]]) -> None:
        super().__init__()
        self.script = list(script)
        self.truth = dict(script)
        self.avoid_seen: list[tuple[str, ...]] = []

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        self.usage.calls += 1
        pos = self.truth[description]
        return {i: Judgment(i, int(i) in pos) for i in items}

    async def amine(self, positives, negatives, *, avoid=()) -> MinedFeature:
        self.usage.calls += 1
        self.avoid_seen.append(tuple(avoid))
        return MinedFeature(self.script.pop(0)[0])

    async def apropose(self, task, examples, n):  # pragma: no cover - not used here
        raise AssertionError("propose is not part of this test")


def _y() -> np.ndarray:
    x = np.arange(N)
    return 5.0 * (x < 200) + 0.1 * np.random.default_rng(0).standard_normal(N)


def test_activity_filter_and_duplicates_discard_at_once() -> None:
    train = np.arange(0, N, 2)  # even rows; activity is measured on these only
    low = {0, 2, 4}  # 3 of 200 training items = 1.5% < 2%  (odd rows do not count)
    high = set(range(N)) - {10, 12}  # 198 of 200 = 99% > 98%
    high_ok = set(range(N)) - {10, 12, 14, 16, 18}  # 195 of 200 = 97.5%: kept
    script = [
        ("rare", low | set(range(1, N, 2))),  # many odd (non-training) rows positive: still 1.5% of train
        ("common", high),
        ("low half", set(range(200))),
        ("low half again", set(range(200))),  # same judgments as a current feature
        ("low half", set(range(200))),  # same text as a current feature
        ("almost all", high_ok),
    ]
    fm = Scripted(script)
    d = Discovery(integer_dataset(_y(), train=train), fm, seed=0, exemplars=ExemplarConfig(4, 4))
    recs = [d.add_feature() for _ in range(6)]
    assert [r.action for r in recs] == ["discard", "discard", "add", "discard", "discard", "add"]
    assert [r.reason for r in recs] == ["activity", "activity", "", "duplicate", "duplicate", ""]
    assert recs[0].activity == 0.015 and recs[1].activity == 0.99 and recs[5].activity == 0.975
    assert d.features == ["low half", "almost all"]
    assert d.judgments.shape == (N, 2)
    # a discard leaves the model as it was
    assert recs[1].features == [] and recs[3].features == ["low half"] and recs[3].bound == recs[2].bound
    # the miner is told to avoid current and discarded descriptions
    assert fm.avoid_seen[2] == ("rare", "common")
    assert fm.avoid_seen[5] == ("low half", "rare", "common", "low half again", "low half")
    # every step made exactly one mine and one judge call, recorded as a usage delta
    assert all(r.usage["calls"] == 2 for r in recs)


def test_custom_thresholds() -> None:
    fm = Scripted([("rare", {0, 1, 2, 3, 4, 5, 6, 7})])  # 2% of 400
    d = Discovery(integer_dataset(_y()), fm, seed=0, min_activity=0.05, exemplars=ExemplarConfig(4, 4))
    assert d.add_feature().reason == "activity"


class Speechless(Scripted):
    """Finds no description for its first split (as the offline miner can), then follows the script."""

    def __init__(self, script: list[tuple[str, set[int]]]) -> None:
        super().__init__(script)
        self.failed = False

    async def amine(self, positives, negatives, *, avoid=()) -> MinedFeature:
        if not self.failed:
            self.failed = True
            self.usage.calls += 1
            raise NoFeatureFoundError("exemplars: no description separates these groups")
        return await super().amine(positives, negatives, avoid=avoid)


def test_a_split_the_model_cannot_word_is_a_discarded_step_not_the_end_of_the_run() -> None:
    fm = Speechless([("low half", set(range(200)))])
    d = Discovery(integer_dataset(_y()), fm, seed=0, exemplars=ExemplarConfig(4, 4))
    first, second = d.add_feature(), d.add_feature()
    assert (first.action, first.reason, first.feature) == ("discard", "no-feature", "")
    assert first.features == [] and first.usage["calls"] == 1  # no judge call for a missing description
    assert len(first.exemplars["positive"]) == 4 and len(first.exemplars["negative"]) == 4
    assert (second.action, second.feature) == ("add", "low half")
    assert fm.avoid_seen == [()]  # the empty description is never passed on as one to avoid
    assert d.features == ["low half"]


def test_the_offline_miner_reports_a_split_it_cannot_word() -> None:
    from genz_pyro.fm.offline import OfflineModel

    with pytest.raises(NoFeatureFoundError, match="exemplars"):
        OfflineModel().mine({"a": "7"}, {"b": "7"})
