"""Screening Algorithm 3's candidates cheaply (linear link).

Algorithm 3 refits the model once per feature (without it) and removes the feature whose
refit keeps the highest training bound: ``K`` fits per removal. :func:`removal_bounds_at_q`
scores every candidate by the bound after ONE closed-form M step at the current posterior
(the column of the candidate dropped, ``q`` and eps of the others kept): a lower bound on what
that candidate's refit reaches (the refit starts there and only raises the bound), computed
from the sufficient statistics without a pass over the items per candidate.
``remove_step(..., screen=m)`` refits only the ``m`` best-screened candidates exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.infer.result import FitResult

__all__ = ["removal_bounds_at_q"]


def removal_bounds_at_q(data: GenZData, current: FitResult, *, ridge: float = 0.0) -> np.ndarray:
    """``[K]`` training bound (nats) after removing each feature, one M step at the current ``q``.

    Args:
        data: ``[N, K]`` training data of the current features (linear link, no missing
            judgments of coupled features assumed in the counts); current: its linear-link fit.
        ridge: the fit's ridge on the feature weights.
    """
    from genz_pyro.infer.bound import bernoulli_entropy
    from genz_pyro.infer.cavi import bound_linear, m_step_linear, prepare_linear, suff_stats

    ld = prepare_linear(data)
    k = ld.k
    qt = current.q.detach().double().T.contiguous()  # [K, N]
    szz, szy = suff_stats(ld, qt, mean_field=True)  # [P, P], [P, D], P = K + C + 1
    agree = ld.c0 + (ld.sm * qt).sum(1)  # [K] expected agreements
    ent = bernoulli_entropy(qt).sum(1)  # [K]
    eps = current.eps.detach().double()
    p = szz.shape[0]
    out = np.empty(k)
    for j in range(k):
        keep_k = torch.tensor([i for i in range(k) if i != j], dtype=torch.long)
        keep_p = torch.tensor([i for i in range(p) if i != j], dtype=torch.long)
        ld_j = dataclasses.replace(ld, sm=ld.sm[keep_k], c0=ld.c0[keep_k], count=ld.count[keep_k])
        s_zz, s_zy = szz[keep_p][:, keep_p], szy[keep_p]
        w, sigma2, e = m_step_linear(ld_j, s_zz, s_zy, ridge=ridge)
        out[j] = bound_linear(ld_j, w, sigma2, eps[keep_k], s_zz, s_zy, agree[keep_k], float(ent.sum() - ent[j]), e=e)
    return out
