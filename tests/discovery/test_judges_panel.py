"""Discovery with several judges: every judge answers each feature, its rates are learned,
its usage is booked, the answers survive a resume, and a paraphrased question is a judge."""

from __future__ import annotations

import json
from typing import Mapping

import numpy as np
import pytest

from genz_pyro.datasets.binary import load_binary
from genz_pyro.discovery import Discovery
from genz_pyro.discovery.judges import JudgePanel, PromptVariant
from genz_pyro.fm.flip import FlipModel
from genz_pyro.fm.offline import OfflineModel
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature

from discovery_helpers import Counting

RATES = (0.15, 0.45)


def _panel() -> list[Counting]:
    return [Counting(FlipModel(OfflineModel(), r, seed=s)) for r, s in zip(RATES, (1, 2))]


def _realized(judge: Counting, features: list[str], ids: list[str]) -> float:
    """The share of (feature, item) answers the judge's flip wrapper actually flipped."""
    flip: FlipModel = judge.inner  # type: ignore[assignment]
    return float(np.mean([flip.flips(f, i) for f in features for i in ids]))


def test_every_judge_answers_each_feature_and_its_rates_are_learned(tmp_path) -> None:
    """Binary data, the offline model mining and judging, two flipped copies as the panel
    (rates shared by a judge's features): the offline judge's rates come out at the floor
    (0.001) and each flipped judge's at the share it actually flipped (within 0.01: z is
    certain, so the estimate is that share up to the floor of q), and the several-judges
    model predicts as well as the offline judge alone."""
    ds = load_binary(seed=0)
    panel = _panel()
    d = Discovery(ds, OfflineModel(), run_dir=tmp_path / "run", judges=panel, judge_names=["flip15", "flip45"],
                  judges_options={"shared": True}, seed=0)
    d.run(algorithm=1, cycles=4)
    assert len(d.features) == 4
    for judge in panel:  # one judge call per kept feature, behind the run's cache
        assert judge.calls["judge"] == 4 and judge.calls["mine"] == 0
    rec = d.history[-1]
    assert rec.judges["names"] == ["offline", "flip15", "flip45"]
    fy, fn = np.array(rec.judges["false_yes"]), np.array(rec.judges["false_no"])
    assert fy.shape == fn.shape == (4, 3)
    assert fy[:, 0].max() <= 0.002 and fn[:, 0].max() <= 0.002
    for j, judge in enumerate(panel, start=1):
        share = _realized(judge, d.features, d.ids)
        assert abs(share - RATES[j - 1]) < 0.03  # what the wrapper was asked to do
        assert abs((fy[0, j] + fn[0, j]) / 2 - share) < 0.01, (fy[0, j], fn[0, j], share)
    assert rec.judges["metric"]["train"] == pytest.approx(rec.metric["train"], abs=1e-3)
    assert rec.judges["usage"]["flip15"]["calls"] == 1  # this step's new feature
    body = json.loads((tmp_path / "run" / "judges.json").read_text())
    assert len(body["rates"]) == 4 * 3 and body["features"] == d.features
    row = body["rates"][1]
    assert row["judge"] == "flip15" and row["error"] == pytest.approx(
        body["pi"][0] * row["false_no"] + (1 - body["pi"][0]) * row["false_yes"])


def test_resume_restores_the_panel_answers_and_asks_only_about_new_features(tmp_path) -> None:
    ds = load_binary(seed=0)
    run = tmp_path / "run"
    d = Discovery(ds, OfflineModel(), run_dir=run, judges=_panel(), judge_names=["a", "b"], seed=0)
    d.run(algorithm=1, cycles=2)
    first = d.history[-1].judges
    with pytest.raises(ValueError, match="^judges: the run .* was started with 2 further judge"):
        Discovery.resume(run, ds, OfflineModel())
    fresh = _panel()
    again = Discovery.resume(run, ds, OfflineModel(), judges=fresh)
    assert sum(j.calls["judge"] for j in fresh) == 0  # the answers came back with the checkpoint
    assert set(again.panel_answers) == set(d.features)
    again.add_feature()
    assert [j.calls["judge"] for j in fresh] == [1, 1]  # the new feature only
    assert len(again.features) == 3 and again.history[-1].judges["names"] == ["offline", "a", "b"]
    assert again.history[-1].judges["false_yes"][:2] != first["false_yes"]  # refitted with three features


