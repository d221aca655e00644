"""Stochastic variational inference for GenZ in the classic sense (Hoffman et al. 2013).

Each step takes a minibatch of items (the ``"items"`` plate with an explicit
``subsample``, so that Pyro scales its log-probabilities by ``N/B``) and

1. **local step, closed form**: the mean-field ``q`` of the minibatch's items is set
   by coordinate ascent with the global parameters fixed. For the linear link this is
   the exact CAVI update of appendix B (features updated one at a time, a few sweeps,
   so each item's ``q`` reaches its mean-field optimum); for any other link it is
   the paper's eq. 11 with the other features at their current mode, all ``K``
   forced variants in one batched forward pass.
2. **global step, gradient**: one :class:`pyro.infer.SVI` step of ``eps``, ``sigma2``
   and the link's parameters on :meth:`GenZModel.expected_model
   <genz_pyro.models.genz.GenZModel.expected_model>` with an empty guide and
   :class:`pyro.infer.Trace_ELBO`: the model with ``z`` integrated against the fixed
   ``q``, so the loss is ``-(N/B) sum_{n in batch} B_n`` with the KL term analytic and,
   for the linear link, the expected log-likelihood analytic too.

Which ELBO and its variance: the objective is the mean-field bound. For the linear link
it is computed exactly per minibatch (no Monte Carlo at all): the only noise is
minibatch sampling, controlled by the batch size and by Adam's step size, which
decays as ``lr_t = lr * lr_decay^t`` (by default 100x over the run).
There is no score-function term: ``q`` is not a gradient-trained parameter, so
the non-reparameterisable Bernoulli sites never need a REINFORCE estimator.
For other links the expected log-likelihood is a Monte Carlo average over
``num_particles`` draws ``z ~ q`` (unbiased, since the draws do not depend on the
parameters being learnt). See ``docs/svi.md`` for measurements.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.guides.mean_field import MeanFieldGuide
from genz_pyro.infer.result import FitResult
from genz_pyro.models.genz import EPS_MAX, GenZModel
from genz_pyro.models.links import LinearLink, make_link

__all__ = ["fit_svi", "local_update", "full_bound", "least_squares_init"]

_LOGIT_CLIP = 30.0
_AUTO_BATCH = 131072  # items x features per minibatch when subsample_size is None


def _empty_guide(*args: Any, **kwargs: Any) -> None:
    """The global step's guide: the parameters are point estimates and ``q`` is fixed."""


def least_squares_init(data: GenZData, link: LinearLink) -> torch.Tensor:
    """Set a linear link to least squares of ``y`` on ``[s; u; 1]`` (missing -> 0.5).

    Returns:
        ``[D]`` residual variances (floored at 1e-6 of the target variance).
    """
    s = data.judgments.double()
    if data.missing is not None:
        s = s.masked_fill(data.missing, 0.5)
    cols = [s] + ([data.covariates.double()] if data.covariates is not None else [])
    x = torch.cat(cols + [torch.ones(data.num_items, 1, dtype=torch.float64)], dim=-1)
    y = data.targets.double()
    ridge = 1e-8 * torch.eye(x.shape[1], dtype=torch.float64) * data.num_items
    coef = torch.linalg.solve(x.T @ x + ridge, x.T @ y)  # [K + C + 1, D]
    with torch.no_grad():
        link.weight.copy_(coef[:-1].T.to(link.weight.dtype))
        link.bias.copy_(coef[-1].to(link.bias.dtype))
    resid = y - x @ coef
    floor = 1e-6 * y.var(0).clamp_min(1e-12)
    return resid.pow(2).mean(0).clamp_min(floor).to(data.targets.dtype)


@torch.no_grad()
def _local_linear(
    link: LinearLink, prior: torch.Tensor, y: torch.Tensor, u: torch.Tensor | None, sigma2: torch.Tensor,
    q: torch.Tensor, sweeps: int, tol: float,
) -> torch.Tensor:
    """Gauss-Seidel CAVI on a batch: ``q [B, K]`` -> updated ``q [B, K]`` (appendix B).

    Works in the transposed layout (``[K, B]``, ``[D, B]``): each feature's update is
    then two rank-1 updates and one ``[D] @ [D, B]`` product on contiguous rows.
    """
    w = link.feature_weight  # [D, K]
    wt = w.T.contiguous()  # [K, D]
    wpt = (w / sigma2.unsqueeze(-1)).T.contiguous()  # [K, D]
    half = 0.5 * (wt * wpt).sum(-1)  # [K]
    qt = q.T.contiguous()  # [K, B]
    pt = prior.T.contiguous()  # [K, B]
    rt = (y - link(q, u)).T.contiguous()  # [D, B]
    for _ in range(sweeps):
        old = qt.clone()
        for k in range(qt.shape[0]):
            rt.addr_(wt[k], qt[k])
            qk = torch.sigmoid((pt[k] + wpt[k] @ rt - half[k]).clamp_(-_LOGIT_CLIP, _LOGIT_CLIP))
            rt.addr_(wt[k], qk, alpha=-1.0)
            qt[k] = qk
        if float((qt - old).abs().max()) < tol:
            break
    return qt.T.contiguous()


