"""The posterior predictive of a fit as an ArviZ InferenceData: draws that match the fit,
and ArviZ's own posterior predictive check and summary on it."""

from __future__ import annotations

import numpy as np
import pytest

az = pytest.importorskip("arviz", reason="install the [arviz] extra (in [test])")
pd = pytest.importorskip("pandas", reason="install the [pandas] extra (in [test])")

from genz_pyro.arviz_data import to_inference_data  # noqa: E402
from genz_pyro.data import GenZData  # noqa: E402
from genz_pyro.estimator import GenZRegressor  # noqa: E402
from genz_pyro.infer import posterior  # noqa: E402

N = 64
ITEMS = [str(i) for i in range(N)]
Y = np.arange(N, dtype=float) + np.random.default_rng(0).normal(0.0, 2.0, size=N)
DRAWS, CHAINS = 500, 2
S = DRAWS * CHAINS
# ArviZ 0.23's matplotlib backend passes a dict to normalize_kwargs (deprecated in matplotlib 3.11)
ARVIZ_MPL = "ignore:Passing a dict or None as alias_mapping:matplotlib.MatplotlibDeprecationWarning"


@pytest.fixture(scope="module")
def fitted() -> GenZRegressor:
    return GenZRegressor(algorithm=1, cycles=6, seed=0).fit(ITEMS, Y)


def test_draws_follow_the_fit(fitted: GenZRegressor) -> None:
    idata = to_inference_data(fitted, draws=DRAWS, chains=CHAINS, seed=0)
    assert set(idata.groups()) == {"posterior", "posterior_predictive", "observed_data", "constant_data"}
    z = idata.posterior["z"]
    assert z.dims == ("chain", "draw", "item", "feature") and z.shape == (CHAINS, DRAWS, N, 6)
    assert list(z.coords["item"].values) == fitted.discovery_.ids
    assert list(z.coords["feature"].values) == fitted.features_
    np.testing.assert_allclose(idata.observed_data["y"].values, Y, rtol=2.0**-24)  # the fit's float32 copy
    np.testing.assert_array_equal(idata.constant_data["judgments"].values, fitted.discovery_.judgments)
    res = fitted.result_
    q = res.q.double().numpy()
    # z ~ Bernoulli(q): the draws' mean is within 5 binomial SDs of q, entry by entry
    zbar = z.values.reshape(S, N, 6).mean(0)
    assert np.all(np.abs(zbar - q) <= 5 * np.sqrt(q * (1 - q) / S) + 1e-12)
    # linear link: E[mu] = f(q) = q w + b, Var[mu] = sum_k w_k^2 q_k (1 - q_k)
    w = res.link.feature_weight.detach().double().numpy()[0]
    b = float(res.link.bias.detach()[0])
    mean_mu, var_mu = q @ w + b, (q * (1 - q)) @ w**2
    mu = idata.posterior["mu"].values.reshape(S, N)
    assert np.all(np.abs(mu.mean(0) - mean_mu) <= 5 * np.sqrt(var_mu / S) + 1e-9)
    # y_rep ~ Normal(mu, sigma2): mean f(q), variance sigma2 + Var[mu]
    sigma2 = float(res.sigma2[0])
    rep = idata.posterior_predictive["y"].values.reshape(S, N)
    assert np.all(np.abs(rep.mean(0) - mean_mu) <= 5 * np.sqrt((sigma2 + var_mu) / S))
    # pooled over 64 items, the variance estimate's relative SD is sqrt(2 / (S - 1) / N) ~ 0.6%
    ratio = rep.var(0, ddof=1).mean() / (sigma2 + var_mu).mean()
    assert abs(ratio - 1) < 5 * np.sqrt(2 / (S - 1) / N), ratio
    assert 2.0 < sigma2 < 6.0  # the noise was sd 2 (variance 4)


@pytest.mark.filterwarnings(ARVIZ_MPL)
def test_arviz_ppc_and_summary_run(fitted: GenZRegressor) -> None:
    import matplotlib.pyplot as plt

    idata = to_inference_data(fitted, draws=DRAWS, chains=CHAINS, seed=1)
    ax = az.plot_ppc(idata, num_pp_samples=20, random_seed=0)
    drawn = [ln.get_label() for ln in ax.get_lines() if len(ln.get_xdata())]
    assert len(drawn) == 20 + 2 and {"Observed", "Posterior predictive mean"} <= set(drawn)  # + 20 replicas
    assert ax.figure is not None
    plt.close("all")
    summ = az.summary(idata, group="posterior_predictive")
    assert summ.shape[0] == N and (summ["r_hat"] < 1.05).all()  # independent draws: r_hat ~ 1
    stats = az.summary(idata, var_names=["mu"], kind="stats")
    np.testing.assert_allclose(stats["mean"].to_numpy(), idata.posterior["mu"].values.mean((0, 1)), atol=5e-4)


def test_held_out_items_use_the_e_step_with_their_targets(fitted: GenZRegressor) -> None:
    new = pd.Series(["3", "50", "17"], index=["a", "b", "c"])
    y_new = np.array([3.5, 49.0, 17.2])
    idata = to_inference_data(fitted, new, y_new, draws=DRAWS, chains=CHAINS, seed=0)
    assert list(idata.posterior.coords["item"].values) == ["a", "b", "c"]
    s = fitted.judge(new)
    q = posterior(fitted.result_, GenZData.create(s, y_new, feature_names=fitted.features_)).double().numpy()
    zbar = idata.posterior["z"].values.reshape(S, 3, -1).mean(0)
    assert np.all(np.abs(zbar - q) <= 5 * np.sqrt(q * (1 - q) / S) + 1e-12)


def test_two_targets_and_covariates_get_their_dims() -> None:
    u = np.random.default_rng(3).normal(size=N)
    Y2 = pd.DataFrame({"value": Y, "shifted": Y + u})
    reg = GenZRegressor(algorithm=1, cycles=3, seed=0).fit(ITEMS, Y2, covariates=u)
    idata = to_inference_data(reg, draws=10, chains=1)
    assert idata.posterior_predictive["y"].dims == ("chain", "draw", "item", "target")
    assert list(idata.posterior_predictive["y"].coords["target"].values) == ["value", "shifted"]
    assert idata.constant_data["covariates"].shape == (N, 1)


def test_errors_name_the_fix(fitted: GenZRegressor) -> None:
    with pytest.raises(ValueError, match="not fitted yet"):
        to_inference_data(GenZRegressor())
    with pytest.raises(ValueError, match="y: the posterior of the items' latent features needs their targets"):
        to_inference_data(fitted, ["3"])
    with pytest.raises(ValueError, match="draws: expected an int >= 1"):
        to_inference_data(fitted, draws=0)
    empty = GenZRegressor(algorithm=1, cycles=0).fit(ITEMS, Y)
    with pytest.raises(ValueError, match="the fit found no feature"):
        to_inference_data(empty)
