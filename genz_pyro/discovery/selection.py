"""The flip-probability treatment and the ridge, chosen on the validation split.

A *treatment* is how the statistical model treats the judgments: the flip probability eps of
every coupled feature is learned (eq. 14, the paper) or held at a fixed value (trust the
judgments; a tiny value lets exact judgments reconstruct the targets exactly), and a ridge
``r`` puts a Gaussian prior on the linear link's feature weights. Which one predicts held-out
items best depends on the foundation model and the data (docs/discovery.md, "Fixed eps and a
ridge"), so :func:`check_treatment` decides on the validation split, by refits of the current
features that reuse the judgments already paid for: no model call.

Cost: one fit per eps value of the grid (warm-started from the current posterior; the learned
eps, fitted at the final check only by default, starts from the judgments, the paper's start),
then every ridge of the grid is scored by one closed-form M step at that fit's posterior
(:func:`ridge_variant`), and the best proxy is refitted once. :class:`Selection` says which
grids and after which accepted additions the check runs (about every 1.5x more features), and
how many checks the choice pools (one small validation split is noisy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genz_pyro.discovery.algorithms import EPS_FIXED_MIN, FitSpec
from genz_pyro.infer.result import FitResult

if TYPE_CHECKING:  # pragma: no cover
    from genz_pyro.discovery.state import DiscoveryState as Discovery

__all__ = ["Treatment", "Selection", "check_treatment", "ridge_variant", "val_score", "treatment_settings",
           "pooled", "retired_eps", "describe_scores"]


@dataclass(frozen=True)
class Treatment:
    """A flip-probability treatment and a ridge.

    Attributes:
        eps: ``None`` (learned, eq. 14) or the value every coupled feature's eps is held at.
        ridge: Gaussian prior (ridge penalty) on the linear link's feature weights (0: none).
    """

    eps: float | None
    ridge: float = 0.0

    @property
    def label(self) -> str:
        """``"eps learned, ridge 0"`` / ``"eps 0.001, ridge 10"``."""
        e = "learned" if self.eps is None else f"{self.eps:g}"
        return f"eps {e}, ridge {self.ridge:g}"

    def to_json(self) -> dict[str, Any]:
        return {"eps": self.eps, "ridge": self.ridge}

    @classmethod
    def of(cls, spec: FitSpec) -> "Treatment":
        """The treatment a :class:`FitSpec` fits with."""
        return cls(spec.eps_fixed, float(spec.options.get("ridge", 0.0)))

    def apply(self, spec: FitSpec) -> FitSpec:
        """``spec`` with this treatment (other options kept)."""
        opts = {k: v for k, v in spec.options.items() if k != "ridge"}
        if self.ridge:
            opts["ridge"] = float(self.ridge)
        return replace(spec, eps_fixed=self.eps, options=opts)


def _schedule(growth: float, limit: int) -> list[int]:
    out, c = [], 1
    while c <= limit:
        out.append(c)
        c = max(c + 1, int(round(c * growth)))
    return out


@dataclass(frozen=True)
class Selection:
    """Which treatments are compared on validation, and when.

    Attributes:
        eps_grid: eps values (``None``: learned). Default: learned, 0.01, 0.001, 1e-6.
        ridge_grid: ridges (the linear link only; other links use 0). Default 0, 1, 3, 10, 30.
        start: the treatment before the first check (eps 0.01, ridge 1; moved onto the grids).
        growth, first: the check runs after the accepted additions of the schedule 1, 2, 3, 4, 6,
            9, 14, 21, 32, 48, 72, 108, ... (each about ``growth`` times the last) from the
            ``first`` (9) on, and once more at the end of an automatic run.
        memory: the choice pools the evidence of this many checks (the current one and the
            ones before): each check's scores are centred on their median and the treatment
            with the best mean is chosen. Which treatment suits the judgments is a property of
            the foundation model and the data more than of one feature set, and one check on a
            small validation split is noisy: pooling keeps the run from chasing that noise.
        switch_se: the chosen treatment replaces the current one only when its validation score
            is better by more than ``switch_se`` standard errors of the paired difference
            (bootstrapped over the validation items, 200 resamples); 0 (default): any gain.
        learned_in_path: also fit the learned eps at the checks during the run (default: only at
            the final check). While features are being found a learned eps lets the training
            items' ``z`` flip to absorb what a new feature should explain: the decoupled
            feature's posterior then collapses (a run of "no-split" steps) and the residuals the
            miner sees are the flips' (docs/discovery.md); the search runs on a held eps and the
            learned eps competes for the final fit.
    """

    eps_grid: tuple[float | None, ...] = (None, 1e-2, 1e-3, 1e-6)
    ridge_grid: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0)
    start: Treatment = Treatment(1e-2, 1.0)
    growth: float = 1.5
    memory: int = 3
    switch_se: float = 1.0
    learned_in_path: bool = False
    first: int = 9

    def __post_init__(self) -> None:
        if not self.eps_grid or not self.ridge_grid:
            raise ValueError("eps_grid, ridge_grid: give at least one value each")
        for e in self.eps_grid:
            if e is not None and not EPS_FIXED_MIN <= float(e) < 0.5:
                raise ValueError(f"eps_grid: {e!r} is not None (learned) or in [{EPS_FIXED_MIN}, 0.5)")
        if any(not r >= 0 for r in self.ridge_grid):
            raise ValueError(f"ridge_grid: ridges must be >= 0, got {self.ridge_grid}")
        if not self.growth > 1:
            raise ValueError(f"growth: must be > 1, got {self.growth}")
        if self.memory < 1:
            raise ValueError(f"memory: must be >= 1, got {self.memory}")
        if not self.switch_se >= 0:
            raise ValueError(f"switch_se: must be >= 0, got {self.switch_se}")
        if self.first < 1:
            raise ValueError(f"first: must be >= 1 (the first accepted addition checked), got {self.first}")

    @property
    def active(self) -> bool:
        """True when there is something to choose (more than one treatment)."""
        return len(self.eps_grid) * len(self.ridge_grid) > 1

    def initial(self) -> Treatment:
        """The start treatment, moved onto the grids."""
        e = self.start.eps if self.start.eps in self.eps_grid else self.eps_grid[0]
        r = self.start.ridge if self.start.ridge in self.ridge_grid else self.ridge_grid[0]
        return Treatment(e, r)

    def checks_after(self, n_added: int) -> bool:
        """True when the ``n_added``-th accepted addition is followed by a check."""
        return self.active and n_added >= self.first and n_added in _schedule(self.growth, n_added)

    def to_json(self) -> dict[str, Any]:
        return {"eps_grid": list(self.eps_grid), "ridge_grid": list(self.ridge_grid),
                "start": self.start.to_json(), "growth": self.growth, "memory": self.memory,
                "switch_se": self.switch_se, "learned_in_path": self.learned_in_path,
                "first": self.first}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Selection":
        return cls(eps_grid=tuple(raw["eps_grid"]), ridge_grid=tuple(float(r) for r in raw["ridge_grid"]),
                   start=Treatment(raw["start"]["eps"], float(raw["start"]["ridge"])), growth=float(raw["growth"]),
                   memory=int(raw.get("memory", 3)), switch_se=float(raw.get("switch_se", 1.0)),
                   learned_in_path=bool(raw.get("learned_in_path", False)), first=int(raw.get("first", 9)))


def treatment_settings(eps: str | float | None = "auto", ridge: str | float | None = "auto") -> dict[str, Any]:
    """``Discovery`` keyword arguments from two user settings (``genz fit --eps/--ridge``, the estimator).

    Args:
        eps: ``"auto"`` (choose on validation among :class:`Selection`'s eps values), ``"learned"``
            or ``None`` (learned, eq. 14), or a value to hold every feature's eps at.
        ridge: ``"auto"`` (choose among :class:`Selection`'s ridges) or a value >= 0.

    Returns:
        ``{"eps_fixed": value or None, "ridge": value (0 when chosen), "selection": Selection or None}``
        (``selection`` is ``None`` when both are given: nothing to choose).

    Raises:
        ValueError: naming the setting for a value out of range.
    """
    default = Selection()
    if eps == "auto":
        eps_grid = default.eps_grid
    elif eps is None or eps == "learned":
        eps_grid = (None,)
    else:
        if isinstance(eps, str) or not EPS_FIXED_MIN <= float(eps) < 0.5:
            raise ValueError(f"eps: 'auto', 'learned' or a value in [{EPS_FIXED_MIN:g}, 0.5), got {eps!r}")
        eps_grid = (float(eps),)
    if ridge == "auto":
        ridge_grid = default.ridge_grid
    else:
        if isinstance(ridge, str) or not float(ridge or 0.0) >= 0:
            raise ValueError(f"ridge: 'auto' or a value >= 0, got {ridge!r}")
        ridge_grid = (float(ridge or 0.0),)
    sel = Selection(eps_grid=eps_grid, ridge_grid=ridge_grid)
    return {"eps_fixed": eps_grid[0] if len(eps_grid) == 1 else None,
            "ridge": ridge_grid[0] if len(ridge_grid) == 1 else 0.0,
            "selection": sel if sel.active else None}


def val_score(disc: "Discovery", result: FitResult | None) -> float:
    """The run's validation criterion for ``result`` (judgments alone; ``nan`` if empty): the
    metric, or for a median metric the mean of the same errors (``Scorer.select_value``)."""
    if disc.val.size == 0:
        return float("nan")
    pred = disc._predict_rows(disc.val, result, disc.judgments)
    return disc.scorer.select_value(pred, disc._y[torch.as_tensor(disc.val)].numpy())


def ridge_variant(result: FitResult, data: Any, ridge: float) -> FitResult:
    """``result`` with the linear link's weights and ``sigma2`` re-solved at its posterior ``q``
    with another ridge (one closed-form M step; ``q`` and eps kept).

    Args:
        result: a linear-link fit of ``data``; data: its ``[N, K]`` GenZData; ridge: >= 0.
    """
    from genz_pyro.infer.cavi import linear_link_from, m_step_linear, prepare_linear, suff_stats

    ld = prepare_linear(data)
    szz, szy = suff_stats(ld, result.q.detach().double().T.contiguous(), mean_field=True)
    w, sigma2, _ = m_step_linear(ld, szz, szy, ridge=float(ridge))
    dtype = data.targets.dtype
    return replace(result, link=linear_link_from(w, data.num_features, dtype), sigma2=sigma2.to(dtype),
                   bound_history=[], info={"ridge_variant": float(ridge)})


def _better(disc: "Discovery", a: float, b: float) -> bool:
    return disc.scorer.better(a, b)


def paired_se(disc: "Discovery", a: FitResult, b: FitResult, *, seed: int, draws: int = 200) -> float:
    """Bootstrap standard error of ``metric(a) - metric(b)`` on the validation items (the same
    resamples for both: the paired difference).

    A resample on which the metric is undefined (R^2 of a resample whose targets are all equal,
    likely on a small validation split) is left out; with fewer than two usable resamples the
    error is ``inf`` (no evidence, so no switch)."""
    y = disc._y[torch.as_tensor(disc.val)].numpy()
    pa = disc._predict_rows(disc.val, a, disc.judgments)
    pb = disc._predict_rows(disc.val, b, disc.judgments)
    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = []
    for _ in range(draws):
        idx = rng.integers(0, n, n)
        try:
            diffs.append(disc.scorer.select_value(pa[idx], y[idx]) - disc.scorer.select_value(pb[idx], y[idx]))
        except ValueError:  # the metric is undefined on this resample
            continue
    return float(np.std(diffs)) if len(diffs) >= 2 else float("inf")


def _checks(disc: "Discovery") -> list[dict[str, Any]]:
    out = []
    for r in disc.history:
        sel = r.selection or {}
        check = sel if sel.get("kind") == "treatment" else sel.get("treatment")
        if check and check.get("scores"):
            out.append(check)
    return out


def earlier_checks(disc: "Discovery") -> list[dict[str, float | None]]:
    """The ``scores`` of the run's earlier treatment checks, oldest first (from the history)."""
    return [c["scores"] for c in _checks(disc)]


def pooled(checks: list[dict[str, float | None]], greater_is_better: bool) -> dict[str, float]:
    """Mean over ``checks`` of each label's score minus its check's median, signed so that larger
    is better; labels missing or non-finite in any check are left out."""
    labels = [k for k in checks[-1]  # the last check's order (the grid's): deterministic ties
              if all(c.get(k) is not None and np.isfinite(c[k]) for c in checks)]
    sign = 1.0 if greater_is_better else -1.0
    total = {k: 0.0 for k in labels}
    for c in checks:
        med = float(np.median([float(c[k]) for k in labels])) if labels else 0.0
        for k in labels:
            total[k] += sign * (float(c[k]) - med)
    return {k: v / len(checks) for k, v in total.items()}


def _eps_label(label: str) -> str:
    return label.split(",")[0]  # "eps 0.001, ridge 10" -> "eps 0.001"


def retired_eps(checks: list[dict[str, float | None]], greater_is_better: bool, memory: int) -> set[str]:
    """Eps values (``"eps 0.01"``, ``"eps learned"``) ranked last among the eps values (each by its best
    ridge) in each of the last ``memory`` checks: successive elimination, their fits are skipped."""
    if memory < 1 or len(checks) < memory:
        return set()
    last: set[str] | None = None
    for c in checks[-memory:]:
        best: dict[str, float] = {}
        for k, v in c.items():
            if v is not None and np.isfinite(v):
                e, x = _eps_label(k), (float(v) if greater_is_better else -float(v))
                best[e] = max(best.get(e, -np.inf), x)
        if len(best) < 2:
            return set()
        worst = {min(best, key=best.get)}
        last = worst if last is None else last & worst
    return last or set()


def check_treatment(disc: "Discovery", selection: Selection, *, seed: int, final: bool = False
                    ) -> dict[str, Any] | None:
    """Choose the treatment of the current features on validation and switch ``disc`` to it.

    Every eps of ``selection.eps_grid`` is fitted (the current treatment's fit is reused),
    every ridge scored by :func:`ridge_variant` at that fit, the best proxy refitted exactly;
    the treatment with the best pooled evidence (:func:`pooled`, over ``selection.memory``
    checks; ties keep the current one) is chosen and, if its score was a proxy, refitted. An eps
    value ranked last in each of the last ``selection.memory`` checks is not fitted again
    during the run (:func:`retired_eps`); the final check fits them all.
    ``final=True`` (the end of a run, features fixed) chooses on the current validation scores
    alone and keeps the current treatment when the chosen one's exact refit scores worse, so
    a run never ends below the best state it saw.
    ``disc.spec`` and ``disc._result`` become the chosen ones.

    Returns:
        ``None`` when there is nothing to check (no feature, empty validation split, one
        treatment), else ``{"kind": "treatment", "scores": {label: val}, "chosen": {...},
        "pooled": {label: evidence}, "before": {...}, "val_before", "val_after"}``; ``scores`` of
        ridges other than each eps fit's own are the one-M-step proxies (wall time is left to the
        caller's record: a history must not differ between two runs with one seed).
    """
    res = disc.result
    if res is None or not disc.descriptions or disc.val.size == 0 or not selection.active:
        return None
    data = disc.train_data()
    current = Treatment.of(disc.spec)
    linear = disc.spec.link == "linear"
    ridges = tuple(selection.ridge_grid) if linear else (current.ridge,)
    cur_val = val_score(disc, res)
    scores: dict[Treatment, float] = {current: cur_val}
    exact: dict[Treatment, tuple[float, FitResult]] = {current: (cur_val, res)}
    eps_fits: dict[float | None, tuple[Treatment, FitResult]] = {}
    earlier = _checks(disc)
    history = [c["scores"] for c in earlier]
    skip: set[str] = set()
    if not final:  # once retired, retired for the rest of the run's path
        skip = set(earlier[-1].get("retired", [])) if earlier else set()
        skip |= retired_eps(history, disc.scorer.greater_is_better, selection.memory)
    for e in selection.eps_grid:
        t = Treatment(e, current.ridge if current.ridge in ridges else ridges[0])
        if e != current.eps and (_eps_label(t.label) in skip or (e is None and not final
                                                                  and not selection.learned_in_path)):
            continue
        if t == current:
            fit_t = res
        else:
            warm = e is not None or current.eps is None  # a learned eps starts from the judgments
            fit_t = t.apply(disc.spec)(
                data, eps=res.eps.detach().clone() if (e is None and warm) else None, decoupled=None,
                q_init=res.q.detach().clone() if warm else None, seed=seed,
            )
            exact[t] = (val_score(disc, fit_t), fit_t)
            scores[t] = exact[t][0]
        eps_fits[e] = (t, fit_t)
        if linear:
            for r in ridges:
                tr = Treatment(e, r)
                if tr not in scores:
                    scores[tr] = val_score(disc, ridge_variant(fit_t, data, r))
    labels = {t.label: t for t in scores}
    now = {t.label: (None if math.isnan(v) else v) for t, v in scores.items()}
    memory = 1 if final else selection.memory
    evidence = pooled(history[-(memory - 1):] + [now] if memory > 1 else [now],
                      disc.scorer.greater_is_better)
    best = current
    if evidence:
        top = max(evidence.values())
        if current.label not in evidence or evidence[current.label] < top:  # ties keep the current treatment
            best = labels[next(k for k, v in evidence.items() if v == top)]
    if best not in exact:  # a proxy won: refit it exactly, warm from its eps fit
        base_t, base = eps_fits[best.eps]
        fit_b = best.apply(disc.spec)(data, eps=base.eps.detach().clone() if best.eps is None else None,
                                      decoupled=None, q_init=base.q.detach().clone(), seed=seed)
        exact[best] = (val_score(disc, fit_b), fit_b)
    chosen = best
    gain = abs(exact[best][0] - cur_val) if _better(disc, exact[best][0], cur_val) else 0.0
    se = None
    if best != current and selection.switch_se > 0 and gain > 0:
        se = paired_se(disc, exact[best][1], res, seed=seed)
    if best != current and (gain == 0 and (final or selection.switch_se > 0)
                            or se is not None and gain <= selection.switch_se * se):
        chosen = current  # not better than the current one beyond the noise of the comparison
    disc.spec = chosen.apply(disc.spec)
    disc._result = exact[chosen][1]
    return {
        "kind": "treatment",
        "criterion": disc.scorer.criterion_name,
        "scores": now,
        "pooled": evidence,
        "retired": sorted(skip),
        "exact": sorted(t.label for t in exact),
        "before": current.to_json(),
        "chosen": chosen.to_json(),
        "val_before": cur_val,
        "val_after": exact[chosen][0],
        "switch_se": se,
    }


def describe_scores(scores: dict[str, float | None], greater_is_better: bool) -> list[tuple[str, float]]:
    """``scores`` as (label, value) pairs, best first (``None`` last)."""
    finite = [(k, float(v)) for k, v in scores.items() if v is not None and np.isfinite(v)]
    return sorted(finite, key=lambda kv: -kv[1] if greater_is_better else kv[1])