class _Recorder(FoundationModel):
    """Answers yes to everything and records the descriptions it was asked about."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        self.asked.append(description)
        self.usage.calls += 1
        return {i: Judgment(i, True, 0.8) for i in items}

    async def amine(self, positives, negatives, *, avoid=()) -> MinedFeature:
        return MinedFeature("x")

    async def apropose(self, task, examples, n) -> list[str]:
        return []


def test_a_prompt_variant_asks_the_paraphrase_and_is_cached_apart() -> None:
    inner = _Recorder()
    variant = PromptVariant(inner)
    got = variant.judge("Has a garden", {"a": "x", "b": "y"})
    assert inner.asked == ["Is the following true of the item? Has a garden"]
    assert set(got) == {"a", "b"} and variant.usage.calls == 1
    assert variant.name == "variant(recorder)" and "paraphrase" in variant.cache_identity()
    custom = PromptVariant(inner, "Would a careful reader say yes to: {description}")
    custom.judge("Has a garden", {"a": "x"})
    assert inner.asked[-1] == "Would a careful reader say yes to: Has a garden"
    with pytest.raises(ValueError, match="^template:"):
        PromptVariant(inner, "no field")
    soft = JudgePanel([inner], soft=True).answer("f", {"a": "x", "b": "y"})
    np.testing.assert_allclose(soft, [[0.8], [0.8]])
    np.testing.assert_allclose(JudgePanel([inner]).answer("f", {"a": "x"}), [[1.0]])  # not asked for soft


class _Forgetful(_Recorder):
    async def ajudge(self, description, items):
        return {i: Judgment(i, True) for i in list(items)[1:]}


def test_panel_refuses_unanswered_items_and_clashing_names() -> None:
    with pytest.raises(ValueError, match="^judges: recorder returned no answer .* first 'a'"):
        JudgePanel([_Forgetful()]).answer("f", {"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="^judge_names:"):
        JudgePanel([_Recorder(), _Recorder()], names=["x", "x"])
    assert JudgePanel([_Recorder(), _Recorder()]).names == ["recorder", "recorder#2"]
    with pytest.raises(ValueError, match="^judges: judge 0"):
        JudgePanel(["not a model"])  # type: ignore[list-item]


def test_summary_and_report_show_each_judges_rates(tmp_path) -> None:
    from genz_pyro.cli.summary import run_summary
    from genz_pyro.report import plot_judge_rates, write_report

    d = Discovery(load_binary(seed=0), OfflineModel(), run_dir=tmp_path / "run", judges=_panel(),
                  judge_names=["flip15", "flip45"], seed=0)
    d.run(algorithm=1, cycles=2)
    s = run_summary(d)["judges"]
    assert s["names"] == ["offline", "flip15", "flip45"] and len(s["rates"]) == 2 * 3
    assert s["usage"]["flip15"]["calls"] == 2  # one per feature, over the two steps
    assert json.loads(json.dumps(s)) == s  # JSON-ready
    paths = write_report(tmp_path / "run")
    fig = tmp_path / "run" / "report" / "judge_rates.png"
    assert fig in paths and fig.stat().st_size > 5000
    with pytest.raises(ValueError, match="^rates:"):
        plot_judge_rates([], tmp_path / "x.png")


def test_a_run_judged_by_another_model_names_that_judge_first(tmp_path) -> None:
    """With ``judge_model`` (mining by one model, judging by another) the run's own judge is the
    judging model: its answers are the first judge column of the several-judges model."""
    judge = FlipModel(OfflineModel(), 0.1, seed=5)
    d = Discovery(load_binary(bits=6, seed=0), OfflineModel(), judge_model=judge, judges=[OfflineModel()],
                  judge_names=["exact"], seed=0)
    d.run(algorithm=1, cycles=2)
    rec = d.history[-1].judges
    assert rec["names"] == [judge.name, "exact"]
    fy, fn = np.array(rec["false_yes"]), np.array(rec["false_no"])
    assert (fy[:, 1] <= 0.002).all() and (fn[:, 1] <= 0.002).all()  # the exact judge
    for k, f in enumerate(d.features):  # the flipping judge: the share of its answers it flipped
        share = np.mean([judge.flips(f, i) for i in d.ids])
        assert abs((fy[k, 0] + fn[k, 0]) / 2 - share) < 0.02, (fy[k, 0], fn[k, 0], share)
