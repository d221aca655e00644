"""Mining by one model and judging by another (``judge_model``), and soft judgments in discovery."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pytest

from genz_pyro.datasets.binary import load_binary
from genz_pyro.discovery import Discovery
from genz_pyro.estimator import GenZRegressor
from genz_pyro.fm.mixed import MixedModel, judgment_column
from genz_pyro.fm.offline import OfflineModel
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment

from discovery_helpers import Counting


class Unsure(FoundationModel):
    """The offline model's answers with P(yes) 0.8 / 0.3 attached, as a soft judge would give."""

    soft = True

    def __init__(self) -> None:
        super().__init__()
        self.inner = OfflineModel()
        self.name = "unsure"

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        got = await self.inner.ajudge(description, items)
        return {i: Judgment(i, j.value, 0.8 if j.value else 0.3) for i, j in got.items()}

    async def amine(self, positives, negatives, *, avoid=()):
        raise AssertionError("the judge must not mine")

    async def apropose(self, task, examples, n):
        raise AssertionError("the judge must not propose")


def test_the_miner_mines_and_the_judge_judges():
    miner, judge = Counting(OfflineModel()), Counting(OfflineModel())
    disc = Discovery(load_binary(5), miner, judge_model=judge, seed=0)
    disc.run(1, 3)
    assert len(disc.features) == 3
    assert miner.calls == {"judge": 0, "mine": 3, "propose": 0}
    assert judge.calls["judge"] == 3 and judge.calls["mine"] == 0
    assert disc.model.usage.calls == 6  # both models' calls
    assert "(mining)" in disc._config()["model"] and disc._config()["judge_model"] == judge.name


def test_soft_judgments_enter_the_fit_as_probabilities_unless_turned_off():
    ds = load_binary(5)
    soft = Discovery(ds, OfflineModel(), judge_model=Unsure(), seed=0)
    soft.run(1, 2)
    assert set(np.unique(soft.judgments)) <= {0.3, 0.8} and soft.model.soft
    hard = Discovery(ds, OfflineModel(), judge_model=Unsure(), seed=0, soft=False)
    hard.run(1, 2)
    assert set(np.unique(hard.judgments)) <= {0.0, 1.0}
    assert hard.features == soft.features[: len(hard.features)] or hard.features  # both ran


def test_judgment_column_uses_the_probability_only_when_soft():
    answers = {"a": Judgment("a", True, 0.7), "b": Judgment("b", False, None)}
    assert judgment_column(answers, ["b", "a"], soft=True).tolist() == [0.0, 0.7]
    assert judgment_column(answers, ["b", "a"], soft=False).tolist() == [0.0, 1.0]


def test_a_resumed_run_needs_its_judge_and_repeats_no_call(tmp_path):
    ds = load_binary(5)
    judge = Counting(OfflineModel())
    Discovery(ds, OfflineModel(), judge_model=judge, seed=0, run_dir=tmp_path / "r").run(1, 2)
    with pytest.raises(ValueError, match="judge_model"):
        Discovery.resume(tmp_path / "r", ds, OfflineModel())
    again = Counting(OfflineModel())
    disc = Discovery.resume(tmp_path / "r", ds, OfflineModel(), judge_model=again)
    assert len(disc.features) == 2 and again.calls["judge"] == 0
    disc.run(1, 3)  # a new plan of three adds: each judged by the judge given on resume
    assert again.calls["judge"] == 3


def test_the_estimator_takes_a_judge_model():
    items, y = [str(i) for i in range(32)], list(range(32))
    judge = Counting(OfflineModel())
    # cache=False: the estimators' default cache is shared in the process (genz_pyro.shared_cache), so
    # answers another test already got for these numbers would be hits, and the count below would be 0
    reg = GenZRegressor("offline", judge_model=judge, algorithm=1, cycles=3, cache=False).fit(items, y)
    assert len(reg.features_) == 3 and judge.calls["judge"] == 3
    assert isinstance(reg.discovery_.model, MixedModel) and reg.get_params()["judge_model"] is judge
    with pytest.raises(ValueError, match="judge_model: expected a FoundationModel or a spec"):
        GenZRegressor("offline", judge_model=3, algorithm=1, cycles=1).fit(items, y)
