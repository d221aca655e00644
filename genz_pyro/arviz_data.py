"""A fit's posterior predictive as an ArviZ ``InferenceData`` (``az.plot_ppc``, ``az.summary``).

GenZ's parameters (link weights, flip probabilities ``eps``, noise variance ``sigma2``)
are point estimates; what is uncertain is each item's latent features ``z`` given its
judgments and target (the mean-field posterior ``q [N, K]``). The posterior predictive
check therefore draws, for every chain and draw,

    z ~ Bernoulli(q)               [N, K]   the latent features' posterior
    mu = f(z, u)                   [N, D]   the link's mean
    y_rep ~ Normal(mu, sigma2)     [N, D]   a replicated target

and the ``InferenceData`` holds (``D = 1`` drops the ``target`` dimension):

- ``posterior``: ``z`` ``(chain, draw, item, feature)`` (int8) and ``mu``
  ``(chain, draw, item[, target])``;
- ``posterior_predictive``: ``y`` ``(chain, draw, item[, target])``;
- ``observed_data``: ``y`` ``(item[, target])``;
- ``constant_data``: ``judgments`` ``(item, feature)``, ``eps`` ``(feature)``, ``sigma2``
  ``(target)``, ``covariates`` ``(item, covariate)`` when the fit has them;

with coordinates ``item`` (ids), ``feature`` (the descriptions) and ``target``. There is
no ``log_likelihood`` group: with the parameters at point estimates, ``az.loo`` / ``az.waic``
would not measure what they claim.
Written against ArviZ 0.23 (``az.from_dict``; ArviZ 1.x moved InferenceData onto
xarray's DataTree). ArviZ is optional: ``pip install 'genz-pyro[arviz]'``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import link_dtype
from genz_pyro.infer.result import FitResult

__all__ = ["to_inference_data", "fit_to_inference_data"]

ARVIZ_HINT = "install ArviZ: pip install 'genz-pyro[arviz]' (or pip install 'arviz<1')"


def _arviz() -> Any:
    try:
        import arviz
    except ImportError as exc:  # pragma: no cover - arviz is in the [test] extra
        raise ImportError(f"the InferenceData export needs ArviZ; {ARVIZ_HINT}") from exc
    return arviz


def fit_to_inference_data(
    result: FitResult,
    data: GenZData,
    *,
    q: torch.Tensor | None = None,
    item_ids: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
    draws: int = 250,
    chains: int = 2,
    seed: int = 0,
) -> Any:
    """The posterior predictive of ``result`` on ``data`` as an ``arviz.InferenceData``.

    Args:
        result: a fit (any engine, any link).
        data: the items' judgments ``[N, K]``, targets ``[N, D]`` and covariates ``[N, C]``.
        q: ``[N, K]`` posterior of the latent features (default ``result.q``, which
            belongs to the items ``result`` was fitted on).
        item_ids: ``N`` item ids (default ``"0".."N-1"``).
        target_names: ``D`` names (default ``"0".."D-1"``).
        draws, chains: draws per chain and chains (independent draws: every chain samples
            the same distribution, so ``r_hat`` is near 1 by construction).
        seed: seeds the draws.

    Raises:
        ValueError: naming the argument for mismatched shapes or a fit without features.
    """
    az = _arviz()
    for name, v, low in (("draws", draws, 1), ("chains", chains, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {v!r}")
    qq = (result.q if q is None else q).detach().double()
    n, k = data.num_items, data.num_features
    if tuple(qq.shape) != (n, k):
        raise ValueError(f"q: expected shape [N, K] = [{n}, {k}] like the data, got {tuple(qq.shape)}; pass the "
                         "posterior of these items (genz_pyro.infer.posterior(result, data))")
    if k == 0:
        raise ValueError("result: the fit has no feature; discover features before a posterior predictive check")
    ids = [str(i) for i in range(n)] if item_ids is None else [str(i) for i in item_ids]
    if len(ids) != n:
        raise ValueError(f"item_ids: {len(ids)} ids for {n} items; give one id per item")
    d = data.target_dim
    tnames = [str(t) for t in range(d)] if target_names is None else [str(t) for t in target_names]
    if len(tnames) != d:
        raise ValueError(f"target_names: {len(tnames)} names for D = {d} targets")
    gen = torch.Generator().manual_seed(int(seed))
    y = data.targets.detach().double()
    link = result.link
    ldt = link_dtype(link)
    u = None if data.covariates is None else data.covariates.to(ldt)
    sd = result.sigma2.detach().double().sqrt()
    z_all, mu_all, rep_all = [], [], []
    was = link.training
    link.eval()
    try:
        with torch.no_grad():
            for _ in range(chains):  # one chain at a time: [draws, N, K] at most in memory
                z = torch.bernoulli(qq.expand(draws, n, k), generator=gen)
                mu = link(z.to(ldt), u).double().reshape(draws, n, d)
                rep = mu + sd * torch.randn(draws, n, d, generator=gen, dtype=torch.float64)
                z_all.append(z.to(torch.int8).numpy())
                mu_all.append(mu.numpy())
                rep_all.append(rep.numpy())
    finally:
        link.train(was)
    z_arr, mu_arr, rep_arr = np.stack(z_all), np.stack(mu_all), np.stack(rep_all)
    obs = y.numpy()
    ydims = ["item", "target"]
    if d == 1:
        mu_arr, rep_arr, obs = mu_arr[..., 0], rep_arr[..., 0], obs[:, 0]
        ydims = ["item"]
    coords: dict[str, Any] = {"item": ids, "feature": list(data.feature_names) if data.feature_names else
                              [str(j) for j in range(k)], "target": tnames}
    constant: dict[str, Any] = {
        "judgments": data.judgments.detach().numpy().astype(np.int8),
        "eps": result.eps.detach().double().numpy(),
        "sigma2": result.sigma2.detach().double().numpy(),
    }
    dims: dict[str, list[str]] = {"z": ["item", "feature"], "mu": ydims, "y": ydims, "judgments": ["item", "feature"],
                                  "eps": ["feature"], "sigma2": ["target"]}
    if data.covariates is not None:
        constant["covariates"] = data.covariates.detach().double().numpy()
        coords["covariate"] = [str(c) for c in range(data.covariates.shape[1])]
        dims["covariates"] = ["item", "covariate"]
    return az.from_dict(
        posterior={"z": z_arr, "mu": mu_arr},
        posterior_predictive={"y": rep_arr},
        observed_data={"y": obs},
        constant_data=constant,
        coords=coords,
        dims=dims,
        attrs={"inference_library": "genz_pyro", "engine": str(result.engine),
               "note": "parameters are point estimates; posterior draws are of the latent z given them"},
    )


def to_inference_data(
    estimator: Any,
    items: Any = None,
    y: Any = None,
    covariates: Any = None,
    *,
    draws: int = 250,
    chains: int = 2,
    seed: int = 0,
) -> Any:
    """The posterior predictive of a fitted :class:`~genz_pyro.estimator.GenZRegressor`.

    Without ``items``: the training items of the fit and their posterior ``q``. With
    ``items`` and ``y`` (e.g. held-out items): the items are judged with the discovered
    features and their latent features' posterior given judgments and targets is
    computed with the fitted parameters held fixed (:func:`genz_pyro.infer.posterior`).

    Raises:
        ValueError: when the estimator is not fitted, found no feature, or ``items`` is
            given without ``y``.
    """
    from genz_pyro.discovery.scoring import judge_items
    from genz_pyro.estimator import GenZRegressor
    from genz_pyro.infer.fit import posterior
    from genz_pyro.inputs import read_targets

    if not isinstance(estimator, GenZRegressor):
        raise ValueError(f"estimator: expected a fitted GenZRegressor, got {type(estimator).__name__}")
    estimator._check_fitted()
    result = estimator.result_
    if result is None:
        raise ValueError("estimator: the fit found no feature; discover features before a posterior predictive check")
    disc = estimator.discovery_
    names = getattr(estimator, "target_names_", None)
    if items is None:
        if y is not None or covariates is not None:
            raise ValueError("items: y and covariates belong to items; pass the items too (or none of the three)")
        data = disc.train_data()
        ids = [disc.ids[int(i)] for i in disc.train]
        return fit_to_inference_data(result, data, item_ids=ids, target_names=names, draws=draws, chains=chains,
                                     seed=seed)
    if y is None:
        raise ValueError("y: the posterior of the items' latent features needs their targets; pass y")
    tab = estimator._read_items(items, fitting=False)
    u = estimator._covariates(tab, covariates, fitting=False)
    s = judge_items(disc, tab.items)
    yy, _, _ = read_targets(y, len(tab.items), index=tab.index)
    data = GenZData.create(s, yy, covariates=u, feature_names=list(estimator.features_))
    q = posterior(result, data)
    return fit_to_inference_data(result, data, q=q, item_ids=list(tab.items), target_names=names, draws=draws,
                                 chains=chains, seed=seed)