@torch.no_grad()
def _local_forced(
    link: nn.Module, prior: torch.Tensor, y: torch.Tensor, u: torch.Tensor | None, sigma2: torch.Tensor,
    q: torch.Tensor, sweeps: int, tol: float,
) -> torch.Tensor:
    """Paper eq. 11 for any link, the K forced variants batched: ``q [B, K]`` -> ``[B, K]``."""
    k = q.shape[1]
    eye = torch.eye(k, dtype=q.dtype, device=q.device).unsqueeze(1)  # [K, 1, K]
    was_training = link.training
    link.eval()
    try:
        for _ in range(sweeps):
            zhat = (q > 0.5).to(q.dtype).unsqueeze(0)  # [1, B, K]
            z_plus = zhat * (1 - eye) + eye  # [K, B, K]
            z_minus = zhat * (1 - eye)
            d_plus = ((y - link(z_plus, u)) ** 2 / sigma2).sum(-1)  # [K, B]
            d_minus = ((y - link(z_minus, u)) ** 2 / sigma2).sum(-1)
            new = torch.sigmoid((prior - 0.5 * (d_plus - d_minus).T).clamp(-_LOGIT_CLIP, _LOGIT_CLIP))
            change = float((new - q).abs().max())
            q = new
            if change < tol:
                break
    finally:
        link.train(was_training)
    return q


@torch.no_grad()
def local_update(
    gm: GenZModel,
    data: GenZData,
    q: torch.Tensor,
    idx: torch.Tensor | None = None,
    *,
    sweeps: int = 10,
    tol: float = 1e-4,
) -> torch.Tensor:
    """The closed-form local step: ``q`` of items ``idx`` with the parameters fixed.

    Reads ``eps``, ``sigma2`` from the param store of ``gm`` (call inside the scope the
    parameters live in). Linear link: coordinate ascent to the mean-field optimum
    (monotone); other links: eq. 11 on the mode.

    Args:
        q: ``[N, K]`` current probabilities (not modified).
        idx: ``[B]`` item indices (default: all items).

    Returns:
        ``[B, K]`` updated probabilities for those items.
    """
    qb = q if idx is None else q[idx]
    if data.num_features == 0:
        return qb
    eps = gm.eps().detach().to(data.judgments.dtype)
    sigma2 = gm.sigma2().detach()
    sub = data if idx is None else data.subset(idx)
    prior = sub.prior_logits(eps.clamp(max=EPS_MAX))
    step = _local_linear if isinstance(gm.link, LinearLink) else _local_forced
    return step(gm.link, prior, sub.targets, sub.covariates, sigma2, qb, sweeps, tol)


@torch.no_grad()
def full_bound(gm: GenZModel, data: GenZData, q: torch.Tensor, *, chunk_size: int = 65536, num_samples: int = 64) -> float:
    """The mean-field bound on all items (nats), in chunks: exact for the linear link,
    a Monte Carlo estimate with ``num_samples`` draws per item otherwise."""
    elbo = Trace_ELBO()
    total = 0.0
    n = data.num_items
    for start in range(0, n, chunk_size):
        idx = torch.arange(start, min(start + chunk_size, n))
        loss = elbo.loss(gm.expected_model, _empty_guide, data, q, subsample=idx, num_samples=num_samples)
        total += -loss * len(idx) / n
    return total


def _check_q_init(q_init: torch.Tensor | None, data: GenZData, eps: torch.Tensor) -> torch.Tensor:
    if q_init is None:
        return torch.sigmoid(data.prior_logits(eps))
    q = torch.as_tensor(q_init, dtype=data.judgments.dtype).detach().clone()
    if tuple(q.shape) != tuple(data.judgments.shape):
        raise ValueError(f"q_init: expected shape {tuple(data.judgments.shape)}, got {tuple(q.shape)}")
    if not bool(((q >= 0) & (q <= 1)).all()):
        raise ValueError("q_init: probabilities must lie in [0, 1]")
    return q


