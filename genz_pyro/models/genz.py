"""The GenZ hybrid model as a Pyro program.

A frozen foundation model answers yes/no questions ``s_nk`` about every item; the
answers are noisy views of latent binary features ``z_nk``, which in turn explain the
real-valued targets ``y_n`` through a link ``f``::

    z_nk | s_nk, eps_k ~ Bernoulli( s_nk (1 - eps_k) + (1 - s_nk) eps_k )
    y_n  | z_n, u_n    ~ Normal( f(z_n, u_n), diag(sigma2) )

A missing judgment gives ``z_nk`` the uninformative prior 0.5; a *decoupled* feature
has ``eps_k`` held at exactly 0.5, so that only the targets decide ``z_k``.

Plate diagram (``N`` items at dim -2, ``K`` features at dim -1; ``s`` and ``u`` are
given, ``y`` observed, ``z`` latent)::

         eps_k                         theta (link f), sigma2_d
           |                                    |
    +------|------------------------------------|------+
    |      v                                    |      |
    |  +---------------------------+            |      |
    |  |  s_nk ------> z_nk        |            |      |
    |  |                |          |            |      |
    |  |                |  features (K, dim -1) |      |
    |  +----------------|----------+            |      |
    |                   v                       |      |
    |      u_n -----> y_n [D] <-----------------+      |
    |                                                  |
    |                               items (N, dim -2)  |
    +--------------------------------------------------+

Sites: ``"z"`` (``[N, K]``, latent) and ``"y"`` (``[N, 1]`` batch, ``[D]`` event).
Parameters: ``"eps"`` (``[K]``, constrained to ``[1e-3, 0.5]``; absent when
``learn_eps=False``), ``"sigma2"`` (``[D]``, positive) and the link's parameters
(``"link$$$..."``, registered with :func:`pyro.module`).

:meth:`GenZModel.model` is the generative program (use it with any Pyro guide, ELBO
or :class:`pyro.infer.Predictive`); :meth:`GenZModel.expected_model` is the same
joint with ``z`` integrated against a given mean-field ``q`` (the objective of the
classic-SVI engine in :mod:`genz_pyro.infer.svi`).

Pitfalls avoided here (see ``genz-math.md``): ``z`` is declared inside the
``features`` plate rather than as ``Bernoulli(...).to_event(1)`` (which
``config_enumerate`` skips silently), and ``y`` depends on every ``z_nk`` of its item,
so model-side parallel enumeration of ``z`` over the plate is *not* valid: it would
enumerate all features in lockstep. Use :mod:`genz_pyro.infer.enumerate` for exact
answers at small ``K``.
"""

from __future__ import annotations

import math
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import nn
from torch.distributions import kl_divergence

from genz_pyro.data import GenZData

__all__ = ["GenZModel", "EPS_MIN", "EPS_MAX", "check_eps", "check_prior", "beta_log_density",
           "expected_linear_loglik"]

EPS_MIN = 1e-3
"""Smallest learnable flip probability (the lower end of the ``eps`` constraint)."""
EPS_MAX = 0.5
"""Largest flip probability (a decoupled feature sits exactly here)."""


def check_prior(value: Any, name: str = "eps_prior", *, size: int | None = None) -> float | torch.Tensor:
    """The strength ``a`` of a ``Beta(1 + a, 1 + a)`` prior as a finite float ``>= 0``, or with
    ``size`` also one strength per judge (a float64 tensor ``[size]``); otherwise a ValueError
    naming ``name`` and the fix."""
    if size is not None and not isinstance(value, (int, float)):
        t = torch.as_tensor(value, dtype=torch.float64)
        if t.dim() > 0:
            if tuple(t.shape) != (size,):
                raise ValueError(f"{name}: expected a number or one per judge, shape ({size},), got {tuple(t.shape)}")
            for v in t.tolist():
                check_prior(v, name)
            return t
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number >= 0 (a Beta(1 + a, 1 + a) prior), got {value!r}") from None
    if not math.isfinite(a) or a < 0:
        raise ValueError(f"{name}: must be a finite number >= 0 (0: no prior), got {value!r}")
    return a


def beta_log_density(rates: torch.Tensor, strength: float | torch.Tensor) -> torch.Tensor:
    """``sum a (log r + log(1 - r))``: the log density of a ``Beta(1 + a, 1 + a)`` prior on each
    of ``rates`` (any shape; ``strength`` a float or broadcast against them), up to its
    constant. A 0-d tensor that keeps the gradient (a ``pyro.factor``) or is read as a float."""
    return (strength * (torch.log(rates) + torch.log1p(-rates))).sum()


