"""``fit_judges``: the GenZ model with several judges per feature (Dawid-Skene rates).

::

    z_nk          ~ Bernoulli(pi_k)
    s_nkj | z_nk  ~ Bernoulli(1 - b_kj) if z_nk = 1 else Bernoulli(a_kj)     (judge j, missing allowed)
    y_n   | z_n   ~ Normal(f(z_n, u_n), diag(sigma2))

``a`` (false yes) and ``b`` (false no) are learnt per judge and feature, or shared by all of a
judge's features (``shared=True``), and may be tied (``symmetric=True``: one flip rate). With
one judge, ``symmetric=True`` and ``pi=0.5, learn_pi=False`` it is today's model
(:func:`genz_pyro.infer.fit`), update for update.

Engines (all with closed-form local updates: the field of ``z_nk`` is the judges' prior
log-odds plus the link term; :mod:`.judges_engines`): ``"sem"`` (default, any link),
``"cavi"`` (linear link), ``"em"`` (any link). The exact posterior for small K is in
:mod:`.judges_enumerate`; the Pyro model in :mod:`genz_pyro.models.judges`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from genz_pyro.infer.cavi import e_field, gauss_seidel, prepare_linear, weight_from_link
from genz_pyro.infer.em import LinkTrainer, forced_logits
from genz_pyro.infer.judge_rates import JudgeParams, prepare_judges_start, prior_logits
from genz_pyro.infer.start import SOFT_EPS_PRIOR
from genz_pyro.infer.judges_engines import judges_cavi, judges_em, judges_sem
from genz_pyro.judge_data import JudgesData
from genz_pyro.models.links import LinearLink

__all__ = ["JUDGES_ENGINES", "JudgesFit", "fit_judges", "judges_posterior"]

JUDGES_ENGINES = ("sem", "cavi", "em")


@dataclass
class JudgesFit:
    """A fit of the several-judges model.

    Attributes:
        q: ``[N, K]`` posterior ``q(z_nk = 1)`` of the training items.
        params: :class:`~genz_pyro.infer.judge_rates.JudgeParams`: ``pi [K]``,
            ``false_yes [K, J]``, ``false_no [K, J]``.
        decoupled: ``[K]`` bool: features that ignore their answers.
        link: the fitted link ``f(z, u)``.
        sigma2: ``[D]`` noise variances.
        bound_history: the bound on ``log p(y, s)`` (nats, total) per sweep (SEM: the noisy
            per-sweep objective, last entry the bound of the averaged result).
        converged: the engine's stopping rule fired before ``max_sweeps``.
        wall_time: seconds.
        engine: ``"sem"``, ``"cavi"`` or ``"em"``.
        num_sweeps: sweeps performed.
        feature_names: ``K`` names. judge_names: ``J`` names.
        shared: rates shared by a judge's features. symmetric: false yes = false no.
        info: engine extras.
    """

    q: torch.Tensor
    params: JudgeParams
    decoupled: torch.Tensor
    link: nn.Module
    sigma2: torch.Tensor
    bound_history: list[float]
    converged: bool
    wall_time: float
    engine: str
    num_sweeps: int
    feature_names: tuple[str, ...] = ()
    judge_names: tuple[str, ...] = ()
    shared: bool = False
    symmetric: bool = False
    info: dict = field(default_factory=dict)

    @property
    def pi(self) -> torch.Tensor:
        """``[K]``."""
        return self.params.pi

    @property
    def false_yes(self) -> torch.Tensor:
        """``[K, J]`` ``P(judge says yes | z = 0)``."""
        return self.params.false_yes

    @property
    def false_no(self) -> torch.Tensor:
        """``[K, J]`` ``P(judge says no | z = 1)``."""
        return self.params.false_no

    @property
    def bound(self) -> float:
        """The last value of the bound (``nan`` when no sweep ran)."""
        return self.bound_history[-1] if self.bound_history else float("nan")

    def rates_table(self) -> list[dict[str, Any]]:
        """One row per (feature, judge): false-yes, false-no and error rate ``P(s != z)``
        (``pi b + (1 - pi) a``); decoupled features are left out (their answers are ignored)."""
        err = self.params.error_rate()
        rows = []
        for k, fname in enumerate(self.feature_names):
            if bool(self.decoupled[k]):
                continue
            for j, jname in enumerate(self.judge_names):
                rows.append(
                    {
                        "feature": fname,
                        "judge": jname,
                        "false_yes": float(self.false_yes[k, j]),
                        "false_no": float(self.false_no[k, j]),
                        "error": float(err[k, j]),
                        "pi": float(self.pi[k]),
                    }
                )
        return rows


def _check_data(data: Any) -> JudgesData:
    if not isinstance(data, JudgesData):
        raise ValueError(
            f"data: expected a JudgesData, got {type(data).__name__}; build one with "
            "JudgesData.create(answers [N, K, J], targets, ...) (JudgesData.from_genz for one judge)"
        )
    return data


def fit_judges(
    data: JudgesData,
    *,
    link: str | nn.Module = "linear",
    engine: str | None = None,
    shared: bool = False,
    symmetric: bool = False,
    pi: Any | None = None,
    learn_pi: bool = True,
    false_yes: Any | None = None,
    false_no: Any | None = None,
    learn_rates: bool = True,
    decoupled: Any | None = None,
    q_init: Any | None = None,
    max_sweeps: int = 200,
    tol: float | None = None,
    seed: int = 0,
    rate_prior: float | None = None,
    **engine_options: Any,
) -> JudgesFit:
    """Fit the several-judges model to ``data``.

    Args:
        data: answers ``[N, K, J]`` (missing allowed), targets ``[N, D]``, covariates.
        link: ``"linear"``, ``"mlp"`` or a module ``f(z [.., N, K], u) -> [.., N, D]``.
        engine: ``None`` / ``"sem"`` (stochastic EM, any link), ``"cavi"`` (linear link),
            ``"em"`` (the paper's EM, any link).
        shared: one false-yes and one false-no rate per judge for all features (else one
            pair per judge and feature).
        symmetric: false yes = false no (one flip rate, like the one-judge model's eps).
        pi: initial ``p(z = 1)``, scalar or ``[K]`` (default 0.5); ``learn_pi=False`` holds it.
        false_yes, false_no: initial rates (scalar, ``[J]`` or ``[K, J]``; default 0.1);
            ``learn_rates=False`` holds them.
        decoupled: ``[K]`` bool: these features ignore their answers (discovery).
        q_init: ``[N, K]`` warm start (default: the prior given the answers).
        max_sweeps, tol, seed, engine_options: as :func:`genz_pyro.infer.fit`.
        rate_prior: strength ``a >= 0`` of a ``Beta(1 + a, 1 + a)`` prior on each learnt rate,
            a float or one per judge ``[J]`` (MAP M step, the bound gains its log density; a
            symmetric rate counts once, a shared one once per judge). ``None``:
            ``SOFT_EPS_PRIOR`` (0.3) for the judges whose answers are soft, 0 for those with
            hard ones (``data.soft_judges``), as ``fit``'s ``eps_prior``: with one symmetric
            judge the two fits agree.

    Returns:
        :class:`JudgesFit`.

    Raises:
        ValueError: unknown engine, CAVI with a non-linear link, bad starting values.
    """
    data = _check_data(data)
    name = "sem" if engine is None else engine
    if name not in JUDGES_ENGINES:
        raise ValueError(
            f"engine: {name!r} is not available for several judges; use one of {', '.join(JUDGES_ENGINES)} "
            "(the one-judge engines 'exact', 'svi' and 'moments' are for GenZData)"
        )
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps: must be >= 1, got {max_sweeps}")
    linear = isinstance(link, LinearLink) or (isinstance(link, str) and link == "linear")
    if name == "cavi" and not linear:
        raise ValueError(f"engine: 'cavi' needs the linear link; use engine='sem' or 'em' for link={link!r}")
    start = prepare_judges_start(
        data,
        pi=pi,
        false_yes=false_yes,
        false_no=false_no,
        learn_pi=learn_pi,
        learn_rates=learn_rates,
        shared=shared,
        symmetric=symmetric,
        decoupled=decoupled,
        q_init=q_init,
        rate_prior=(data.soft_judges.double() * SOFT_EPS_PRIOR) if rate_prior is None else rate_prior,
    )
    opts: dict[str, Any] = dict(engine_options)
    if tol is not None:
        opts["tol"] = tol
    t0 = time.perf_counter()
    if name == "cavi":
        out = judges_cavi(data, start, max_sweeps=max_sweeps, **opts)
    elif name == "em":
        out = judges_em(data, start, link=link, max_sweeps=max_sweeps, seed=seed, **opts)
    else:
        out = judges_sem(data, start, link=link, max_sweeps=max_sweeps, seed=seed, **opts)
    dtype = data.targets.dtype
    return JudgesFit(
        q=out.q.to(dtype),
        params=out.params,
        decoupled=start.decoupled.clone(),
        link=out.link,
        sigma2=out.sigma2.to(dtype),
        bound_history=out.bound_history,
        converged=out.converged,
        wall_time=time.perf_counter() - t0,
        engine=out.engine,
        num_sweeps=out.num_sweeps,
        feature_names=data.feature_names,
        judge_names=data.judge_names,
        shared=start.shared,
        symmetric=start.symmetric,
        info=out.info,
    )


def judges_posterior(
    result: JudgesFit,
    data: JudgesData,
    *,
    sweeps: int = 100,
    tol: float = 1e-6,
    q_init: torch.Tensor | None = None,
    block_size: int = 16,
) -> torch.Tensor:
    """Mean-field E step with the parameters of ``result`` held fixed: ``q [N, K]``.

    As :func:`genz_pyro.infer.posterior` (linear link: exact CAVI sweeps; any other link: the
    update of eq. 11 at the current ``q``), with the judges' prior log-odds.

    Raises:
        ValueError: when ``data`` has other features, judges or target dimensions.
    """
    data = _check_data(data)
    k, j = result.params.false_yes.shape
    if data.num_features != k or data.num_judges != j:
        raise ValueError(
            f"data: has K = {data.num_features} features and J = {data.num_judges} judges but the fit has "
            f"K = {k}, J = {j}; the same judges must answer the same features"
        )
    if data.target_dim != int(result.sigma2.shape[0]):
        raise ValueError(f"data: targets have D = {data.target_dim}, the fit has D = {int(result.sigma2.shape[0])}")
    prior = prior_logits(data, result.params, result.decoupled)
    q = torch.sigmoid(prior) if q_init is None else q_init.double().clone()
    if k == 0:
        return q.to(data.targets.dtype)
    sigma2 = result.sigma2.double()
    if isinstance(result.link, LinearLink):
        ld = prepare_linear(data.targets_only())
        base, g = e_field(ld, weight_from_link(result.link), sigma2)
        qt = q.T.contiguous()
        pt = prior.T.contiguous()
        for _ in range(sweeps):
            old = qt.clone()
            gauss_seidel(qt, base, g, ld.sm, result.params.pi, block=block_size, prior=pt)
            if float((qt - old).abs().max()) < tol:
                break
        return qt.T.to(data.targets.dtype)
    trainer = LinkTrainer(copy.deepcopy(result.link), data.targets_only())
    for _ in range(sweeps):
        old = q.clone()
        for f in range(k):
            q[:, f] = torch.sigmoid(prior[:, f] + forced_logits(trainer, q, sigma2, features=[f])[:, 0])
        if float((q - old).abs().max()) < tol:
            break
    return q.to(data.targets.dtype)
