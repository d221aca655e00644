"""An add step whose new-feature posterior puts every item in one group is a discarded
step ("no-split"), not the end of the run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from genz_pyro.discovery import Discovery
from genz_pyro.fm.offline import OfflineModel

from discovery_helpers import Counting

HOUSES = Path(__file__).resolve().parents[3] / "shared" / "data" / "houses-ahmed-moustafa-2016"


@pytest.mark.skipif(not HOUSES.exists(), reason=f"houses data not found at {HOUSES}")
def test_an_unsplit_posterior_is_a_discarded_step_and_the_run_goes_on() -> None:
    from genz_pyro.datasets.houses import load_houses

    # zip codes only (the covariates carry the rest): on this split, after ~20 zip features the
    # decoupled posterior of a further feature is below 0.5 on every training item (it used to
    # stop the run with "nothing to contrast")
    ds = load_houses(HOUSES, seed=3)
    ds = dataclasses.replace(ds, items={k: {"zipcode": v["zipcode"]} for k, v in ds.items.items()})
    model = Counting(OfflineModel())
    disc = Discovery(ds, model, link="linear", seed=3, metric="median_absolute_error")
    disc.run(1, 25)
    recs = [r for r in disc.history.records if r.plan_pos >= 0]
    assert len(recs) == 25  # every planned step ran
    unsplit = [r for r in recs if r.reason == "no-split"]
    assert unsplit, [r.reason for r in recs]
    assert all(r.action == "discard" and r.feature == "" for r in unsplit)
    assert model.calls["mine"] == 25 - len(unsplit)  # no miner call for an unsplit step
    assert 10 <= len(disc.features) <= 25
    assert disc.metrics()["test"] < 0.25  # the zip features kept predict (least squares: ~0.45)