def check_eps(eps: torch.Tensor | float, num_features: int, *, name: str = "eps") -> torch.Tensor:
    """Validate flip probabilities: ``[K]`` (or a scalar, broadcast) in ``(0, 0.5]``.

    Returns:
        ``[K]`` float tensor.

    Raises:
        ValueError: naming ``name`` for a wrong shape or a value outside ``(0, 0.5]``.
    """
    t = torch.as_tensor(eps, dtype=torch.get_default_dtype()).detach().clone()
    if t.dim() == 0:
        t = t.expand(num_features).clone()
    if t.dim() != 1 or t.shape[0] != num_features:
        raise ValueError(f"{name}: expected shape [K] = [{num_features}], got {tuple(t.shape)}")
    bad = ~(torch.isfinite(t) & (t > 0) & (t <= EPS_MAX))
    if bad.any():
        j = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}: flip probabilities must lie in (0, 0.5], got {float(t[j])} for feature {j}; "
            "a value above 0.5 means the judgment is inverted: flip that judgment column instead"
        )
    return t


def _check_decoupled(decoupled: torch.Tensor | None, num_features: int) -> torch.Tensor:
    if decoupled is None:
        return torch.zeros(num_features, dtype=torch.bool)
    d = torch.as_tensor(decoupled)
    if d.dtype != torch.bool:
        if not bool(((d == 0) | (d == 1)).all()):
            raise ValueError("decoupled: must be a boolean mask [K] (True where eps is held at 0.5)")
        d = d.bool()
    if d.dim() != 1 or d.shape[0] != num_features:
        raise ValueError(f"decoupled: expected shape [K] = [{num_features}], got {tuple(d.shape)}")
    return d.clone()


def expected_linear_loglik(
    y: torch.Tensor, q: torch.Tensor, u: torch.Tensor | None, link: nn.Module, sigma2: torch.Tensor
) -> torch.Tensor:
    """``E_q[log Normal(y | W [z; u; 1], diag(sigma2))]`` in closed form (linear link).

    With ``z ~ prod_k Bernoulli(q_k)`` the mean is ``f(q, u)`` and the variance of the
    prediction in dimension ``d`` is ``sum_k W_dk^2 q_k (1 - q_k)``.

    Args:
        y: ``[B, D]`` targets. q: ``[B, K]`` probabilities. u: ``[B, C]`` or None.
        link: a :class:`~genz_pyro.models.links.LinearLink`. sigma2: ``[D]``.

    Returns:
        ``[B]`` expected log-likelihood per item.
    """
    mean = link(q, u)
    wz = link.feature_weight  # [D, K]
    var = (q * (1 - q)) @ (wz * wz).T  # [B, D]
    quad = ((y - mean) ** 2 + var) / sigma2
    return -0.5 * (quad + torch.log(2 * torch.pi * sigma2)).sum(-1)


