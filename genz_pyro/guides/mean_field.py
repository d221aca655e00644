"""Mean-field Bernoulli guide over the latent features: one logit per item x feature.

``q(z) = prod_n prod_k Bernoulli(z_nk | sigmoid(q_logits_nk))``, declared over the same
``"items"`` (dim -2, subsampled like the model) and ``"features"`` (dim -1) plates as
:class:`~genz_pyro.models.genz.GenZModel`.

The ``z`` sites are *not* reparameterisable: with a learnable guide use an ELBO with a
score-function estimator, e.g. :class:`pyro.infer.TraceGraph_ELBO`, which
Rao-Blackwellises over the plates (``z_nk`` only pays for ``y_n`` of its own item) and
uses the decaying-average baseline this guide declares. A researcher's own loop::

    import pyro
    from genz_pyro.models import GenZModel, LinearLink
    from genz_pyro.guides import MeanFieldGuide

    gm = GenZModel(LinearLink(K, D), num_features=K, target_dim=D)
    guide = MeanFieldGuide(N, K, init_logits=data.prior_logits(gm.eps_init))
    svi = pyro.infer.SVI(gm.model, guide, pyro.optim.Adam({"lr": 0.05}),
                         pyro.infer.TraceGraph_ELBO(num_particles=8, vectorize_particles=True))
    for step in range(2000):
        loss = svi.step(data, subsample_size=256)
    q = guide.probs  # [N, K]

The classic-SVI engine (:func:`genz_pyro.infer.svi.fit_svi`) instead builds the guide
with ``learn=False`` and sets the logits of each minibatch in closed form.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from genz_pyro.data import GenZData

__all__ = ["MeanFieldGuide"]


class MeanFieldGuide:
    """Mean-field Bernoulli guide ``q(z_nk = 1) = sigmoid(logits_nk)``.

    Args:
        num_items: N.
        num_features: K.
        init_logits: ``[N, K]`` initial logits (default 0, i.e. q = 0.5). A good start
            is ``data.prior_logits(eps)`` (the judgments through the flip prior).
        learn: True registers the logits as ``pyro.param("q_logits")`` so that SVI
            optimises them; False keeps them in :attr:`logits`, a plain tensor that the
            caller updates (closed-form local steps).
        baseline: the ``infer["baseline"]`` options for score-function ELBOs; True (default)
            for a decaying average, False for none.
    """

    def __init__(
        self,
        num_items: int,
        num_features: int,
        *,
        init_logits: torch.Tensor | None = None,
        learn: bool = True,
        baseline: dict | bool = True,
    ) -> None:
        if num_items < 1 or num_features < 0:
            raise ValueError(f"num_items/num_features: need N >= 1 and K >= 0, got {num_items}, {num_features}")
        shape = (num_items, num_features)
        if init_logits is None:
            init_logits = torch.zeros(shape)
        init_logits = torch.as_tensor(init_logits, dtype=torch.get_default_dtype()).detach().clone()
        if tuple(init_logits.shape) != shape:
            raise ValueError(f"init_logits: expected shape {shape}, got {tuple(init_logits.shape)}")
        if not bool(torch.isfinite(init_logits).all()):
            raise ValueError("init_logits: must be finite (clip probabilities away from 0 and 1 first)")
        self.num_items = num_items
        self.num_features = num_features
        self.learn = learn
        self.logits = init_logits
        if baseline is True:
            baseline = {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
        self.infer = {"baseline": dict(baseline)} if baseline else {}

    def current_logits(self) -> torch.Tensor:
        """``[N, K]`` logits (the ``"q_logits"`` param when ``learn`` is True)."""
        if self.learn:
            return pyro.param("q_logits", self.logits)
        return self.logits

    @property
    def probs(self) -> torch.Tensor:
        """``[N, K]`` current ``q(z_nk = 1)``, detached."""
        return torch.sigmoid(self.current_logits().detach())

    def __call__(
        self,
        data: GenZData,
        *,
        subsample: torch.Tensor | None = None,
        subsample_size: int | None = None,
        observe: bool = True,
    ) -> torch.Tensor:
        """Sample ``z`` for the (sub-sampled) items; takes the model's arguments.

        Returns:
            ``[B, K]`` the sampled ``z``.
        """
        if data.num_items != self.num_items or data.num_features != self.num_features:
            raise ValueError(
                f"data: has (N, K) = ({data.num_items}, {data.num_features}) but the guide was built for "
                f"({self.num_items}, {self.num_features}); build a guide for these data"
            )
        logits = self.current_logits()
        with pyro.plate("items", self.num_items, subsample=subsample, subsample_size=subsample_size, dim=-2) as idx:
            if self.num_features == 0:
                return logits[idx]
            with pyro.plate("features", self.num_features, dim=-1):
                return pyro.sample("z", dist.Bernoulli(logits=logits[idx]), infer=dict(self.infer))
