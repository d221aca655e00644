"""The paper's EM (eqs. 11-14) for any link: linear, MLP or a user module ``f(z, u)``.

One sweep:

- **E step (eq. 11)**, all features in parallel::

      logit q_nk = (2 s_nk - 1) log((1 - eps_k) / eps_k)
                 + log N(y_n | f(z_n^{+k}, u_n), S) - log N(y_n | f(z_n^{-k}, u_n), S)

  where ``z^{+k}`` / ``z^{-k}`` set feature ``k`` to 1 / 0 and hold the others at the current
  mode ``q > 0.5`` (the paper; ``at="mode"``) or at ``q`` (``at="mean"``). The new mode is
  taken for all features at once; where that lowers the item's joint ``log p(y, zhat | s)``
  (parallel flips can 2-cycle) only the best single flip is applied. The ``K`` forced
  variants of every item go through the link in ONE batched call (``z [K, n, K]``), over
  chunks of items so memory stays bounded for large ``N``. For :class:`LinearLink` the same
  numbers come from the closed form ``(R S^-1 W)_nk + G_kk (zhat_nk - 1/2)`` in ``O(NKD)``.
- **M step (eqs. 12-14)** at ``zhat`` (the new mode): least squares for the linear link
  (closed form), otherwise ``m_epochs`` epochs of Adam on mini-batches; ``sigma2`` is the
  residual variance at ``zhat`` (with a floor), ``eps`` the expected disagreement under ``q``.

The bound in ``bound_history`` is :func:`genz_pyro.infer.bound.mean_field_bound` at the
sweep's ``q`` (exact for the linear link, common-random-number Monte Carlo otherwise). EM
is not a coordinate ascent of that bound, so it need not be monotone. It stops
(``converged = True``) when the bound changes by less than ``tol`` nats per item.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import torch
from torch import nn

from genz_pyro.data import GenZData
from genz_pyro.infer.bound import link_dtype, mean_field_bound
from genz_pyro.infer.result import FitResult, engine_result
from genz_pyro.infer.start import Start, eps_log_prior, sigma2_floor, soft_update_eps, update_eps
from genz_pyro.models.links import LinearLink, make_link

S = TypeVar("S")

__all__ = ["LinkTrainer", "init_link", "forced_logits", "EmRun", "em_sweeps", "fit_em"]


def init_link(link: str | nn.Module, data: GenZData, *, seed: int = 0) -> nn.Module:
    """A fresh link (built under ``seed``) from a name, or a deep copy of a given module."""
    if isinstance(link, nn.Module):
        return copy.deepcopy(link)
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        module = make_link(
            link, num_features=data.num_features, target_dim=data.target_dim, covariate_dim=data.covariate_dim
        )
    return module.to(data.targets.dtype)


class LinkTrainer:
    """Fits a link to ``(z, u) -> y`` and evaluates it in chunks (used by EM and SEM).

    Args:
        module: the link (trained in place).
        data: the data (targets ``[N, D]``, covariates ``[N, C]``).
        seed: seed of mini-batch order and dropout (a private RNG stream).
        lr: Adam learning rate.
        batch_size: items per Adam step.
        m_epochs: epochs per M step.
        init_epochs: epochs of the initial fit at the starting ``z``.
        chunk: items per batched forward pass (default: keeps ``[K, chunk, width]`` ~4M numbers).
        closed_form: least squares instead of Adam for a :class:`LinearLink` (default True).
    """

    def __init__(
        self,
        module: nn.Module,
        data: GenZData,
        *,
        seed: int = 0,
        lr: float = 1e-2,
        batch_size: int = 256,
        m_epochs: int = 2,
        init_epochs: int = 30,
        chunk: int | None = None,
        closed_form: bool = True,
    ) -> None:
        self.module = module
        self.dtype = link_dtype(module)
        self.y = data.targets.to(self.dtype)
        self.u = None if data.covariates is None else data.covariates.to(self.dtype)
        self.seed = int(seed)
        self.calls = 0
        self.batch_size = int(batch_size)
        self.m_epochs = int(m_epochs)
        self.init_epochs = int(init_epochs)
        self.closed_form = bool(closed_form) and isinstance(module, LinearLink)
        n, k = data.judgments.shape
        width = max(k + data.covariate_dim, data.target_dim, 64)
        self.chunk = int(chunk) if chunk else max(1, 4_000_000 // (max(k, 1) * width))
        params = [p for p in module.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, lr=lr) if params and not self.closed_form else None

    # ------------------------------------------------------------ evaluation
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``f(z, u)`` in eval mode without gradients, ``z [N, K]`` -> ``[N, D]`` float64."""
        out = []
        was = self.module.training
        self.module.eval()
        with torch.no_grad():
            for i in range(0, z.shape[0], self.chunk):
                uc = None if self.u is None else self.u[i : i + self.chunk]
                out.append(self.module(z[i : i + self.chunk].to(self.dtype), uc).double())
        self.module.train(was)
        return torch.cat(out, 0)

    def residual_variance(self, z: torch.Tensor) -> torch.Tensor:
        """``[D]`` mean squared residual of ``y`` at ``z`` (eq. 13, no floor)."""
        return ((self.y.double() - self.forward(z)) ** 2).mean(0)

    # --------------------------------------------------------------- fitting
    def _fit_closed_form(self, z: torch.Tensor) -> None:
        n = z.shape[0]
        ones = torch.ones(n, 1, dtype=torch.float64)
        x = torch.cat([z.double()] + ([self.u.double()] if self.u is not None else []) + [ones], 1)
        a = x.T @ x
        a.diagonal().add_(1e-10 * float(a.diagonal().mean()) + 1e-300)
        w = torch.linalg.solve(a, x.T @ self.y.double())  # [P, D]
        with torch.no_grad():
            self.module.weight.copy_(w[:-1].T.to(self.dtype))
            self.module.bias.copy_(w[-1].to(self.dtype))

    def _adam(self, z: torch.Tensor, epochs: int, sigma2: torch.Tensor | None) -> None:
        assert self.opt is not None
        n = z.shape[0]
        zc = z.to(self.dtype)
        weight = (1.0 / sigma2 if sigma2 is not None else 1.0 / self.y.var(0).clamp_min(1e-12)).to(self.dtype)
        self.module.train()
        with torch.random.fork_rng():
            torch.manual_seed(self.seed + 7919 * self.calls)
            self.calls += 1
            for _ in range(epochs):
                perm = torch.randperm(n)
                for i in range(0, n, self.batch_size):
                    idx = perm[i : i + self.batch_size]
                    uc = None if self.u is None else self.u[idx]
                    loss = (((self.y[idx] - self.module(zc[idx], uc)) ** 2) * weight).sum(-1).mean()
                    self.opt.zero_grad()
                    loss.backward()
                    self.opt.step()
        self.module.eval()

    def pretrain(self, z: torch.Tensor) -> None:
        """Initial fit of the link at ``z [N, K]``."""
        if self.closed_form:
            self._fit_closed_form(z)
        elif self.opt is not None:
            self._adam(z, self.init_epochs, None)

    def m_step(self, z: torch.Tensor, sigma2: torch.Tensor | None = None) -> None:
        """Eq. 12 at ``z [N, K]``: least squares, or ``m_epochs`` of Adam weighted by ``1/sigma2``."""
        if self.closed_form:
            self._fit_closed_form(z)
        elif self.opt is not None:
            self._adam(z, self.m_epochs, sigma2)


