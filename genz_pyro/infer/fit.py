"""``fit``: one entry point for every inference engine; ``posterior``: the E step alone.

Engines (all return :class:`~genz_pyro.infer.result.FitResult`):

===========  =================================================================  ======
engine       what it does                                                       links
===========  =================================================================  ======
``sem``      stochastic EM: Gibbs-sampled ``z`` from its exact conditional,     any
             closed-form / Adam M step, last sweeps averaged (:mod:`.sem`)
``cavi``     exact mean-field coordinate ascent, closed form (:mod:`.cavi`)     linear
``em``       the paper's EM, eqs. 11-14, mode-based E step (:mod:`.em`)         any
``svi``      Pyro SVI on the model and mean-field guide (:mod:`.svi`)           any
``exact``    exact EM, E step over all 2^K configurations, K <= 12              any
``moments``  method of moments (closed form, no iterations), then an annealed   linear
             mean-field E step at the fixed parameters (:mod:`.moments`)
===========  =================================================================  ======

**Default (``engine=None``): ``"moments"`` for the linear link on large data, ``"sem"``
otherwise** (:func:`default_engine`). ``"moments"`` is chosen when the link is linear, there
are at least ``MOMENTS_MIN_ITEMS`` (10 000) items and at least one feature, no feature is
decoupled, no judgment is missing and the moment equations identify the parameters
(``K + 1 <= D (D + 1) / 2``, full rank): at (20 000, 100, 32) it fits in about 2 s with an eps
error of 0.008 (converged SEM: 0.006 after 36 s; CAVI: 0.117); at N = 200 000, 0.002 in
33 s, while SEM's 49 capped sweeps took 4 minutes for 0.016. Below 10 000 items its
sampling error is about twice SEM's (0.035 vs 0.017 at (512, 30, 32)) and SEM takes well under
a second, so SEM stays the default there, for every other link, and throughout the discovery
loop (decoupled features), and when the targets' variances differ by more than 100x.
Measured in ``bench/bench_inference.py`` (figures in
BENCHMARKS.md, rationale in docs/inference.md): on the linear link a sweep costs about as
much as a CAVI sweep and it needs a similar number of them (44 vs 40 at (512, 30, 32),
167 vs 136 at (20 000, 100, 32)), and it is the only engine whose
eps stays unbiased when the data say little about ``z`` (K close to or above D): the
mean-field bound that CAVI maximises drives such eps toward 0 and keeps improving while the
estimates get worse. CAVI remains the exact, deterministic, monotone choice when a bound
that increases every sweep is what you need; ``exact`` (K <= 12, any link) when joint
changes of several features matter (the binary experiment).

For EM and SEM the last entry of ``bound_history`` is the mean-field bound at the fitted
link and eps after a mean-field E step (``q`` re-optimised; for the linear link ``sigma2``
too, see ``_comparable_bound``), so that the
final bounds of all engines are comparable; ``result.q`` stays the engine's own posterior
(for SEM an estimate of the exact marginals) and ``info["bound_own_q"]`` is the bound at it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import mean_field_bound
from genz_pyro.infer.cavi import (
    e_field,
    fit_cavi,
    gauss_seidel,
    prepare_linear,
    soft_prior,
    suff_stats,
    weight_from_link,
)
from genz_pyro.infer.em import LinkTrainer, fit_em, forced_logits
from genz_pyro.infer.moments import fit_moments, moments_applicable
from genz_pyro.infer.result import FitResult
from genz_pyro.infer.sem import fit_sem
from genz_pyro.infer.start import SOFT_EPS_PRIOR, Start, eps_log_prior, prepare_start
from genz_pyro.models.links import LinearLink

__all__ = ["ENGINES", "SOFT_REFUSED", "SOFT_EPS_PRIOR", "DEFAULT_ENGINE", "MOMENTS_MIN_ITEMS", "MOMENTS_MAX_SCALE_RATIO", "default_engine", "fit", "posterior"]

ENGINES = ("sem", "cavi", "em", "svi", "exact", "moments")
#: Engines that refuse soft judgments, and why.
SOFT_REFUSED = {
    "exact": "its E step tabulates the prior from the sign 2 s - 1",
    "moments": "its moment equations are those of binary judgments",
}
DEFAULT_ENGINE = "sem"
"""The default engine wherever :func:`default_engine` does not choose ``"moments"``."""
MOMENTS_MIN_ITEMS = 10_000
MOMENTS_MAX_SCALE_RATIO = 100.0


def _is_linear(link: str | nn.Module) -> bool:
    return isinstance(link, LinearLink) or (isinstance(link, str) and link == "linear")


def default_engine(data: GenZData, link: str | nn.Module = "linear", decoupled: torch.Tensor | None = None) -> str:
    """The engine ``fit(engine=None)`` uses: ``"moments"`` for the linear link with at least
    ``MOMENTS_MIN_ITEMS`` items, K >= 1 and :func:`~genz_pyro.infer.moments.moments_applicable`;
    otherwise :data:`DEFAULT_ENGINE` (``"sem"``). Targets whose variances differ by more than
    ``MOMENTS_MAX_SCALE_RATIO`` (100) also keep ``"sem"``: the moments pool the noise variance
    over the targets, which suits targets on one scale (standardise yours, or pass
    ``engine="moments"``). :func:`fit` keeps ``"sem"`` when it is given engine options (they
    are SEM's) and when the moment system turns out rank-deficient."""
    if (
        _is_linear(link)
        and data.num_items >= MOMENTS_MIN_ITEMS
        and data.num_features > 0
        and moments_applicable(data, decoupled) is None
    ):
        var = data.targets.double().var(0)
        if float(var.max()) <= MOMENTS_MAX_SCALE_RATIO * float(var.min()):
            return "moments"
    return DEFAULT_ENGINE


def _check_data(data: Any) -> GenZData:
    if not isinstance(data, GenZData):
        raise ValueError(
            f"data: expected a GenZData, got {type(data).__name__}; build one with "
            "GenZData.create(judgments, targets, covariates=..., missing=...)"
        )
    return data


def fit(
    data: GenZData,
    *,
    link: str | nn.Module = "linear",
    engine: str | None = None,
    eps: Any | None = None,
    decoupled: Any | None = None,
    learn_eps: bool = True,
    q_init: Any | None = None,
    max_sweeps: int = 200,
    tol: float | None = None,
    seed: int = 0,
    eps_prior: float | None = None,
    **engine_options: Any,
) -> FitResult:
    """Fit the GenZ model to ``data``.

    Args:
        data: judgments ``[N, K]`` (K = 0 is valid: fits the covariates or the mean), targets
            ``[N, D]``, optional covariates ``[N, C]`` and missing mask.
        link: ``"linear"``, ``"mlp"`` or a module ``f(z [.., N, K], u [N, C]) -> [.., N, D]``.
        engine: ``None`` (:func:`default_engine`: ``"moments"`` for the linear link on
            N >= 10 000 items, else ``"sem"``), ``"sem"``, ``"cavi"`` (linear link only),
            ``"em"``, ``"svi"``, ``"exact"`` (K <= 12: exact EM, any link; its
            ``bound_history`` is the exact log marginal likelihood, not a mean-field bound) or
            ``"moments"`` (linear link, closed form; see :mod:`genz_pyro.infer.moments`).
        eps: ``[K]`` (or a scalar) initial flip probabilities in ``(0, 0.5]``; default 0.1
            (0.5 for decoupled features).
        decoupled: ``[K]`` bool; eps of these features is held at 0.5 (discovery).
        learn_eps: re-estimate eps of the coupled features (eq. 14).
        q_init: ``[N, K]`` warm start for the posterior; default from the judgments.
        max_sweeps: cap on sweeps (SEM: on burn-in sweeps; SVI: its own sweeps/steps).
        tol: stopping tolerance in nats per item (engine default when None).
        seed: seed of every random choice (sampler, link initialisation, mini-batches).
        eps_prior: strength ``a >= 0`` of a symmetric ``Beta(1 + a, 1 + a)`` prior on each
            learned eps: the M step is the MAP ``(disagreements + a) / (items + 2 a)`` and the
            bound gains ``a sum_k log(eps_k (1 - eps_k))``. ``None`` (default):
            :data:`SOFT_EPS_PRIOR` for soft judgments, 0 (the paper's maximum likelihood) for
            hard ones. Soft judgments identify eps only weakly (a near-constant ``P(yes)``
            makes eps a base rate, and an unused feature's eps drifts); the prior settles an
            eps the data leave open at 0.5 (the judge is not trusted) and costs an exact judge
            ``a / N``. Engines ``"sem"``, ``"cavi"``, ``"em"``, ``"exact"`` and ``"svi"`` (a
            ``pyro.factor`` in the model) take it; ``"moments"`` refuses ``a > 0``.
        engine_options: passed to the engine (see :func:`~genz_pyro.infer.cavi.fit_cavi`,
            :func:`~genz_pyro.infer.em.fit_em`, :func:`~genz_pyro.infer.sem.fit_sem`).

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError: unknown engine, CAVI with a non-linear link, bad eps / decoupled / q_init.
    """
    data = _check_data(data)
    name = engine
    if name is not None and name not in ENGINES:
        raise ValueError(f"engine: unknown engine {name!r}; use one of {', '.join(ENGINES)} (or None for the default)")
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps: must be >= 1, got {max_sweeps}")
    if eps_prior is None:
        eps_prior = SOFT_EPS_PRIOR if data.is_soft else 0.0
    start = prepare_start(data, eps=eps, decoupled=decoupled, learn_eps=learn_eps, q_init=q_init,
                          eps_prior=eps_prior)
    if data.is_soft and name in SOFT_REFUSED:
        raise ValueError(
            f"engine: {name!r} assumes hard 0/1 judgments ({SOFT_REFUSED[name]}); with soft judgments P(yes) "
            "use engine='sem', 'cavi', 'em' or 'svi' (or threshold the judgments, s > 0.5)"
        )
    if start.eps_prior and name == "moments":
        raise ValueError(f"eps_prior: the 'moments' engine has no prior on eps; use engine='sem' or 'cavi', or "
                         f"eps_prior=0 (got {eps_prior!r})")
    if name is None and data.is_soft:
        name = DEFAULT_ENGINE  # the moments assume hard judgments
    if name is None:
        # engine options are SEM's, and so is a prior on eps (the moments have none)
        name = DEFAULT_ENGINE if engine_options or start.eps_prior else default_engine(data, link, start.decoupled)
        if name == "moments":
            try:
                return fit_moments(data, start, max_sweeps=max_sweeps, **({} if tol is None else {"tol": tol}))
            except ValueError:  # rank-deficient moment system: the general default instead
                name = DEFAULT_ENGINE
    opts: dict[str, Any] = dict(engine_options)
    if tol is not None:
        opts["tol"] = tol
    if name == "exact":
        from genz_pyro.infer.exact import fit_exact

        return fit_exact(data, start, link=link, max_sweeps=max_sweeps, seed=seed, **opts)
    if name == "moments":
        if not _is_linear(link):
            raise ValueError(f"engine: 'moments' needs the linear link; use engine='sem' or 'em' for link={link!r}")
        return fit_moments(data, start, max_sweeps=max_sweeps, **opts)
    if name == "cavi":
        if not _is_linear(link):
            raise ValueError(f"engine: 'cavi' needs the linear link; use engine='sem' or 'em' for link={link!r}")
        return fit_cavi(data, start, max_sweeps=max_sweeps, **opts)
    if name == "svi":
        try:
            from genz_pyro.infer.svi import fit_svi
        except ImportError as exc:  # pragma: no cover - depends on the other module
            raise ValueError(
                "engine: 'svi' is not available (genz_pyro.infer.svi.fit_svi could not be imported: "
                f"{exc}); use engine='sem', 'cavi' or 'em'"
            ) from exc
        res = fit_svi(
            data,
            link=link,
            eps=start.eps,
            decoupled=start.decoupled,
            learn_eps=learn_eps,
            q_init=start.q,
            max_sweeps=max_sweeps,
            seed=seed,
            eps_prior=start.eps_prior,
            **opts,
        )
        if start.eps_prior:
            res.info["eps_prior"] = start.eps_prior
        return res
    if name == "em":
        res = fit_em(data, start, link=link, max_sweeps=max_sweeps, seed=seed, **opts)
    else:
        res = fit_sem(data, start, link=link, max_sweeps=max_sweeps, seed=seed, **opts)
    return _comparable_bound(res, data, start)


def _comparable_bound(res: FitResult, data: GenZData, start: Start, rounds: int = 1, sweeps: int = 10) -> FitResult:
    """Append the bound at the fitted link and eps with ``q`` re-optimised (mean-field E step).

    For the linear link ``sigma2`` is then re-optimised too (closed form given ``q`` and ``W``;
    ``rounds`` alternations of at most ``sweeps`` E sweeps; any ``q`` and ``sigma2`` give a
    valid bound, so stopping early only under-states it): EM's ``sigma2`` is the residual variance at the *mode*, which
    the mean-field bound penalises; the fitted ``res.sigma2`` itself is not changed.
    """
    if data.num_features == 0:
        return res
    own = res.bound_history[-1] if res.bound_history else float("nan")
    sigma2 = res.sigma2.double()
    q = res.q
    linear = isinstance(res.link, LinearLink)
    for _ in range(rounds if linear else 1):
        probe = FitResult(q, res.eps, res.decoupled, res.link, sigma2, [], True, 0.0, res.engine, 0)
        q = posterior(probe, data, q_init=q, sweeps=sweeps, tol=1e-3, exact=False)
        if linear:
            ld = prepare_linear(data)
            w = weight_from_link(res.link)
            szz, szy = suff_stats(ld, q.double().T.contiguous(), mean_field=True)
            e = ld.yy - 2.0 * (w * szy).sum(0) + (w * (szz @ w)).sum(0)
            sigma2 = torch.maximum(e / ld.n, ld.floor)
    b = float(mean_field_bound(data, q, res.eps, res.link, sigma2, seed=0).sum())
    b += eps_log_prior(res.eps.double(), start.learn, start.eps_prior)
    res.info["bound_own_q"] = own
    res.bound_history.append(b)
    return res


def posterior(
    result: FitResult,
    data: GenZData,
    *,
    sweeps: int = 100,
    tol: float = 1e-6,
    q_init: torch.Tensor | None = None,
    block_size: int = 16,
    exact: bool | None = None,
) -> torch.Tensor:
    """E step with the parameters of ``result`` held fixed: ``q [N, K]``.

    ``exact=None`` (default) gives the exact marginals ``p(z_nk = 1 | y_n, s_n)`` by enumeration
    when the fit came from ``engine="exact"`` (K <= 16), the mean-field E step otherwise;
    ``exact=True`` / ``False`` forces either.
    For new items (only their judgments, covariates and targets are used) or a held-out
    bound. Starts from the prior given the judgments (or ``q_init``) and sweeps the features
    in turn until no ``q`` moves by more than ``tol`` (at most ``sweeps`` sweeps). Linear link:
    the exact CAVI update; other links: the update of eq. 11 with the other features at
    their current ``q`` (one batched forward pass per feature).

    Raises:
        ValueError: when ``data`` has a different number of features or target dimensions.
    """
    data = _check_data(data)
    k = int(result.eps.shape[0])
    if data.num_features != k:
        raise ValueError(f"data: has {data.num_features} features but the fit has {k}; judge the same features")
    if data.target_dim != int(result.sigma2.shape[0]):
        raise ValueError(f"data: targets have D = {data.target_dim}, the fit has D = {int(result.sigma2.shape[0])}")
    eps = result.eps.double()
    if q_init is None:
        q = torch.sigmoid(data.prior_logits(eps).double())
    else:
        q = q_init.double().clone()
    if k == 0:
        return q.to(data.targets.dtype)
    sigma2 = result.sigma2.double()
    if exact or (exact is None and result.engine == "exact"):
        from genz_pyro.infer.enumerate import exact_posterior

        module = copy.deepcopy(result.link).double().eval()  # the result's link is left as it is
        post = exact_posterior(data, eps=eps, link=module, sigma2=sigma2, decoupled=result.decoupled)
        return post.marginals.to(data.targets.dtype)
    if isinstance(result.link, LinearLink):
        ld = prepare_linear(data)
        w = weight_from_link(result.link)
        base, g = e_field(ld, w, sigma2)
        qt = q.T.contiguous()
        for _ in range(sweeps):
            old = qt.clone()
            gauss_seidel(qt, base, g, ld.sm, eps, block=block_size, prior=soft_prior(data, eps))
            if float((qt - old).abs().max()) < tol:
                break
        return qt.T.to(data.targets.dtype)
    trainer = LinkTrainer(result.link, data)
    prior = data.prior_logits(eps).double()
    for _ in range(sweeps):
        old = q.clone()
        for j in range(k):
            q[:, j] = torch.sigmoid(prior[:, j] + forced_logits(trainer, q, sigma2, features=[j])[:, 0])
        if float((q - old).abs().max()) < tol:
            break
    return q.to(data.targets.dtype)
