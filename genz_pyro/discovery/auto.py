"""The automatic discovery loop: it decides its own size on the validation split.

:func:`run_auto` (``Discovery.run_auto``, ``genz fit``'s default ``--algorithm auto``):

1. **Add** with Algorithm 1 until the validation criterion (the metric; for a median metric the
   mean of the same errors, ``Scorer.select_value``) has not improved for ``patience``
   consecutive additions (discarded steps count: they cost calls too) or ``max_adds`` adds
   were made (a cap). With a :class:`~genz_pyro.discovery.selection.Selection` the
   treatment (eps, ridge) is re-chosen on validation after the 9th, 14th, 21st, 32nd, ...
   accepted addition (no model call).
2. **Back to the best state**: the features, judgments and fit of the step with the best
   validation score so far (the state before the loop, e.g. no feature, competes too).
3. **Prune** with Algorithm 3 (the feature whose removal lowers the TRAINING bound least;
   the ``PRUNE_SCREEN`` candidates with the best bound after one M step are refitted)
   until ``prune_patience`` (1) consecutive removals bring no validation improvement or no
   feature is left; a removal that keeps the best validation score (to a relative 1e-6)
   counts as one (fewer features at equal validation). The removal order is chosen on training
   data; validation only decides where to stop, so the pruning path is not fitted to the
   validation items.
4. **End on the best validation state seen** (additions and removals alike), with a last
   treatment check on it. It never ends on a state worse on validation than one it saw, and
   never on the empty model when a state with features beat it.

Steps 2 and 4 are ``"select"`` records (``algorithm="auto"``, ``selection["kind"] == "best"``,
``selection["phase"]`` ``"added"`` / ``"final"``). The loop is a plan like ``Discovery.run``:
its counters are re-derived from the history, and the best state is kept in
``run_dir/best.pt`` (written atomically), so a killed run resumes where it stopped.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genz_pyro.discovery import persist
from genz_pyro.discovery.history import StepRecord, step_seed
from genz_pyro.discovery.selection import Treatment, check_treatment, val_score

if TYPE_CHECKING:  # pragma: no cover
    from genz_pyro.discovery.state import DiscoveryState as Discovery

__all__ = ["run_auto", "treatment_record", "AUTO_DEFAULTS"]

#: ``max_adds`` (a cap), ``patience`` (additions without a validation improvement) and
#: ``prune_patience`` (removals without one) of ``genz fit``'s default loop.
AUTO_DEFAULTS: dict[str, int] = {"max_adds": 100, "patience": 20, "prune_patience": 1}

#: the pruning refits the candidates of the best one-M-step bounds only (Algorithm 3 screened)
PRUNE_SCREEN = 4

_NO_USAGE = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "cache_hits": 0}


@dataclass
class _Best:
    step: int  # the record whose state is the best (start_step - 1: the state before the plan)
    val: float
    state: dict[str, Any]


def _best_path(disc: "Discovery") -> Any:
    return None if disc.run_dir is None else disc.run_dir / "best.pt"


def _save_best(disc: "Discovery", best: _Best, start_step: int) -> None:
    disc._auto_best = best
    path = _best_path(disc)
    if path is not None:
        buf = io.BytesIO()
        torch.save({"format": "genz-pyro-best/1", "start_step": start_step, "step": best.step, "val": best.val,
                    "state": best.state}, buf)
        persist.atomic_write(path, buf.getvalue())


def _load_best(disc: "Discovery", start_step: int) -> _Best | None:
    mem = getattr(disc, "_auto_best", None)
    if mem is not None:
        return mem
    path = _best_path(disc)
    if path is None or not path.exists():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("format") != "genz-pyro-best/1" or int(blob["start_step"]) != start_step:
        return None
    return _Best(int(blob["step"]), float(blob["val"]), blob["state"])


def _set_state(disc: "Discovery", state: dict[str, Any]) -> None:
    """Make ``state``'s features, judgments, fit and treatment current (the pool and the
    discarded descriptions, which only grow, are kept)."""
    disc.descriptions = list(state["descriptions"])
    disc.judgments = state["judgments"].numpy().astype(np.float64).reshape(len(disc.ids), -1)
    if "spec" in state:
        disc.spec = Treatment(state["spec"]["eps"], float(state["spec"]["ridge"])).apply(disc.spec)
    disc._result = persist.fit_from_state(
        state["fit"], link=disc.spec.link, target_dim=disc._y.shape[1],
        covariate_dim=0 if disc._u is None else int(disc._u.shape[1]),
    )


def _val(record: StepRecord) -> float:
    """The record's validation criterion (``metric["val_criterion"]`` when the metric is a median)."""
    v = record.metric.get("val_criterion", record.metric.get("val"))
    return float("nan") if v is None else float(v)