class GenZModel:
    """The GenZ model: flip-noise prior on binary features, link, Gaussian noise.

    Args:
        link: a module ``f(z [..., N, K], u [N, C] | None) -> [..., N, D]``
            (see :mod:`genz_pyro.models.links`).
        num_features: K (0 is valid: the model then fits the covariates or the mean).
        target_dim: D.
        eps: initial flip probabilities ``[K]`` (or a scalar) in ``(0, 0.5]``;
            default 0.1 (0.5 for decoupled features).
        decoupled: ``[K]`` bool; True holds ``eps_k`` at exactly 0.5.
        learn_eps: when False, ``eps`` is a fixed tensor rather than a ``pyro.param``.
        sigma2: initial noise variances ``[D]`` (or a scalar), default 1.
        eps_prior: strength ``a >= 0`` of a ``Beta(1 + a, 1 + a)`` prior on each learned,
            coupled ``eps_k``: a ``pyro.factor("eps_prior", a sum_k log(eps_k (1 - eps_k)))``
            outside the plates (counted once per step, whatever the minibatch), so the SVI
            estimate of ``eps`` is the MAP; 0 (default): none.

    Example::

        gm = GenZModel(LinearLink(K, D), num_features=K, target_dim=D)
        guide = MeanFieldGuide(N, K)
        svi = pyro.infer.SVI(gm.model, guide, pyro.optim.Adam({"lr": 0.05}),
                             pyro.infer.TraceGraph_ELBO())
        for step in range(1000):
            svi.step(data)
    """

    def __init__(
        self,
        link: nn.Module,
        *,
        num_features: int,
        target_dim: int,
        eps: torch.Tensor | float | None = None,
        decoupled: torch.Tensor | None = None,
        learn_eps: bool = True,
        sigma2: torch.Tensor | float | None = None,
        eps_prior: float = 0.0,
    ) -> None:
        if num_features < 0:
            raise ValueError(f"num_features: must be >= 0, got {num_features}")
        if target_dim < 1:
            raise ValueError(f"target_dim: must be >= 1, got {target_dim}")
        self.link = link
        self.num_features = int(num_features)
        self.target_dim = int(target_dim)
        self.decoupled = _check_decoupled(decoupled, self.num_features)
        init = check_eps(0.1 if eps is None else eps, self.num_features)
        if eps is None:
            init = torch.where(self.decoupled, torch.full_like(init, EPS_MAX), init)
        self.learn_eps = bool(learn_eps)
        self.eps_init = init
        self.eps_prior = float(check_prior(eps_prior))
        if sigma2 is None:
            sigma2 = 1.0
        s2 = torch.as_tensor(sigma2, dtype=torch.get_default_dtype()).detach().clone()
        if s2.dim() == 0:
            s2 = s2.expand(self.target_dim).clone()
        if s2.shape != (self.target_dim,) or not bool((torch.isfinite(s2) & (s2 > 0)).all()):
            raise ValueError(f"sigma2: expected {self.target_dim} positive finite variances, got {s2}")
        self.sigma2_init = s2

    # ------------------------------------------------------------ parameters
    def eps(self) -> torch.Tensor:
        """``[K]`` current flip probabilities (registers the ``"eps"`` param when learnt).

        Decoupled features read exactly 0.5, whatever the stored parameter holds.
        """
        if self.learn_eps and self.num_features > 0:
            # the stored value of a decoupled feature is never used; keep it strictly inside the interval
            init = self.eps_init.clamp(EPS_MIN * 1.01, EPS_MAX * 0.99)
            raw = pyro.param("eps", init, constraint=constraints.interval(EPS_MIN, EPS_MAX))
        else:
            raw = self.eps_init
        return torch.where(self.decoupled, torch.full_like(raw, EPS_MAX), raw)

    def _eps_prior_factor(self, eps: torch.Tensor) -> None:
        """The ``Beta(1 + a, 1 + a)`` prior on the learned, coupled eps (``eps [K]``), if any."""
        if self.eps_prior and self.learn_eps and self.num_features > 0:
            pyro.factor("eps_prior", beta_log_density(eps[~self.decoupled], self.eps_prior))

    def sigma2(self) -> torch.Tensor:
        """``[D]`` noise variances (the ``"sigma2"`` param, positive)."""
        return pyro.param("sigma2", self.sigma2_init, constraint=constraints.positive)

    def prior_probs(self, judgments: torch.Tensor, missing: torch.Tensor | None, eps: torch.Tensor) -> torch.Tensor:
        """Prior ``p(z_nk = 1 | s_nk, eps_k)``: ``[B, K]``; 0.5 where the judgment is missing."""
        p = judgments * (1 - eps) + (1 - judgments) * eps
        if missing is not None:
            p = p.masked_fill(missing, 0.5)
        return p

    def _check_data(self, data: GenZData) -> None:
        if not isinstance(data, GenZData):
            raise ValueError(f"data: expected a GenZData (see GenZData.create), got {type(data).__name__}")
        if data.num_features != self.num_features:
            raise ValueError(
                f"data: has K = {data.num_features} judgment columns but the model has num_features = "
                f"{self.num_features}; build the model with num_features={data.num_features}"
            )
        if data.targets is not None and data.targets.shape[-1] != self.target_dim:
            raise ValueError(
                f"data: targets have D = {data.targets.shape[-1]} columns but the model has target_dim = "
                f"{self.target_dim}"
            )

    # ----------------------------------------------------------------- plates
    @staticmethod
    def items_plate(
        num_items: int, *, subsample: torch.Tensor | None = None, subsample_size: int | None = None
    ) -> pyro.plate:
        """The ``"items"`` plate (dim -2) with optional subsampling (log-probs scaled by N/B)."""
        return pyro.plate("items", num_items, subsample=subsample, subsample_size=subsample_size, dim=-2)

    def features_plate(self) -> pyro.plate:
        """The ``"features"`` plate (dim -1)."""
        return pyro.plate("features", self.num_features, dim=-1)

    @staticmethod
    def _rows(data: GenZData, idx: torch.Tensor | None) -> tuple:
        if idx is None:  # all items, in order: no copy
            return data.judgments, data.missing, data.covariates, data.targets
        u = None if data.covariates is None else data.covariates[idx]
        m = None if data.missing is None else data.missing[idx]
        y = None if data.targets is None else data.targets[idx]
        return data.judgments[idx], m, u, y

    # ------------------------------------------------------------------ model
    def model(
        self,
        data: GenZData,
        *,
        subsample: torch.Tensor | None = None,
        subsample_size: int | None = None,
        observe: bool = True,
    ) -> torch.Tensor:
        """The generative program.

        Args:
            data: the judgments ``[N, K]`` (with missing mask), covariates ``[N, C]`` and
                targets ``[N, D]``. ``data.targets`` may be ``None`` for new items.
            subsample: explicit item indices ``[B]`` for this step (a minibatch).
            subsample_size: B, for a random minibatch drawn by the plate.
            observe: when False (or the data have no targets) ``y`` is sampled,
                as :class:`pyro.infer.Predictive` needs.

        Returns:
            ``[B, D]`` the link's mean for the sampled ``z``.
        """
        self._check_data(data)
        eps = self.eps()
        self._eps_prior_factor(eps)
        sigma = self.sigma2().sqrt()
        link = pyro.module("link", self.link)
        with self.items_plate(data.num_items, subsample=subsample, subsample_size=subsample_size) as idx:
            s, m, u, y = self._rows(data, None if subsample is None and subsample_size is None else idx)
            if self.num_features > 0:
                with self.features_plate():
                    z = pyro.sample("z", dist.Bernoulli(probs=self.prior_probs(s, m, eps)))
            else:
                z = s  # [B, 0]
            mean = link(z, u)  # [..., B, D]
            obs = y.unsqueeze(-2) if (observe and y is not None) else None
            pyro.sample("y", dist.Normal(mean.unsqueeze(-2), sigma).to_event(1), obs=obs)
        return mean

    __call__ = model

    def expected_model(
        self,
        data: GenZData,
        q: torch.Tensor,
        *,
        subsample: torch.Tensor | None = None,
        subsample_size: int | None = None,
        num_samples: int = 8,
    ) -> None:
        """The model with ``z`` integrated against a fixed mean-field ``q``: ``pyro.factor`` sites only.

        Under the items plate (subsampling scales every term by N/B) it adds, per item,

        - ``"z_kl"``: ``-KL(q_n || p(z_n | s_n, eps))``, analytic (prior term plus entropy);
        - ``"y_ell"``: ``E_q[log p(y_n | z_n)]``, analytic for a
          :class:`~genz_pyro.models.links.LinearLink`, otherwise a Monte Carlo average over
          ``num_samples`` draws ``z ~ q`` (unbiased; the draws do not depend on the parameters).

        With an empty guide, ``-Trace_ELBO().loss`` is then exactly the mean-field bound
        of :meth:`model` with the guide ``q`` (for the linear link), and its gradient with
        respect to ``eps``, ``sigma2`` and the link is the bound's gradient.

        Args:
            data: as in :meth:`model` (targets required).
            q: ``[N, K]`` probabilities ``q(z_nk = 1)`` (treated as constants).
        """
        from genz_pyro.models.links import LinearLink

        self._check_data(data)
        if data.targets is None:
            raise ValueError("data: expected_model needs targets; use model(..., observe=False) to predict")
        if q.shape != data.judgments.shape:
            raise ValueError(f"q: expected shape {tuple(data.judgments.shape)}, got {tuple(q.shape)}")
        eps = self.eps()
        self._eps_prior_factor(eps)
        sigma2 = self.sigma2()
        link = pyro.module("link", self.link)
        with self.items_plate(data.num_items, subsample=subsample, subsample_size=subsample_size) as idx:
            s, m, u, y = self._rows(data, None if subsample is None and subsample_size is None else idx)
            qb = q[idx].detach()
            if self.num_features > 0:
                prior = dist.Bernoulli(probs=self.prior_probs(s, m, eps))
                kl = kl_divergence(dist.Bernoulli(probs=qb), prior).sum(-1)  # [B]
                pyro.factor("z_kl", -kl.unsqueeze(-1))
            if isinstance(link, LinearLink):
                ell = expected_linear_loglik(y, qb, u, link, sigma2)
            else:
                z = torch.bernoulli(qb.expand(num_samples, *qb.shape))  # [S, B, K]
                mean = link(z, u)  # [S, B, D]
                ell = dist.Normal(mean, sigma2.sqrt()).log_prob(y).sum(-1).mean(0)
            pyro.factor("y_ell", ell.unsqueeze(-1))