def forced_logits(
    trainer: LinkTrainer,
    z: torch.Tensor,
    sigma2: torch.Tensor,
    *,
    features: list[int] | None = None,
    generic: bool = False,
) -> torch.Tensor:
    """``log p(y | z^{+k}) - log p(y | z^{-k})`` for every item and the chosen features.

    Args:
        trainer: holds the link, targets and covariates.
        z: ``[N, K]`` values of the other features (mode, mean or a sample).
        sigma2: ``[D]`` noise variances.
        features: feature indices (default all ``K``).
        generic: force the batched forward pass even for a linear link (for tests).

    Returns:
        ``[N, F]`` float64.
    """
    n, k = z.shape
    feats = list(range(k)) if features is None else list(features)
    if not feats:
        return torch.zeros(n, 0, dtype=torch.float64)
    y = trainer.y.double()
    s2 = sigma2.double()
    link = trainer.module
    if isinstance(link, LinearLink) and not generic:
        wz = link.feature_weight.detach().double()[:, feats]  # [D, F]
        r = y - trainer.forward(z)  # [N, D]
        ws = wz / s2[:, None]
        gkk = (ws * wz).sum(0)  # [F]
        return r @ ws + gkk * (z[:, feats].double() - 0.5)
    eye = torch.eye(k, dtype=trainer.dtype)[feats]  # [F, K]
    keep = (1.0 - eye)[:, None, :]
    out = []
    was = link.training
    link.eval()
    with torch.no_grad():
        for i in range(0, n, trainer.chunk):
            zc = z[i : i + trainer.chunk].to(trainer.dtype)[None]  # [1, n, K]
            uc = None if trainer.u is None else trainer.u[i : i + trainer.chunk]
            yc = y[i : i + trainer.chunk]
            zm = zc * keep
            fp = link(zm + eye[:, None, :], uc).double()  # [F, n, D]
            fm = link(zm, uc).double()
            diff = (((yc - fm) ** 2 - (yc - fp) ** 2) / s2).sum(-1) * 0.5  # [F, n]
            out.append(diff.T)
    link.train(was)
    return torch.cat(out, 0)


