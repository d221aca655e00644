"""Bad input raises a ValueError naming the argument (GenZData.create and the model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer.svi import fit_svi
from genz_pyro.models import GenZModel, LinearLink

N, K, D, C = 5, 3, 2, 2


def _good() -> dict:
    rng = np.random.default_rng(0)
    return dict(
        judgments=(rng.random((N, K)) < 0.5).astype(float),
        targets=rng.normal(size=(N, D)),
        covariates=rng.normal(size=(N, C)),
        missing=None,
        feature_names=["a", "b", "c"],
    )


def _with(**change) -> dict:
    kw = _good()
    for key, value in change.items():
        kw[key] = value(kw[key]) if callable(value) else value
    return kw


def _set(array, index, value):
    out = np.array(array, dtype=float, copy=True)
    out[index] = value
    return out


BAD_DATA = [
    # (case, kwargs, argument named in the message, a word of the fix)
    ("judgments rows", _with(judgments=lambda s: s[:4]), "judgments", "one row per item"),
    ("judgments 3-d", _with(judgments=lambda s: s[None]), "judgments", "shape"),
    ("judgments outside [0, 1]", _with(judgments=lambda s: _set(s, (1, 2), 1.7)), "judgments", "probabilities"),
    ("judgments inf", _with(judgments=lambda s: _set(s, (0, 0), np.inf)), "judgments", "0 or 1"),
    ("judgments text", _with(judgments=[["yes"] * K] * N), "judgments", "numeric"),
    ("targets NaN", _with(targets=lambda y: _set(y, (3, 1), np.nan)), "targets", "impute"),
    ("targets inf", _with(targets=lambda y: _set(y, (2, 0), -np.inf)), "targets", "item 2"),
    ("targets 3-d", _with(targets=lambda y: y[None]), "targets", "shape"),
    ("targets no columns", _with(targets=np.zeros((N, 0))), "targets", "D >= 1"),
    ("one item", _with(judgments=lambda s: s[:1], targets=lambda y: y[:1], covariates=lambda u: u[:1]),
     "targets", "N = 2"),
    ("covariates NaN", _with(covariates=lambda u: _set(u, (4, 1), np.nan)), "covariates", "impute"),
    ("covariates inf", _with(covariates=lambda u: _set(u, (0, 0), np.inf)), "covariates", "column 0"),
    ("covariates rows", _with(covariates=lambda u: u[:3]), "covariates", "N = 5"),
    ("missing shape", _with(missing=np.zeros((N, K + 1), dtype=bool)), "missing", "shape"),
    ("missing not boolean", _with(missing=np.full((N, K), 2)), "missing", "boolean"),
    ("duplicated names", _with(feature_names=["a", "b", "a"]), "feature_names", "unique"),
    ("too few names", _with(feature_names=["a", "b"]), "feature_names", "K = 3"),
]


@pytest.mark.parametrize("case, kwargs, name, fix", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_raise_value_error_naming_the_argument(case, kwargs, name, fix):
    args = dict(kwargs)
    with pytest.raises(ValueError) as err:
        GenZData.create(args.pop("judgments"), args.pop("targets"), **args)
    message = str(err.value)
    assert message.startswith(f"{name}:"), message
    assert fix in message, message


BAD_MODEL = [
    ("eps above 0.5", dict(eps=torch.tensor([0.1, 0.6, 0.2])), "eps", "feature 1"),
    ("eps zero", dict(eps=torch.tensor([0.0, 0.1, 0.2])), "eps", "(0, 0.5]"),
    ("eps negative", dict(eps=-0.1), "eps", "(0, 0.5]"),
    ("eps NaN", dict(eps=torch.tensor([0.1, float("nan"), 0.2])), "eps", "feature 1"),
    ("eps shape", dict(eps=torch.tensor([0.1, 0.2])), "eps", "[K] = [3]"),
    ("decoupled shape", dict(decoupled=torch.tensor([True, False])), "decoupled", "[K] = [3]"),
    ("decoupled values", dict(decoupled=torch.tensor([0, 2, 1])), "decoupled", "boolean"),
    ("sigma2 negative", dict(sigma2=torch.tensor([1.0, -1.0])), "sigma2", "positive"),
]


@pytest.mark.parametrize("case, kwargs, name, fix", BAD_MODEL, ids=[c[0] for c in BAD_MODEL])
def test_bad_model_parameters_raise_value_error_naming_the_argument(case, kwargs, name, fix):
    with pytest.raises(ValueError) as err:
        GenZModel(LinearLink(K, D, C), num_features=K, target_dim=D, **kwargs)
    assert str(err.value).startswith(f"{name}:") and fix in str(err.value), str(err.value)
    if name in ("eps", "decoupled"):  # the SVI engine checks the same way, before any work
        with pytest.raises(ValueError, match=rf"^{name}:"):
            fit_svi(GenZData.create(**_good()), **kwargs)


def test_model_refuses_data_of_another_shape():
    data = GenZData.create(**_good())
    with pytest.raises(ValueError, match=r"^data: .*num_features=3"):
        GenZModel(LinearLink(4, D, C), num_features=4, target_dim=D).model(data)
    with pytest.raises(ValueError, match=r"^data: .*target_dim"):
        GenZModel(LinearLink(K, 3, C), num_features=K, target_dim=3).model(data)
    with pytest.raises(ValueError, match=r"^data: expected a GenZData"):
        GenZModel(LinearLink(K, D, C), num_features=K, target_dim=D).model({"judgments": data.judgments})


def test_valid_edge_cases():
    # K = 0 is valid: a model with no features
    data = GenZData.create(np.zeros((N, 0)), np.ones((N, D)) + np.arange(N)[:, None])
    assert data.num_features == 0 and data.feature_names == ()
    # NaN judgments mark missing answers; bool judgments are accepted; 1-d targets promoted
    s = np.array([[1, np.nan], [0, 1], [1, 1]], dtype=float)
    d2 = GenZData.create(s, np.array([0.1, 0.2, 0.3]))
    assert d2.missing is not None and bool(d2.missing[0, 1]) and float(d2.judgments[0, 1]) == 0.0
    assert d2.targets.shape == (3, 1)
    d3 = GenZData.create(np.array([[True, False], [False, True]]), np.zeros((2, 1)), feature_names=("x", "y"))
    assert torch.equal(d3.judgments, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    # eps at exactly 0.5 is allowed (a decoupled-like feature)
    GenZModel(LinearLink(K, D, C), num_features=K, target_dim=D, eps=0.5)