def fit_svi(
    data: GenZData,
    *,
    link: str | nn.Module = "linear",
    eps: torch.Tensor | float | None = None,
    decoupled: torch.Tensor | None = None,
    learn_eps: bool = True,
    q_init: torch.Tensor | None = None,
    max_sweeps: int = 300,
    tol: float | None = None,
    seed: int = 0,
    subsample_size: int | None = None,
    num_particles: int = 8,
    lr: float = 0.1,
    link_lr: float | None = None,
    lr_decay: float | None = None,
    local_sweeps: int | None = None,
    local_tol: float = 1e-4,
    patience: int | None = None,
    init: str = "lstsq",
    eps_prior: float = 0.0,
) -> FitResult:
    """Fit the GenZ model by classic SVI (closed-form local ``q``, Adam on the globals).

    Args:
        data: the inputs (``N`` items, ``K`` features, ``D`` targets).
        link: ``"linear"``, ``"mlp"`` or an ``nn.Module`` ``f(z, u)``.
        eps: initial flip probabilities ``[K]`` (or scalar) in ``(0, 0.5]``; default 0.1
            (0.5 for decoupled features).
        decoupled: ``[K]`` bool, features whose eps is held at 0.5.
        learn_eps: False keeps ``eps`` fixed.
        q_init: ``[N, K]`` initial posterior; default the judgments through the prior.
        max_sweeps: passes over the data (each ``ceil(N / B)`` steps).
        tol: stop when the per-sweep bound changes by less than ``tol`` nats per item for
            ``patience`` sweeps in a row (default 1e-5 at full batch, 1e-3 with minibatches).
            A sweep visits every item once (a random permutation), so the per-sweep mean of
            the ``N/B``-scaled minibatch bounds has no sampling noise, only the drift of the
            parameters within the sweep.
        seed: seeds torch and Pyro (minibatch order, Monte Carlo draws, MLP init).
        subsample_size: minibatch size ``B``. Default: full batch when ``N K <= 131072``,
            else ``B = max(512, 131072 // K)`` (the local step costs ``O(B K D)``; measured in
            ``docs/svi.md``). Pass ``N`` to force full batch.
        num_particles: draws ``z ~ q`` per item for non-linear links.
        lr: Adam step size of ``eps``, ``sigma2`` (and of a linear link).
        link_lr: Adam step size of the link's parameters (default ``lr`` for a linear
            link, 0.03 for any other).
        lr_decay: per-step multiplicative decay of ``lr``. Default: ``lr`` falls 100x over
            ``max_sweeps`` steps at full batch; with minibatches over
            ``min(max_sweeps * ceil(N / B), max(400, 3 * ceil(N / B)))`` steps (and keeps
            falling after that, so the run settles).
        local_sweeps, local_tol: coordinate-ascent sweeps per minibatch (and their stop
            rule); default 5 at full batch, 2 with minibatches (``q`` is warm-started from
            the item's previous visit). The final pass over all items uses at least 10.
        patience: see ``tol`` (default 5 at full batch, 2 with minibatches).
        init: ``"lstsq"`` starts a string ``"linear"`` link at least squares on the
            judgments (and sigma2 at its residual variance); ``"none"`` keeps the defaults.
        eps_prior: strength ``a`` of a ``Beta(1 + a, 1 + a)`` prior on the learned eps (a
            ``pyro.factor`` in :class:`GenZModel`; see :func:`genz_pyro.infer.fit.fit`).

    Returns:
        :class:`~genz_pyro.infer.result.FitResult` with ``engine="svi"``;
        ``bound_history`` has one entry per sweep (the mean of the minibatch estimates,
        exact for the linear link at full batch), and a final entry: the bound on all
        items after a final local step. ``info`` holds the estimator and settings, the
        ``"model"`` (a :class:`GenZModel` whose starting values are the fitted ``eps`` and
        ``sigma2``, ready for :class:`pyro.infer.Predictive` in a fresh param store) and
        the ``"guide"`` (a fixed :class:`MeanFieldGuide` holding ``q``).

    Raises:
        ValueError: for bad options (named).
    """
    if not isinstance(data, GenZData):
        raise ValueError(f"data: expected a GenZData (see GenZData.create), got {type(data).__name__}")
    n, k, d, c = data.num_items, data.num_features, data.target_dim, data.covariate_dim
    if subsample_size is not None and not 1 <= int(subsample_size) <= n:
        raise ValueError(f"subsample_size: must be in [1, N = {n}] (N for full batch) or None, got {subsample_size}")
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps: must be >= 1, got {max_sweeps}")
    if local_sweeps is not None and local_sweeps < 1:
        raise ValueError(f"local_sweeps: must be >= 1, got {local_sweeps}")
    if lr <= 0:
        raise ValueError(f"lr: must be positive, got {lr}")
    if link_lr is not None and link_lr <= 0:
        raise ValueError(f"link_lr: must be positive, got {link_lr}")
    if num_particles < 1:
        raise ValueError(f"num_particles: must be >= 1, got {num_particles}")
    if init not in ("lstsq", "none"):
        raise ValueError(f"init: must be 'lstsq' or 'none', got {init!r}")
    if subsample_size is None:
        batch = n if n * k <= _AUTO_BATCH else min(n, max(512, _AUTO_BATCH // k))
    else:
        batch = int(subsample_size)
    if tol is None:
        tol = 1e-5 if batch == n else 1e-3
    if tol < 0:
        raise ValueError(f"tol: must be >= 0 (nats per item), got {tol}")
    if patience is None:
        patience = 5 if batch == n else 2
    steps_per_sweep = math.ceil(n / batch)
    if local_sweeps is None:
        local_sweeps = 5 if batch == n else 2
    if lr_decay is None:
        horizon = max_sweeps if batch == n else min(max_sweeps * steps_per_sweep, max(400, 3 * steps_per_sweep))
        lr_decay = 0.01 ** (1.0 / horizon)
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay: must be in (0, 1], got {lr_decay}")

    pyro.set_rng_seed(seed)
    module = make_link(link, num_features=k, target_dim=d, covariate_dim=c)
    module = module.to(data.targets.dtype)
    sigma2 = data.targets.var(0, unbiased=False).clamp_min(1e-8)
    if init == "lstsq" and isinstance(link, str) and isinstance(module, LinearLink):
        sigma2 = least_squares_init(data, module)
    gm = GenZModel(module, num_features=k, target_dim=d, eps=eps, decoupled=decoupled, learn_eps=learn_eps, sigma2=sigma2,
                   eps_prior=eps_prior)
    q = _check_q_init(q_init, data, gm.eps_init.to(data.judgments.dtype))
    guide = MeanFieldGuide(n, k, init_logits=torch.logit(q.clamp(1e-6, 1 - 1e-6)), learn=False)

    history: list[float] = []
    converged = False
    steps = 0
    start = time.perf_counter()
    with pyro.get_param_store().scope():
        rate_link = link_lr if link_lr is not None else (lr if isinstance(module, LinearLink) else 0.03)

        def per_param(name: str) -> dict:
            return {"lr": rate_link if name.startswith("link.") else lr, "lrd": lr_decay, "clip_norm": 1e6}

        optim = pyro.optim.ClippedAdam(per_param)
        svi = SVI(gm.expected_model, _empty_guide, optim, Trace_ELBO())
        quiet = 0
        sweep = 0
        for sweep in range(1, max_sweeps + 1):
            estimates: list[float] = []
            if batch == n:  # full batch: no subsample, no copies
                q = local_update(gm, data, q, sweeps=local_sweeps, tol=local_tol)
                estimates.append(-svi.step(data, q, num_samples=num_particles))
                steps += 1
            else:
                order = torch.randperm(n)
                for b in range(steps_per_sweep):
                    idx = order[b * batch : (b + 1) * batch]
                    q[idx] = local_update(gm, data, q, idx, sweeps=local_sweeps, tol=local_tol)
                    estimates.append(-svi.step(data, q, subsample=idx, num_samples=num_particles))
                    steps += 1
            history.append(sum(estimates) / len(estimates))
            if len(history) > 1:
                quiet = quiet + 1 if abs(history[-1] - history[-2]) <= tol * n else 0
                if quiet >= patience:
                    converged = True
                    break
        final_sweeps = max(10, local_sweeps)
        q = torch.cat(
            [local_update(gm, data, q, ch, sweeps=final_sweeps, tol=local_tol) for ch in torch.arange(n).split(65536)]
        )
        was_training = module.training
        module.eval()  # no dropout in the reported bound
        history.append(full_bound(gm, data, q, num_samples=max(64, num_particles)))
        module.train(was_training)
        eps_final = gm.eps().detach().clone()
        sigma2_final = gm.sigma2().detach().clone()
    wall = time.perf_counter() - start
    guide.logits = torch.logit(q.clamp(1e-6, 1 - 1e-6))
    # the fit's param store is gone: the returned model starts from the fitted values
    gm.eps_init, gm.sigma2_init = eps_final.clone(), sigma2_final.clone()
    return FitResult(
        q=q,
        eps=eps_final,
        decoupled=gm.decoupled.clone(),
        link=module,
        sigma2=sigma2_final,
        bound_history=history,
        converged=converged,
        wall_time=wall,
        engine="svi",
        num_sweeps=sweep,
        feature_names=data.feature_names,
        info={
            "elbo": "Trace_ELBO on GenZModel.expected_model: closed-form local q, analytic KL"
            + (", analytic expected log-likelihood" if isinstance(module, LinearLink) else f", {num_particles}-draw MC log-likelihood"),
            "steps": steps,
            "subsample_size": batch,
            "tol": tol,
            "lr": lr,
            "link_lr": rate_link,
            "lr_decay": lr_decay,
            "local_sweeps": local_sweeps,
            "guide": guide,
            "model": gm,
        },
    )