def _select_record(disc: "Discovery", best: _Best, *, phase: str, pos: int, check: bool) -> StepRecord:
    step = len(disc.history)
    seed = step_seed(disc.seed, step)
    t0 = time.perf_counter()
    if best.step != step - 1:
        _set_state(disc, best.state)
    info: dict[str, Any] = {"kind": "best", "phase": phase, "best_step": best.step, "best_val": best.val}
    if check and disc.selection is not None:
        info["treatment"] = check_treatment(disc, disc.selection, seed=seed, final=True)
    where = "the state before the loop" if best.step < 0 else f"step {best.step}"
    record = disc._record(
        action="select", algorithm="auto", selection=info,
        reason=f"best validation score of the {'additions' if phase == 'added' else 'run'}: {where} "
               f"({len(disc.descriptions)} features)",
        usage=dict(_NO_USAGE), time={"fit": time.perf_counter() - t0, "fm": 0.0, "total": time.perf_counter() - t0},
        seed=seed, plan_pos=pos,
    )
    return disc._commit(record)


def treatment_record(disc: "Discovery", *, pos: int) -> StepRecord | None:
    """The end of a fixed plan (``Discovery.run``) with a ``selection``: the treatment of the last
    state is checked on validation (``check_treatment(final=True)``) and recorded as a ``"select"``
    step (``algorithm="treatment"``); ``None`` (no record) when there is nothing to check."""
    assert disc.selection is not None
    step = len(disc.history)
    seed = step_seed(disc.seed, step)
    t0 = time.perf_counter()
    info = check_treatment(disc, disc.selection, seed=seed, final=True)
    if info is None:
        return None
    record = disc._record(
        action="select", algorithm="treatment", selection=info,
        reason=f"treatment of the last state chosen on validation: {info['chosen']}",
        usage=dict(_NO_USAGE), time={"fit": time.perf_counter() - t0, "fm": 0.0, "total": time.perf_counter() - t0},
        seed=seed, plan_pos=pos,
    )
    return disc._commit(record)


def run_auto(disc: "Discovery", *, max_adds: int = 100, patience: int = 20, prune_patience: int = 1) -> StepRecord:
    """Run (or finish) the automatic loop on ``disc`` (see the module docstring).

    Args:
        max_adds: cap on addition steps (discarded ones included).
        patience: stop adding after this many additions without a new best validation score.
        prune_patience: stop pruning after this many removals without one (0: no pruning).

    Returns:
        The final ``"select"`` record.

    Raises:
        ValueError: for arguments out of range or an empty validation split.
    """
    if max_adds < 0 or patience < 1 or prune_patience < 0:
        raise ValueError(f"max_adds, patience, prune_patience: need >= 0, >= 1, >= 0, got {max_adds}, {patience}, "
                         f"{prune_patience}")
    if disc.val.size == 0:
        raise ValueError("dataset.val: the automatic loop chooses on a validation split, which is empty; split with "
                         "genz_pyro.datasets.base.split_indices(n, val_fraction=0.2) or run a fixed plan (run(1, N))")
    args = {"kind": "auto", "max_adds": max_adds, "patience": patience, "prune_patience": prune_patience}
    pos = disc._open_plan(args)
    plan = disc._pending_plan()
    assert plan is not None
    start = int(plan["start_step"])
    mine = [r for r in disc.history.records[start:] if r.plan_pos >= 0]
    if mine and mine[-1].action == "select" and (mine[-1].selection or {}).get("phase") == "final":
        disc._close_plan()
        return mine[-1]
    better = disc.scorer.better

    def improves(record: StepRecord, best_val: float) -> bool:
        # a removal that keeps the best score (to a relative 1e-6) is kept too: fewer features at
        # equal validation; an addition must improve it
        v = _val(record)
        if record.action == "add":
            return better(v, best_val)
        if record.action != "remove" or np.isnan(v):
            return False
        tol = 1e-6 * abs(best_val)
        return not better(best_val, v + tol if disc.scorer.greater_is_better else v - tol)

    # the state before the loop competes: its validation score from its record, or computed
    init_val = _val(disc.history[start - 1]) if start > 0 else val_score(disc, None)  # no record: no feature
    best = _load_best(disc, start)
    if best is None:  # a new plan: the starting state is the best so far
        best = _Best(start - 1, init_val, disc._state())
        _save_best(disc, best, start)

    # replay the finished steps of this plan: phase, additions made, steps since the best
    phase, adds, since = "add", 0, 0
    best_step, best_val = start - 1, init_val
    for r in mine:
        if r.action == "select":
            phase, since = "prune", 0
            continue
        adds += phase == "add"
        if improves(r, best_val):
            best_step, best_val, since = r.step, _val(r), 0
        else:
            since += 1
    if best.step != best_step:  # killed after the record of a new best, before best.pt: it is the last state
        assert best_step == len(disc.history) - 1
        best = _Best(best_step, best_val, disc._state())
        _save_best(disc, best, start)

    def track(record: StepRecord) -> None:
        nonlocal best, since
        if improves(record, best.val):
            best = _Best(record.step, _val(record), disc._state())
            _save_best(disc, best, start)
            since = 0
        else:
            since += 1

    if phase == "add":
        while adds < max_adds and since < patience:
            track(disc.add_feature(_plan_pos=pos))
            pos, adds = pos + 1, adds + 1
        _select_record(disc, best, phase="added", pos=pos, check=False)
        pos, since, phase = pos + 1, 0, "prune"
    while disc.descriptions and since < prune_patience:
        track(disc.remove_feature(_plan_pos=pos, screen=PRUNE_SCREEN))
        pos += 1
    final = _select_record(disc, best, phase="final", pos=pos, check=True)
    disc._auto_best = None
    disc._close_plan()
    return final
