"""The GenZ model with several judges per feature, as a Pyro program (Dawid-Skene rates).

Each latent binary feature ``z_nk`` has a prior ``pi_k``; each of ``J`` judges answers it
with its own false-yes rate ``a`` and false-no rate ``b`` (per feature, or shared by all of a
judge's features); the features explain the targets through the link as before::

    z_nk          ~ Bernoulli(pi_k)
    s_nkj | z_nk  ~ Bernoulli(z_nk (1 - b_kj) + (1 - z_nk) a_kj)      (observed answers only)
    y_n   | z_n   ~ Normal(f(z_n, u_n), diag(sigma2))

A missing answer is masked out; a decoupled feature ignores its answers and has ``pi = 1/2``.
A soft answer ``s in (0, 1)`` (a judge's P(yes)) enters as virtual evidence,
``log(s P(yes | z) + (1 - s) P(no | z))``, through a ``pyro.factor`` (site ``"s"`` is then a
factor rather than an observed Bernoulli). With one judge, ``a = b = eps`` and ``pi = 1/2``,
``p(z | s)`` is :class:`~genz_pyro.models.genz.GenZModel`'s flip prior and ``p(s) = 1/2``.

Plate diagram (``J`` judges at dim -3, ``N`` items at dim -2, ``K`` features at dim -1;
``s`` and ``y`` observed, ``z`` latent, ``u`` given)::

      pi_k          a_kj, b_kj                 theta (link f), sigma2_d
        |               |                                |
    +---|---------------|--------------------------------|-----+
    |   |   +-----------|------------------+             |     |
    |   |   |  +--------|---------------+  |             |     |
    |   +-----> z_nk ---+---> s_nkj     |  |             |     |
    |   |   |  |  |        judges (J, -3)  |             |     |
    |   |   |  +--|---------------------+  |             |     |
    |   |   |     |        features (K, -1)|             |     |
    |   |   +-----|------------------------+             |     |
    |             v                                      |     |
    |   u_n ----> y_n [D] <------------------------------+     |
    |                                       items (N, -2)      |
    +----------------------------------------------------------+

Sites: ``"z"`` (``[N, K]``), ``"s"`` (``[J, N, K]``), ``"y"`` (``[N, 1]`` batch, ``[D]``
event). Parameters: ``"pi"`` ``[K]``; ``"false_yes"``, ``"false_no"`` (``[K, J]``, or ``[J]``
when shared; one ``"flip"`` instead when symmetric), in ``[1e-3, 1 - 1e-3]`` (``flip`` in
``[1e-3, 0.5]``); ``"sigma2"`` ``[D]``; the link's (``"link$$$..."``). The mean-field guide
is :class:`~genz_pyro.guides.MeanFieldGuide` (same ``"items"`` / ``"features"`` plates and
``"z"`` site). The engines (:func:`genz_pyro.infer.judges.fit_judges`) keep ``a + b <= 1``
(a judge no worse than a coin); a free SVI loop relies on the data for it.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import nn

from genz_pyro.judge_data import JudgesData
from genz_pyro.models.genz import EPS_MIN, beta_log_density, check_prior

__all__ = ["JudgesModel", "rates_log_density", "RATE_MAX"]

RATE_MAX = 1.0 - EPS_MIN
"""Largest false-yes / false-no rate (a symmetric flip rate stops at 0.5)."""


def rates_log_density(
    false_yes: torch.Tensor, false_no: torch.Tensor, rows: torch.Tensor, strength: float | torch.Tensor,
    *, shared: bool, symmetric: bool,
) -> torch.Tensor:
    """The log density (0-d, up to its constant) of the ``Beta(1 + a, 1 + a)`` prior on the
    judges' rates ``[K, J]`` of the features ``rows`` (``[K]`` bool; ``strength`` a float or
    ``[J]``): a symmetric pair counts once (one flip rate), shared rates once per judge."""
    if not bool(rows.any()):
        return false_yes.new_zeros(())
    if shared:  # one pair per judge: the first selected feature's row holds it
        rows = torch.arange(rows.numel()) == int(rows.nonzero()[0])
    rates = false_yes[rows] if symmetric else torch.cat([false_yes[rows], false_no[rows]])
    return beta_log_density(rates, strength)


class JudgesModel:
    """The several-judges GenZ model.

    Args:
        link: a module ``f(z [..., N, K], u [N, C] | None) -> [..., N, D]``.
        num_features: K (>= 1). num_judges: J (>= 1). target_dim: D.
        shared: one pair of rates per judge for all features.
        symmetric: false yes = false no (one ``"flip"`` rate).
        pi: initial ``[K]`` (or scalar) prior, default 0.5; ``learn_pi=False`` fixes it.
        false_yes, false_no: initial rates (scalar, ``[J]`` or ``[K, J]``), default 0.1;
            ``learn_rates=False`` fixes them.
        decoupled: ``[K]`` bool: these features ignore their answers (pi held at 1/2).
        sigma2: initial noise variances ``[D]`` (or a scalar), default 1.
        rate_prior: strength ``a >= 0`` (a float, or one per judge ``[J]``) of a
            ``Beta(1 + a, 1 + a)`` prior on each learnt rate: a
            ``pyro.factor("rate_prior", ...)`` outside the plates (a symmetric rate counts once,
            a shared one once per judge; :func:`~genz_pyro.infer.judge_rates.rates_log_prior`);
            0 (default): none.
    """

    def __init__(
        self,
        link: nn.Module,
        *,
        num_features: int,
        num_judges: int,
        target_dim: int,
        shared: bool = False,
        symmetric: bool = False,
        pi: torch.Tensor | float | None = None,
        learn_pi: bool = True,
        false_yes: torch.Tensor | float | None = None,
        false_no: torch.Tensor | float | None = None,
        learn_rates: bool = True,
        decoupled: torch.Tensor | None = None,
        sigma2: torch.Tensor | float | None = None,
        rate_prior: float | torch.Tensor = 0.0,
    ) -> None:
        if num_features < 1 or num_judges < 1 or target_dim < 1:
            raise ValueError(
                f"num_features/num_judges/target_dim: need K >= 1, J >= 1, D >= 1, got "
                f"{num_features}, {num_judges}, {target_dim} (K = 0: use GenZModel)"
            )
        k, j = int(num_features), int(num_judges)
        self.link = link
        self.num_features, self.num_judges, self.target_dim = k, j, int(target_dim)
        self.shared, self.symmetric = bool(shared), bool(symmetric)
        self.learn_pi, self.learn_rates = bool(learn_pi), bool(learn_rates)
        dec = torch.zeros(k, dtype=torch.bool) if decoupled is None else torch.as_tensor(decoupled).bool()
        if tuple(dec.shape) != (k,):
            raise ValueError(f"decoupled: expected shape [K] = [{k}], got {tuple(dec.shape)}")
        self.decoupled = dec
        p = torch.as_tensor(0.5 if pi is None else pi, dtype=torch.get_default_dtype())
        self.pi_init = p.expand(k).clone() if p.dim() == 0 else p.clone()
        if tuple(self.pi_init.shape) != (k,) or not bool(((self.pi_init > 0) & (self.pi_init < 1)).all()):
            raise ValueError(f"pi: expected [K] = [{k}] probabilities in (0, 1), got {self.pi_init}")
        shape = (j,) if shared else (k, j)
        hi = 0.5 if symmetric else RATE_MAX
        self.false_yes_init = self._rate_init(false_yes, "false_yes", shape, hi)
        self.false_no_init = self._rate_init(false_yes if symmetric else false_no, "false_no", shape, hi)
        s2 = torch.as_tensor(1.0 if sigma2 is None else sigma2, dtype=torch.get_default_dtype())
        s2 = s2.expand(self.target_dim).clone() if s2.dim() == 0 else s2.clone()
        if s2.shape != (self.target_dim,) or not bool((torch.isfinite(s2) & (s2 > 0)).all()):
            raise ValueError(f"sigma2: expected {self.target_dim} positive finite variances, got {s2}")
        self.sigma2_init = s2
        pr = check_prior(rate_prior, "rate_prior", size=j)
        self.rate_prior = torch.as_tensor(pr, dtype=torch.get_default_dtype()).expand(j).clone()  # [J]

    def _rate_prior_factor(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """The ``Beta(1 + a, 1 + a)`` prior on the learnt rates (``a, b [K, J]``), if any."""
        if self.learn_rates and bool((self.rate_prior > 0).any()) and not bool(self.decoupled.all()):
            pyro.factor("rate_prior", rates_log_density(a, b, ~self.decoupled, self.rate_prior.to(a.dtype),
                                                        shared=self.shared, symmetric=self.symmetric))

    @staticmethod
    def _rate_init(value: torch.Tensor | float | None, name: str, shape: tuple[int, ...], hi: float) -> torch.Tensor:
        t = torch.as_tensor(0.1 if value is None else value, dtype=torch.get_default_dtype())
        if t.dim() == 0:
            t = t.expand(shape)
        if tuple(t.shape) != shape:
            raise ValueError(f"{name}: expected a scalar or shape {list(shape)}, got {tuple(t.shape)}")
        if not bool(((t > 0) & (t <= hi)).all()):
            raise ValueError(f"{name}: rates must lie in (0, {hi}], got {t}")
        return t.clamp(EPS_MIN * 1.01, hi * 0.99).clone()

    # ------------------------------------------------------------ parameters
    def pi(self) -> torch.Tensor:
        """``[K]`` prior ``p(z = 1)`` (the ``"pi"`` param when learnt; 1/2 where decoupled)."""
        raw = self.pi_init
        if self.learn_pi:
            raw = pyro.param("pi", raw.clamp(EPS_MIN * 1.01, RATE_MAX * 0.99), constraint=constraints.interval(EPS_MIN, RATE_MAX))
        return torch.where(self.decoupled, torch.full_like(raw, 0.5), raw)

    def rates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(false_yes [K, J], false_no [K, J])``."""
        if self.symmetric:
            a = self.false_yes_init
            if self.learn_rates:
                a = pyro.param("flip", a, constraint=constraints.interval(EPS_MIN, 0.5))
            b = a
        else:
            a, b = self.false_yes_init, self.false_no_init
            if self.learn_rates:
                box = constraints.interval(EPS_MIN, RATE_MAX)
                a = pyro.param("false_yes", a, constraint=box)
                b = pyro.param("false_no", b, constraint=box)
        shape = (self.num_features, self.num_judges)
        return a.expand(shape), b.expand(shape)

    def sigma2(self) -> torch.Tensor:
        """``[D]`` noise variances (the ``"sigma2"`` param)."""
        return pyro.param("sigma2", self.sigma2_init, constraint=constraints.positive)

    def _check_data(self, data: JudgesData) -> None:
        if not isinstance(data, JudgesData):
            raise ValueError(f"data: expected a JudgesData (see JudgesData.create), got {type(data).__name__}")
        if (data.num_features, data.num_judges) != (self.num_features, self.num_judges):
            raise ValueError(
                f"data: has K = {data.num_features} features and J = {data.num_judges} judges, the model "
                f"K = {self.num_features}, J = {self.num_judges}; build the model for these data"
            )
        if data.target_dim != self.target_dim:
            raise ValueError(f"data: targets have D = {data.target_dim}, the model target_dim = {self.target_dim}")

    # ------------------------------------------------------------------ model
    def model(
        self,
        data: JudgesData,
        *,
        subsample: torch.Tensor | None = None,
        subsample_size: int | None = None,
        observe: bool = True,
    ) -> torch.Tensor:
        """The generative program (arguments as :meth:`GenZModel.model
        <genz_pyro.models.genz.GenZModel.model>`); returns the link's mean ``[B, D]``."""
        self._check_data(data)
        pi = self.pi()
        a, b = self.rates()
        self._rate_prior_factor(a, b)
        sigma = self.sigma2().sqrt()
        link = pyro.module("link", self.link)
        soft = data.is_soft
        with pyro.plate("items", data.num_items, subsample=subsample, subsample_size=subsample_size, dim=-2) as idx:
            rows = idx if (subsample is not None or subsample_size is not None) else slice(None)
            features = pyro.plate("features", self.num_features, dim=-1)
            with features:
                z = pyro.sample("z", dist.Bernoulli(probs=pi.expand(idx.shape[0], self.num_features)))
            s = data.answers[rows].permute(2, 0, 1)  # [J, B, K]
            seen = data.observed()[rows].permute(2, 0, 1).bool() & ~self.decoupled
            # z [..., B, K] broadcasts against the judges' dim -3 (a particle dim sits left of it)
            yes = z * (1 - b.T.unsqueeze(-2)) + (1 - z) * a.T.unsqueeze(-2)  # [..., J, B, K]
            s = s.to(yes.dtype)  # answers at the parameters' precision
            with pyro.plate("judges", self.num_judges, dim=-3), features:
                if soft:
                    like = torch.log(s * yes + (1 - s) * (1 - yes))
                    pyro.factor("s", torch.where(seen, like, torch.zeros_like(like)))
                else:
                    pyro.sample("s", dist.Bernoulli(probs=yes).mask(seen), obs=s)
            u = None if data.covariates is None else data.covariates[rows]
            mean = link(z, u)
            y = data.targets[rows]
            obs = y.unsqueeze(-2) if observe else None
            pyro.sample("y", dist.Normal(mean.unsqueeze(-2), sigma).to_event(1), obs=obs)
        return mean

    __call__ = model
