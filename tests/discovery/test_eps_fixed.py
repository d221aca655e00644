"""Discovery with the flip probabilities held fixed (``eps_fixed``) and a ridge on the weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genz_pyro.discovery import Discovery, FitSpec
from genz_pyro.fm.offline import OfflineModel
from genz_pyro.models.links import LinearLink

from discovery_helpers import integer_dataset

BITS = ("Integers with the 2^0 bit set", "Integers with the 2^1 bit set", "Integers with the 2^2 bit set")


def _case(seed: int = 0, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Items 0..255, D = 4 targets linear in the three low bits (plus noise), truth ``[3, 4]``."""
    x = np.arange(256)
    s = np.stack([(x >> b) & 1 for b in range(3)], axis=1).astype(float)
    w = np.array([[2.0, -1.0, 0.5, 0.0], [0.0, 1.5, -2.0, 1.0], [-1.0, 0.0, 1.0, 2.5]])
    y = s @ w + noise * np.random.default_rng(seed).standard_normal((256, 4))
    return s, y


def _weights(d: Discovery) -> np.ndarray:
    assert d.result is not None and isinstance(d.result.link, LinearLink)
    return d.result.link.feature_weight.detach().double().numpy().T


def test_eps_fixed_holds_every_eps_and_gives_the_least_squares_weights() -> None:
    s, y = _case()
    d = Discovery(integer_dataset(y), OfflineModel(), seed=0, eps_fixed=0.001)
    for desc in BITS:
        assert d.add_description(desc).action == "add"
    assert d.result is not None
    assert torch.allclose(d.result.eps.double(), torch.full((3,), 0.001, dtype=torch.float64))
    # with exact judgments and eps at 0.001 no training z flips: W is the regression on the judgments
    a = np.hstack([s, np.ones((256, 1))])
    w_ls = np.linalg.lstsq(a, y, rcond=None)[0][:3]
    assert np.abs(_weights(d) - w_ls).max() < 1e-3


def test_a_learned_eps_moves_off_the_judgments_on_the_same_data() -> None:
    # the contrast that makes the test above meaningful: with noisy targets the learned eps
    # leaves the starting value and W is no longer the regression on the judgments
    s, y = _case(noise=2.0)
    d = Discovery(integer_dataset(y), OfflineModel(), seed=0)
    for desc in BITS:
        d.add_description(desc)
    assert d.result is not None
    assert float((d.result.eps.double() - 0.1).abs().max()) > 0.01
    a = np.hstack([s, np.ones((256, 1))])
    w_ls = np.linalg.lstsq(a, y, rcond=None)[0][:3]
    assert np.abs(_weights(d) - w_ls).max() > 1e-2


def test_ridge_shrinks_the_weights_by_the_closed_form() -> None:
    s, y = _case(1)
    lam = 50.0
    d = Discovery(integer_dataset(y), OfflineModel(), seed=0, eps_fixed=0.001, fit_options={"ridge": lam})
    for desc in BITS:
        d.add_description(desc)
    sc, yc = s - s.mean(0), y - y.mean(0)
    w_ridge = np.linalg.solve(sc.T @ sc + lam * np.eye(3), sc.T @ yc)
    assert np.abs(_weights(d) - w_ridge).max() < 1e-3
    assert np.linalg.norm(w_ridge) < 0.95 * np.linalg.norm(np.linalg.lstsq(sc, yc, rcond=None)[0])


def test_add_feature_with_eps_fixed_mines_and_keeps_the_value(tmp_path) -> None:
    s, y = _case(2)
    d = Discovery(integer_dataset(y), OfflineModel(), seed=0, eps_fixed=0.01, run_dir=tmp_path / "run")
    d.run(algorithm=1, cycles=3)
    # the three bits are found (either polarity: the link absorbs the sign)
    assert sorted(f.replace(" unset", " set") for f in d.features) == sorted(BITS)
    assert np.allclose([r.eps for r in d.history if r.action == "add"], 0.01)
    # the setting is part of the run: resume rebuilds it from config.json
    assert json.loads((tmp_path / "run" / "config.json").read_text())["eps_fixed"] == 0.01
    again = Discovery.resume(tmp_path / "run", integer_dataset(y), OfflineModel(), continue_run=False)
    assert again.spec.eps_fixed == 0.01


@pytest.mark.parametrize("value", [0.0, 0.5, 0.7, -0.1])
def test_eps_fixed_out_of_range_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="eps_fixed"):
        FitSpec(eps_fixed=value)


def test_learn_eps_in_options_is_rejected() -> None:
    with pytest.raises(ValueError, match="eps_fixed"):
        FitSpec(options={"learn_eps": False})
