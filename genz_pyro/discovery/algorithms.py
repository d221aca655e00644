"""The paper's Algorithms 1-3 as single steps on the TRAINING items.

- :func:`add_step` is Algorithm 1 (``conditional=False``) and Algorithm 2
  (``conditional=True``): append a decoupled feature (``eps = 0.5``, random ``q``),
  fit, split the items by its posterior, mine a description from exemplars
  (Algorithm 2: only from the subgroup of the other features with the largest
  total error), judge EVERY item with it (train, validation and test), re-estimate
  its ``eps`` (eq. 14) and refit. A feature positive for fewer than ``min_activity``
  or more than ``max_activity`` of the training items is discarded at once.
- :func:`remove_step` is Algorithm 3: refit without each feature (warm-started) and
  drop the one whose removal lowers the bound least.

The refinement of a feature's wording and the addition of a known description are in
:mod:`genz_pyro.discovery.wording`.

The steps are pure with respect to the run: they take the current fit and return an
outcome; :class:`genz_pyro.discovery.Discovery` records and persists it. Fitting
uses ``genz_pyro.infer.fit.fit`` on the training rows only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.discovery.exemplars import ExemplarConfig, ExemplarSplit, sample_exemplars
from genz_pyro.discovery.subgroups import Subgroup, ranked_subgroups, scaled_sq_error
from genz_pyro.fm.errors import NoFeatureFoundError
from genz_pyro.fm.mixed import judgment_column, uses_soft_judgments
from genz_pyro.fm.protocol import FoundationModel, Item
from genz_pyro.infer.result import FitResult

__all__ = [
    "EPS_MIN",
    "EPS_FIXED_MIN",
    "INIT_MARGIN",
    "FitSpec",
    "AddOutcome",
    "RemoveOutcome",
    "estimate_eps",
    "with_judgments",
    "initial_q",
    "decoupled_fit",
    "error_subgroups",
    "choose_exemplars",
    "add_step",
    "remove_step",
]

EPS_MIN = 1e-3  # a learned eps is clipped to [EPS_MIN, 0.5] (genz-math.md, M step)
EPS_FIXED_MIN = 1e-9  # a fixed eps may go far below: exact judgments then reconstruct exactly
INIT_MARGIN = 0.02  # the new feature's initial q is INIT_MARGIN or 1 - INIT_MARGIN at random


@dataclass(frozen=True)
class FitSpec:
    """How the statistical model is fitted inside the loop (passed to ``fit``).

    Attributes:
        link: ``"linear"``, ``"mlp"`` (a fresh link is built for every K).
        engine: engine name or ``None`` for ``fit``'s default for the link.
        options: extra keyword arguments for ``fit`` (``max_sweeps``, ``tol``, ``ridge``, ...).
        eps_fixed: ``None`` (default): every coupled feature's flip probability is learned
            (eq. 14), as in the paper. A value in ``[EPS_MIN, 0.5)``: every coupled feature's
            eps is held at it (``learn_eps=False``; decoupled features stay at 0.5). With a small
            value the judgments are trusted and ``W`` is close to a regression on them, which
            predicts held-out items better when the judgments are exact (the offline model):
            a learned eps lets the training items' ``z`` flip to fit ``y``, so ``W`` is fitted to
            latent values that the judgments of new items do not reproduce (docs/discovery.md).
    """

    link: str = "linear"
    engine: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    eps_fixed: float | None = None

    def __post_init__(self) -> None:
        if self.eps_fixed is not None and not EPS_FIXED_MIN <= float(self.eps_fixed) < 0.5:
            raise ValueError(
                f"eps_fixed: must lie in [{EPS_FIXED_MIN}, 0.5) or be None (learn eps), got {self.eps_fixed!r}"
            )
        if "learn_eps" in self.options:
            raise ValueError("options: do not pass learn_eps; set eps_fixed=<value> to hold eps fixed")

    def __call__(
        self,
        data: GenZData,
        *,
        eps: torch.Tensor | None,
        decoupled: torch.Tensor | None,
        q_init: torch.Tensor | None,
        seed: int,
    ) -> FitResult:
        """``fit(data, ...)`` with this spec; ``[N, K]`` data of the training items."""
        from genz_pyro.infer.fit import fit  # imported late: the engines import heavy modules

        if self.eps_fixed is not None:
            k = data.num_features
            dec = torch.zeros(k, dtype=torch.bool) if decoupled is None else torch.as_tensor(decoupled).bool()
            eps = torch.where(dec, 0.5, float(self.eps_fixed)).to(torch.float64)
        elif eps is not None:  # engines may report eps on the clip boundary or just outside it
            eps = eps.clamp(EPS_MIN, 0.5)
        return fit(
            data,
            link=self.link,
            engine=self.engine,
            eps=eps,
            decoupled=decoupled,
            learn_eps=self.eps_fixed is None,
            q_init=q_init,
            seed=seed,
            **dict(self.options),
        )


@dataclass
class AddOutcome:
    """What one add step produced.

    Attributes:
        description: the mined description.
        judgments: ``[N_all]`` 0/1 judgments of every item (all splits), row order.
        positive, negative: exemplar item ids shown to the miner.
        subgroup: Algorithm 2's combination (``None`` for Algorithm 1).
        eps: the feature's flip probability after the refit (for a discarded feature:
            eq. 14 against the decoupled posterior, of ``z`` or its relabelling).
        activity: share of training items judged positive.
        discarded: ``""`` when kept, else the reason (``"activity"``, ``"duplicate"``, or
            ``"no-feature"`` when the model found no description, ``"no-split"`` when the new
            feature's posterior put every item in one group: then ``description`` is ``""``).
        result: the refit with the feature appended (``None`` when discarded).
        fit_time, fm_time: seconds in the statistical fit and in foundation-model calls.
    """

    description: str
    judgments: np.ndarray
    positive: list[str]
    negative: list[str]
    subgroup: tuple[int, ...] | None
    eps: float
    activity: float
    discarded: str
    result: FitResult | None
    fit_time: float
    fm_time: float


@dataclass
class RemoveOutcome:
    """What one removal step produced.

    Attributes:
        index: the removed feature's column.
        bounds: ``[K]`` training bound after removing each feature.
        result: the refit without that feature.
        fit_time: seconds in the statistical fits.
    """

    index: int
    bounds: list[float]
    result: FitResult
    fit_time: float


def estimate_eps(q: torch.Tensor, s: torch.Tensor) -> float:
    """Eq. 14: ``eps = mean_n [q_n (1 - s_n) + (1 - q_n) s_n]``, at least ``EPS_MIN``.

    Not clipped at 0.5: a value above 0.5 says the description fits the other group
    (``1 - eps`` is then the flip rate of the relabelled feature).

    Args:
        q: ``[N]`` posterior of the feature; s: ``[N]`` its 0/1 judgments.
    """
    e = float((q * (1 - s) + (1 - q) * s).mean())
    return min(max(e, EPS_MIN), 1.0)


def with_judgments(data: GenZData, column: torch.Tensor | None, name: str) -> GenZData:
    """``data`` with one more judgment column (``None``: a placeholder column marked
    missing, for a decoupled feature that has no description yet).

    Args:
        data: ``[N, K]`` data; column: ``[N]`` 0/1 or ``None``; name: the new feature's name.
    """
    n, k = data.num_items, data.num_features
    col = torch.zeros(n, 1, dtype=data.judgments.dtype) if column is None else column.reshape(n, 1).to(
        data.judgments.dtype
    )
    miss_old = data.missing if data.missing is not None else torch.zeros(n, k, dtype=torch.bool)
    miss_new = torch.full((n, 1), column is None, dtype=torch.bool)
    missing = torch.cat([miss_old, miss_new], dim=1)
    return GenZData(
        judgments=torch.cat([data.judgments, col], dim=1),
        targets=data.targets,
        covariates=data.covariates,
        missing=missing if bool(missing.any()) else None,
        feature_names=tuple(data.feature_names) + (name,),
    )


def link_mean(link: torch.nn.Module, z: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """``f(z, u)`` in evaluation mode (no dropout), without gradients; ``[N, D]``."""
    was = link.training
    link.eval()
    try:
        with torch.no_grad():
            return link(z, u)
    finally:
        link.train(was)


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def initial_q(data: GenZData, current: FitResult | None, *, seed: int, init: str = "residual") -> torch.Tensor:
    """The new decoupled feature's starting posterior ``[N, 1]``: ``INIT_MARGIN`` or
    ``1 - INIT_MARGIN`` per item.

    ``"residual"`` (default): split the items by the sign of their residual under the
    current fit, ``y - f(q, u)`` (the training mean when ``K = 0``), projected on its
    first principal direction (scaled by ``1 / sigma2``) when ``D > 1``; a seeded coin
    picks which side is positive (the paper saw both sign conventions).
    ``"random"``: a seeded random hard split (the paper's "random q"). Mean-field CAVI
    started from a random split stalls at the symmetric saddle ``q = 0.5`` (the new
    weight hardly grows from sweep to sweep); hard EM escapes it, so use ``"random"``
    with the ``"em"`` engine.
    """
    n = data.num_items
    g = _generator(seed)
    coin = bool(torch.rand(1, generator=g, dtype=torch.float64) < 0.5)
    if init == "random":
        side = torch.rand(n, generator=g, dtype=torch.float64) < 0.5
    elif init == "residual":
        y = data.targets.double()
        if current is None or data.num_features == 0:
            r = y - y.mean(0)
        else:
            mean = link_mean(current.link, current.q.detach().to(data.targets.dtype), data.covariates)
            r = (y - mean.double()) / current.sigma2.detach().double().sqrt()
        if r.shape[1] == 1:
            proj = r[:, 0]
        else:
            rc = r - r.mean(0)
            _, _, vh = torch.linalg.svd(rc, full_matrices=False)
            v = vh[0]
            v = v * torch.sign(v[v.abs().argmax()])  # fix the SVD's arbitrary sign
            proj = rc @ v
        side = proj > 0
        if coin:
            side = ~side
    else:
        raise ValueError(f"init: must be 'residual' or 'random', got {init!r}")
    q = torch.where(side, 1.0 - INIT_MARGIN, INIT_MARGIN)
    return q.reshape(n, 1).to(data.judgments.dtype)


def decoupled_fit(
    data: GenZData, current: FitResult | None, spec: FitSpec, *, seed: int, init: str = "residual"
) -> FitResult:
    """Fit the model with one extra decoupled feature (``eps = 0.5``); its starting
    ``q`` comes from :func:`initial_q`.

    Args:
        data: ``[N, K]`` training data of the current features.
        current: the current fit (warm start of the other features) or ``None`` when ``K = 0``.
        spec: how to fit; seed: seeds the initial ``q`` and the engine.
        init: ``"residual"`` or ``"random"`` (see :func:`initial_q`).

    Returns:
        The fit of ``K + 1`` features; column ``K`` is the new feature.
    """
    n, k = data.num_items, data.num_features
    aug = with_judgments(data, None, "__new__")
    q_new = initial_q(data, current, seed=seed, init=init)
    q_old = current.q.detach().to(q_new.dtype) if current is not None and k else torch.zeros(n, 0, dtype=q_new.dtype)
    eps_old = current.eps.detach().to(q_new.dtype) if current is not None and k else torch.zeros(0, dtype=q_new.dtype)
    eps = torch.cat([eps_old, torch.full((1,), 0.5, dtype=q_new.dtype)])
    decoupled = torch.zeros(k + 1, dtype=torch.bool)
    decoupled[k] = True
    return spec(aug, eps=eps, decoupled=decoupled, q_init=torch.cat([q_old, q_new], dim=1), seed=seed)


def error_subgroups(data: GenZData, current: FitResult | None) -> list[Subgroup]:
    """Algorithm 2's candidates: the combinations of ``zhat = q > 0.5`` of the current
    features by decreasing total scaled squared error ``E_c`` (one group of every item
    when K = 0)."""
    n = data.num_items
    if current is None or data.num_features == 0:
        return ranked_subgroups(np.zeros((n, 0)), np.zeros(n))
    zhat = (current.q.detach() > 0.5).to(data.targets.dtype)
    mean = link_mean(current.link, zhat, data.covariates)
    err = scaled_sq_error(data.targets, mean.to(data.targets.dtype), current.sigma2.detach().to(data.targets.dtype))
    return ranked_subgroups(zhat, err)


def choose_exemplars(
    q: torch.Tensor, groups: list[Subgroup] | None, config: ExemplarConfig, *, seed: int
) -> tuple[ExemplarSplit, Subgroup | None]:
    """Exemplars of the new feature from the first subgroup (largest ``E_c``) that its
    posterior splits into two non-empty groups; all items when ``groups`` is ``None``
    or no subgroup is split (then the subgroup returned is ``None``).

    Args:
        q: ``[N]`` posterior of the new feature; groups: from :func:`error_subgroups`.
    """
    for g in groups or []:
        try:
            return sample_exemplars(q, config=config, candidates=g.members, seed=seed), g
        except ValueError:  # the posterior does not split this subgroup: next largest error
            continue
    return sample_exemplars(q, config=config, seed=seed), None


@dataclass
class _Judged:
    """A mined description judged on every item (the shared half of add and refine steps)."""

    description: str
    judgments: np.ndarray  # [N_all] 0/1
    train_judgments: torch.Tensor  # [N_train]
    activity: float
    eps: float  # eq. 14 against the decoupled posterior column
    reason: str  # "" (keep), "no-feature", "duplicate" or "activity"
    fm_time: float


def _mine_and_judge(
    model: FoundationModel,
    items: Mapping[str, Item],
    train: np.ndarray,
    q_col: torch.Tensor,
    pos_ids: list[str],
    neg_ids: list[str],
    *,
    avoid: Sequence[str],
    compare: np.ndarray,
    dtype: torch.dtype,
    min_activity: float,
    max_activity: float,
) -> _Judged:
    """Mine a description from the exemplars, judge it on every item and apply the discard
    filters (no description, duplicate of ``avoid`` or of a column of ``compare`` [N_all, J],
    training activity outside ``[min_activity, max_activity]``)."""
    ids = list(items.keys())
    t0 = time.perf_counter()
    try:
        mined = model.mine({i: items[i] for i in pos_ids}, {i: items[i] for i in neg_ids}, avoid=tuple(avoid))
    except NoFeatureFoundError:
        # the model could not word this split: a discarded step, not the end of the run
        empty = np.zeros(len(ids))
        return _Judged("", empty, torch.zeros(len(train), dtype=dtype), float("nan"), 0.5, "no-feature",
                       time.perf_counter() - t0)
    mine_time = time.perf_counter() - t0
    got = _judge_and_filter(
        model, items, train, mined.description.strip(), avoid=avoid, compare=compare, dtype=dtype,
        min_activity=min_activity, max_activity=max_activity,
    )
    eps = estimate_eps(q_col.to(dtype), got.train_judgments)
    return replace(got, eps=eps, fm_time=got.fm_time + mine_time)


def _judge_and_filter(
    model: FoundationModel,
    items: Mapping[str, Item],
    train: np.ndarray,
    description: str,
    *,
    avoid: Sequence[str],
    compare: np.ndarray,
    dtype: torch.dtype,
    min_activity: float,
    max_activity: float,
) -> _Judged:
    """Judge ``description`` on every item (every id must be answered) and apply the discard
    filters: duplicate of ``avoid`` or of a column of ``compare`` [N_all, J], training activity
    outside ``[min_activity, max_activity]``. ``eps`` is left ``nan`` for the caller."""
    ids = list(items.keys())
    t0 = time.perf_counter()
    answers = model.judge(description, items)
    fm_time = time.perf_counter() - t0
    missing = [i for i in ids if i not in answers]
    if missing:
        raise ValueError(
            f"model: judge({description!r}) returned no answer for {len(missing)} item(s), first {missing[0]!r}; "
            "a FoundationModel must answer every item id it is given"
        )
    s_all = judgment_column(answers, ids, soft=uses_soft_judgments(model))
    s_train = torch.as_tensor(s_all[train], dtype=dtype)
    activity = float(s_all[train].mean())
    reason = ""
    if description in avoid or any(np.array_equal(s_all, compare[:, j]) for j in range(compare.shape[1])):
        reason = "duplicate"
    elif activity < min_activity or activity > max_activity:
        reason = "activity"
    return _Judged(description, s_all, s_train, activity, float("nan"), reason, fm_time)


def add_step(
    *,
    model: FoundationModel,
    items: Mapping[str, Item],
    train: np.ndarray,
    data: GenZData,
    all_judgments: np.ndarray,
    current: FitResult | None,
    spec: FitSpec,
    conditional: bool,
    exemplars: ExemplarConfig,
    avoid: Sequence[str],
    seed: int,
    min_activity: float = 0.02,
    max_activity: float = 0.98,
) -> AddOutcome:
    """One run of Algorithm 1 (or 2 with ``conditional=True``).

    Args:
        model: the foundation model (mining and judging).
        items: every item ``{id: item}`` in row order (all splits).
        train: ``[N_train]`` row indices of the training items (the rows of ``data``).
        data: ``[N_train, K]`` training data of the current features.
        all_judgments: ``[N_all, K]`` current judgments of every item (for the
            duplicate check).
        current: the current fit on ``data`` (``None`` when ``K = 0``).
        spec: how to fit.
        conditional: Algorithm 2 (exemplars from the largest-error subgroup).
        exemplars: exemplar group sizes and split mode.
        avoid: descriptions the miner must not repeat (current and discarded features).
        seed: the step's seed (initial ``q``, exemplar draw, engine).
        min_activity, max_activity: the discard filter on the training activity rate.
    """
    ids = list(items.keys())
    k = data.num_features
    t0 = time.perf_counter()
    dec = decoupled_fit(data, current, spec, seed=seed)
    fit_time = time.perf_counter() - t0
    q_new = dec.q[:, k].detach()

    groups = error_subgroups(data, current) if conditional else None
    try:
        split, group = choose_exemplars(q_new, groups, exemplars, seed=seed)
    except ValueError:
        # the posterior puts every item in one group: nothing to contrast this step (the next
        # step's seed draws another initial posterior); a discarded step, not the end of the run
        return AddOutcome("", np.zeros(len(ids)), [], [], None, 0.5, float("nan"), "no-split", None, fit_time, 0.0)
    pos_ids = [ids[int(train[i])] for i in split.positive]
    neg_ids = [ids[int(train[i])] for i in split.negative]

    sub = None if group is None else group.combination
    got = _mine_and_judge(
        model, items, train, q_new, pos_ids, neg_ids, avoid=avoid, compare=all_judgments[:, :k],
        dtype=data.judgments.dtype, min_activity=min_activity, max_activity=max_activity,
    )
    description, s_all, s_train, eps, fm_time = got.description, got.judgments, got.train_judgments, got.eps, got.fm_time
    if got.reason:
        eps_rel = max(min(eps, 1 - eps), EPS_MIN)
        return AddOutcome(description, s_all, pos_ids, neg_ids, sub, eps_rel, got.activity, got.reason, None,
                          fit_time, fm_time)

    # refit with the new feature coupled to its judgments; warm start from the decoupled fit
    aug = with_judgments(data, s_train, description)
    # the new column starts from its judgments (the description now defines the feature);
    # the other features keep their decoupled-fit posterior
    q_init = dec.q.detach().clone()
    q_init[:, k] = (1 - 2 * INIT_MARGIN) * s_train + INIT_MARGIN
    eps_init = dec.eps.detach().clone()
    eps_init[k] = max(min(eps, 1 - eps), EPS_MIN)  # eq. 14 for z or its relabelling (the link absorbs the sign)
    t0 = time.perf_counter()
    result = spec(aug, eps=eps_init, decoupled=None, q_init=q_init, seed=seed + 1)
    fit_time += time.perf_counter() - t0
    eps_fit = float(result.eps[k])
    return AddOutcome(description, s_all, pos_ids, neg_ids, sub, eps_fit, got.activity, "", result, fit_time, fm_time)


def remove_step(
    data: GenZData, current: FitResult, spec: FitSpec, *, seed: int, screen: int | None = None
) -> RemoveOutcome:
    """Algorithm 3: drop the feature whose removal lowers the training bound least.

    Every candidate is refitted without that feature, warm-started from ``current``
    (its ``q`` and ``eps`` minus the column), and the refit with the highest bound wins
    (ties go to the lower index).

    Args:
        data: ``[N_train, K]`` training data (``K >= 1``); current: its fit.
        screen: linear link: refit only the ``screen`` candidates whose bound after one M step
            at the current posterior is highest (:func:`~genz_pyro.discovery.screening.
            removal_bounds_at_q`); ``bounds`` then holds those one-step bounds for the others.
            ``None``: refit every candidate (the paper's Algorithm 3).

    Raises:
        ValueError: when there is no feature to remove.
    """
    k = data.num_features
    if k < 1:
        raise ValueError("remove_step: the model has no feature to remove; add features first")
    t0 = time.perf_counter()
    best: tuple[float, int, FitResult] | None = None
    bounds: list[float] = []
    candidates = range(k)
    if screen is not None and k > screen and spec.link == "linear":
        from genz_pyro.discovery.screening import removal_bounds_at_q

        approx = removal_bounds_at_q(data, current, ridge=float(spec.options.get("ridge", 0.0)))
        candidates = sorted(np.argsort(-approx, kind="stable")[:screen].tolist())
        bounds = [float(b) for b in approx]
    for j in candidates:
        keep = [c for c in range(k) if c != j]
        sub = data.select_features(keep)
        res = spec(
            sub,
            eps=current.eps.detach()[keep].clone(),
            decoupled=None,
            q_init=current.q.detach()[:, keep].clone(),
            seed=seed,
        )
        if len(bounds) == k:
            bounds[j] = res.bound
        else:
            bounds.append(res.bound)
        if best is None or res.bound > best[0]:
            best = (res.bound, j, res)
    assert best is not None
    return RemoveOutcome(index=best[1], bounds=bounds, result=best[2], fit_time=time.perf_counter() - t0)
