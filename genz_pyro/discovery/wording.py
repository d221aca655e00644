"""Steps beyond the paper's Algorithms 1-3 that change the wording of the features.

- :func:`refine_step`: re-word one feature with the refinement trick (exemplars that mix items
  where the data-driven posterior agrees and disagrees with the current judgments);
- :func:`given_step`: add a known description (a user's or a domain expert's).

Both are pure with respect to the run, like :mod:`genz_pyro.discovery.algorithms`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.discovery.algorithms import (
    EPS_MIN,
    INIT_MARGIN,
    AddOutcome,
    FitSpec,
    _judge_and_filter,
    _mine_and_judge,
    with_judgments,
)
from genz_pyro.discovery.exemplars import ExemplarConfig, sample_exemplars
from genz_pyro.discovery.history import StepRecord, step_seed
from genz_pyro.fm.protocol import FoundationModel, Item
from genz_pyro.infer.result import FitResult

if TYPE_CHECKING:  # pragma: no cover
    from genz_pyro.discovery.state import DiscoveryState as Discovery

__all__ = ["refine_step", "given_step", "refine_feature", "add_description"]


def refine_step(
    *,
    model: FoundationModel,
    items: Mapping[str, Item],
    train: np.ndarray,
    data: GenZData,
    all_judgments: np.ndarray,
    current: FitResult,
    index: int,
    spec: FitSpec,
    exemplars: ExemplarConfig,
    avoid: Sequence[str],
    seed: int,
    min_activity: float = 0.02,
    max_activity: float = 0.98,
) -> AddOutcome:
    """Re-word feature ``index`` (a removal followed by an add, section 4 of the paper,
    with the refinement trick of section 2).

    The feature is decoupled (``eps = 0.5``) and the model refitted from the current
    posterior, so the data alone decide its split; the exemplars mix items where that
    posterior AGREES with the current judgments and items where it DISAGREES
    (``exemplars.disagree_fraction``), which shows the miner what the current wording
    gets wrong. The new description is judged on every item; it replaces the old one
    unless it fails the activity filter or repeats another feature (then the model is
    left unchanged and the outcome says why).

    Args: as :func:`add_step`, plus ``index`` (the column to refine) and ``current``
    (required). ``avoid`` should hold the OTHER features' and the discarded descriptions.
    """
    ids = list(items.keys())
    k = data.num_features
    if not 0 <= index < k:
        raise ValueError(f"index: feature {index} does not exist; the model has {k} feature(s)")
    eps0 = current.eps.detach().clone().clamp(EPS_MIN, 0.5)
    eps0[index] = 0.5
    decoupled = torch.zeros(k, dtype=torch.bool)
    decoupled[index] = True
    t0 = time.perf_counter()
    dec = spec(data, eps=eps0, decoupled=decoupled, q_init=current.q.detach().clone(), seed=seed)
    fit_time = time.perf_counter() - t0
    q_k = dec.q[:, index].detach()
    s_old = data.judgments[:, index]
    split = sample_exemplars(q_k, config=exemplars, judgments=s_old, seed=seed)
    pos_ids = [ids[int(train[i])] for i in split.positive]
    neg_ids = [ids[int(train[i])] for i in split.negative]

    others = [j for j in range(k) if j != index]
    got = _mine_and_judge(
        model, items, train, q_k, pos_ids, neg_ids, avoid=avoid, compare=all_judgments[:, others],
        dtype=data.judgments.dtype, min_activity=min_activity, max_activity=max_activity,
    )
    description, s_all, s_train, eps, fm_time = got.description, got.judgments, got.train_judgments, got.eps, got.fm_time
    if got.reason:
        eps_rel = max(min(eps, 1 - eps), EPS_MIN)
        return AddOutcome(description, s_all, pos_ids, neg_ids, None, eps_rel, got.activity, got.reason, None,
                          fit_time, fm_time)

    js = data.judgments.clone()
    js[:, index] = s_train
    new = GenZData(
        judgments=js,
        targets=data.targets,
        covariates=data.covariates,
        missing=data.missing,
        feature_names=tuple(description if j == index else nm for j, nm in enumerate(data.feature_names)),
    )
    q_init = dec.q.detach().clone()
    q_init[:, index] = (1 - 2 * INIT_MARGIN) * s_train + INIT_MARGIN
    eps_init = dec.eps.detach().clone()
    eps_init[index] = max(min(eps, 1 - eps), EPS_MIN)
    t0 = time.perf_counter()
    result = spec(new, eps=eps_init, decoupled=None, q_init=q_init, seed=seed + 1)
    fit_time += time.perf_counter() - t0
    return AddOutcome(
        description, s_all, pos_ids, neg_ids, None, float(result.eps[index]), got.activity, "", result, fit_time, fm_time
    )


def given_step(
    *,
    model: FoundationModel,
    items: Mapping[str, Item],
    train: np.ndarray,
    data: GenZData,
    all_judgments: np.ndarray,
    current: FitResult | None,
    description: str,
    spec: FitSpec,
    avoid: Sequence[str],
    seed: int,
    min_activity: float = 0.02,
    max_activity: float = 0.98,
) -> AddOutcome:
    """Add a known description: judge every item, refit with it coupled to its
    judgments (initial eps 0.1, other features warm-started). The activity filter and
    the duplicate check apply as for a mined feature; no exemplars, no mining call."""
    k = data.num_features
    got = _judge_and_filter(
        model, items, train, description, avoid=avoid, compare=all_judgments[:, :k], dtype=data.judgments.dtype,
        min_activity=min_activity, max_activity=max_activity,
    )
    s_all, activity, fm_time = got.judgments, got.activity, got.fm_time
    if got.reason:
        return AddOutcome(description, s_all, [], [], None, float("nan"), activity, got.reason, None, 0.0, fm_time)
    s_t = torch.as_tensor(s_all[train], dtype=data.judgments.dtype).reshape(-1, 1)
    aug = with_judgments(data, s_t[:, 0], description)
    q_old = current.q.detach().to(s_t.dtype) if current is not None and k else s_t[:, :0]
    eps_old = current.eps.detach().to(s_t.dtype) if current is not None and k else s_t.new_zeros(0)
    t0 = time.perf_counter()
    result = spec(
        aug,
        eps=torch.cat([eps_old, s_t.new_full((1,), 0.1)]),
        decoupled=None,
        q_init=torch.cat([q_old, (1 - 2 * INIT_MARGIN) * s_t + INIT_MARGIN], dim=1),
        seed=seed,
    )
    fit_time = time.perf_counter() - t0
    return AddOutcome(description, s_all, [], [], None, float(result.eps[k]), activity, "", result, fit_time, fm_time)


def add_description(disc: "Discovery", description: str) -> StepRecord:
    """``Discovery.add_description``: judge a known description on every item and refit with it
    coupled to its judgments (initial eps 0.1); the activity filter and the duplicate check
    apply as for a mined feature. Recorded with ``algorithm="given"``."""
    description = str(description).strip()
    if not description:
        raise ValueError("description: empty; pass a feature in plain words")
    seed = step_seed(disc.seed, len(disc.history))
    t0, before = time.perf_counter(), disc.model.usage.copy()
    out = given_step(
        model=disc.model,
        items=disc.items,
        train=disc.train,
        data=disc.train_data(),
        all_judgments=disc.judgments,
        current=disc.result,
        description=description,
        spec=disc.spec,
        avoid=tuple(disc.descriptions),
        seed=seed,
        min_activity=disc.min_activity,
        max_activity=disc.max_activity,
    )
    return disc._apply(out, algorithm="given", seed=seed, t0=t0, before=before)


def refine_feature(disc: "Discovery", index: int | None = None) -> StepRecord:
    """``Discovery.refine_feature``: re-word one feature with the refinement trick (exemplars
    mixing items where the data-driven posterior agrees and disagrees with the current judgments).

    Args:
        index: the feature's column; default the feature with the largest eps (the wording the
            data trust least).

    Returns:
        The record: ``action="add"``, ``algorithm="refine"`` and ``reason`` naming the replaced
        description when the new wording replaced it; ``action="discard"`` (model unchanged)
        when it failed the activity filter or repeated a feature.
    """
    res = disc.result
    if not disc.descriptions or res is None:
        raise ValueError("refine_feature: the model has no feature to refine; add features first")
    if index is None:
        index = int(torch.argmax(res.eps.detach()))
    if not 0 <= int(index) < len(disc.descriptions):
        raise ValueError(f"index: feature {index} does not exist; the model has {len(disc.descriptions)}")
    index = int(index)
    seed = step_seed(disc.seed, len(disc.history))
    t0 = time.perf_counter()
    before = disc.model.usage.copy()
    old = disc.descriptions[index]
    out = refine_step(
        model=disc.model,
        items=disc.items,
        train=disc.train,
        data=disc.train_data(),
        all_judgments=disc.judgments,
        current=res,
        index=index,
        spec=disc.spec,
        exemplars=disc.exemplars,
        avoid=tuple(d for d in disc.descriptions if d != old) + tuple(disc.discarded),
        seed=seed,
        min_activity=disc.min_activity,
        max_activity=disc.max_activity,
    )
    return disc._apply(out, algorithm="refine", seed=seed, t0=t0, before=before, index=index,
                       reason=f"refines feature {index}: {old}")