@dataclass
class EmRun(Generic[S]):
    """What :func:`em_sweeps` returns (float64).

    Attributes:
        q: ``[N, K]`` posterior of the last E step. state: prior-side parameters after the
        last M step. sigma2: ``[D]``. bound_history: the bound after every sweep.
        converged: the stopping rule fired. num_sweeps: sweeps performed.
        guarded: items whose parallel mode update was replaced by the best single flip.
    """

    q: torch.Tensor
    state: S
    sigma2: torch.Tensor
    bound_history: list[float]
    converged: bool
    num_sweeps: int
    guarded: int

    def info(self, at: str, trainer: LinkTrainer, tol: float) -> dict:
        """The engines' ``info`` dict."""
        return {"at": at, "closed_form_m_step": trainer.closed_form, "tol_per_item": tol, "guarded_items": self.guarded}


def em_sweeps(
    trainer: LinkTrainer,
    targets: torch.Tensor,
    q: torch.Tensor,
    state: S,
    *,
    prior: Callable[[S], torch.Tensor],
    m_step: Callable[[S, torch.Tensor], S],
    bound: Callable[[torch.Tensor, S, torch.Tensor], float],
    at: str,
    max_sweeps: int,
    tol: float,
) -> EmRun[S]:
    """The EM loop shared by the one-judge and several-judges models (eqs. 11-14).

    Args:
        trainer: holds the link (trained in place; left in eval mode).
        targets: ``[N, D]``.
        q: ``[N, K]`` starting posterior (gives the first ``zhat``; not modified).
        state: starting prior-side parameters (any type ``S``).
        prior: ``state -> [N, K]`` prior log-odds of ``z = 1`` (float64).
        m_step: ``(state, q [N, K]) -> state``: the prior side's M step.
        bound: ``(q [N, K], state, sigma2 [D]) -> total bound`` (nats).
        at, max_sweeps, tol: as :func:`fit_em`.
    """
    n, k = q.shape
    floor = sigma2_floor(targets)
    y = targets.double()

    def log_joint(z: torch.Tensor, logits: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
        """``[N]``: ``log p(y | z) + sum_k log p(z_k | s_k)`` up to constants (prior: logits)."""
        ll = -0.5 * (((y - trainer.forward(z)) ** 2) / sigma2).sum(-1)
        return ll + (z * logits).sum(-1)

    q = q.clone()
    zhat = (q > 0.5).double() if at == "mode" else q.clone()
    trainer.pretrain(zhat)
    sigma2 = torch.maximum(trainer.residual_variance(zhat), floor)
    history: list[float] = []
    converged = False
    sweeps = 0
    prev = float("nan")
    guarded = 0
    for sweeps in range(1, max_sweeps + 1):
        changed = 0
        if k:
            logits = prior(state)
            logit = logits + forced_logits(trainer, zhat, sigma2)
            q = torch.sigmoid(logit)
            if at == "mode":
                new = (q > 0.5).double()
                # Parallel flips can overshoot (a 2-cycle); where the joint at the new mode is
                # worse, keep the old mode and apply only its best single flip (if it helps).
                worse = log_joint(new, logits, sigma2) < log_joint(zhat, logits, sigma2)
                if bool(worse.any()):
                    guarded += int(worse.sum())
                    gain = (1.0 - 2.0 * zhat[worse]) * logit[worse]
                    best = gain.argmax(-1)
                    fix = zhat[worse].clone()
                    rows = torch.arange(fix.shape[0])
                    ok = gain[rows, best] > 0
                    fix[rows[ok], best[ok]] = 1.0 - fix[rows[ok], best[ok]]
                    new[worse] = fix
                changed = int((new != zhat).any(-1).sum())
                zhat = new
            else:
                zhat = q
        trainer.m_step(zhat, sigma2)
        sigma2 = torch.maximum(trainer.residual_variance(zhat), floor)
        state = m_step(state, q)
        b = bound(q, state, sigma2)
        history.append(b)
        if k == 0 or (abs(b - prev) < tol * n and (at == "mean" or changed == 0 or not trainer.closed_form)):
            converged = True
            break
        prev = b
    trainer.module.eval()
    return EmRun(q, state, sigma2, history, converged, sweeps, guarded)


def fit_em(
    data: GenZData,
    start: Start,
    *,
    link: str | nn.Module = "linear",
    max_sweeps: int = 100,
    tol: float = 1e-5,
    at: str = "mode",
    seed: int = 0,
    bound_samples: int = 32,
    **trainer_options: object,
) -> FitResult:
    """Fit any link by the paper's EM.

    Args:
        data: validated data.
        start: starting values (``start.q`` gives the first ``zhat``).
        link: ``"linear"``, ``"mlp"`` or a module ``f(z [.., N, K], u) -> [.., N, D]`` (a copy is trained).
        max_sweeps: at most this many E + M sweeps.
        tol: stop when the bound changes by less than ``tol`` nats per item.
        at: ``"mode"`` (paper) or ``"mean"``: where the other features are held in the E step.
        seed: seed of the link's initialisation, mini-batches and the bound's Monte Carlo draws.
        bound_samples: Monte Carlo draws of the bound for a non-linear link.
        trainer_options: :class:`LinkTrainer` options (``lr``, ``batch_size``, ``m_epochs``,
            ``init_epochs``, ``chunk``, ``closed_form``).

    Returns:
        :class:`FitResult` with ``engine="em"``.
    """
    if at not in ("mode", "mean"):
        raise ValueError(f"at: must be 'mode' (paper) or 'mean', got {at!r}")
    t0 = time.perf_counter()
    module = init_link(link, data, seed=seed)
    trainer = LinkTrainer(module, data, seed=seed, **trainer_options)  # type: ignore[arg-type]
    n, k = data.judgments.shape
    mask = torch.ones(n, k, dtype=torch.float64) if data.missing is None else (~data.missing).double()
    s = data.judgments.double()
    count = mask.sum(0)

    def m_step(eps: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        if data.is_soft:
            return soft_update_eps(q, s, mask, eps, start.learn, prior=start.eps_prior)
        disagree = (mask * (q * (1 - s) + (1 - q) * s)).sum(0)
        return update_eps(disagree, count, eps, start.learn, start.eps_prior)

    run = em_sweeps(
        trainer,
        data.targets,
        start.q,
        start.eps.clone(),
        prior=lambda eps: data.prior_logits(eps).double(),
        m_step=m_step,
        bound=lambda q, eps, sigma2: float(
            mean_field_bound(data, q, eps, module, sigma2, num_samples=bound_samples, seed=seed).sum()
        ) + eps_log_prior(eps, start.learn, start.eps_prior),
        at=at,
        max_sweeps=max_sweeps,
        tol=tol,
    )
    return engine_result(
        data,
        start,
        q=run.q,
        eps=run.state,
        link=module,
        sigma2=run.sigma2,
        bound_history=run.bound_history,
        converged=run.converged,
        wall_time=time.perf_counter() - t0,
        engine="em",
        num_sweeps=run.num_sweeps,
        info=run.info(at, trainer, tol),
    )
