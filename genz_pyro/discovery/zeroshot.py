"""The zero-shot baseline (paper section 5): features from the model's domain knowledge.

1. ``propose``: the foundation model gets the task description and a sample of
   TRAINING items (no targets) and proposes ``n`` yes/no features;
2. every proposal is judged on every item; proposals positive for fewer than
   ``min_activity`` / more than ``max_activity`` of the training items, or
   repeating an earlier proposal's judgments, are dropped;
3. the model is fitted with all the rest, then pruned with Algorithm 3 one feature
   at a time down to ``min_features``, scoring train, validation and test at every
   step (one history record each);
4. the feature set with the best VALIDATION score is selected (refit from its
   judgments) and its test score reported. *(choice)* The paper picked the best
   test score; selecting on validation is the honest version.

The run is a plan like :meth:`Discovery.run`: a killed zero-shot run resumes where
it stopped (the proposal and judgments come back from the cache).
"""

from __future__ import annotations

import time

import numpy as np

from genz_pyro.discovery.history import StepRecord
from genz_pyro.discovery.state import DiscoveryState
from genz_pyro.fm.mixed import judgment_column, uses_soft_judgments


__all__ = ["run_zero_shot", "select_best"]


def select_best(records: list[StepRecord], *, greater_is_better: bool, split: str = "val") -> StepRecord:
    """The record with the best ``metric[split]`` (the earliest among ties).

    Raises:
        ValueError: when no record has a finite score on ``split``.
    """
    best: StepRecord | None = None
    for r in records:
        v = r.metric.get(split, float("nan"))
        if np.isnan(v):
            continue
        if best is None or (v > best.metric[split] if greater_is_better else v < best.metric[split]):
            best = r
    if best is None:
        raise ValueError(f"records: none has a finite {split!r} score; the {split} split must not be empty")
    return best


def _propose(disc: DiscoveryState, *, n: int, num_examples: int, pos: int) -> StepRecord:
    from genz_pyro.discovery.history import step_seed, usage_delta

    step = len(disc.history)
    seed = step_seed(disc.seed, step)
    t0 = time.perf_counter()
    before = disc.model.usage.copy()
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(disc.train, size=min(num_examples, disc.train.size), replace=False))
    examples = {disc.ids[r]: disc.items[disc.ids[r]] for r in rows}
    t_fm = time.perf_counter()
    proposals = disc.model.propose(disc.dataset.task, examples, n)
    kept: list[str] = []
    cols: list[np.ndarray] = []
    dropped: list[str] = []
    for raw in proposals:
        desc = str(raw).strip()
        if not desc or desc in kept or desc in dropped:
            continue
        ans = disc.model.judge(desc, disc.items)
        s = judgment_column(ans, disc.ids, soft=uses_soft_judgments(disc.model))
        disc.pool[desc] = s
        act = float(s[disc.train].mean())
        if act < disc.min_activity or act > disc.max_activity or any(np.array_equal(s, c) for c in cols):
            dropped.append(desc)
            continue
        kept.append(desc)
        cols.append(s)
    fm_time = time.perf_counter() - t_fm
    if not kept:
        raise ValueError(
            f"model: none of the {len(proposals)} proposed features passed the activity filter "
            f"[{disc.min_activity}, {disc.max_activity}]; ask for more features (n) or relax min/max_activity"
        )
    disc.descriptions = kept
    disc.judgments = np.stack(cols, axis=1)
    disc.discarded.extend(dropped)
    t_fit = time.perf_counter()
    disc._result = disc.spec(disc.train_data(), eps=None, decoupled=None, q_init=None, seed=seed)
    fit_time = time.perf_counter() - t_fit
    record = disc._record(
        action="zero-shot",
        algorithm="zero-shot",
        reason=f"proposed {len(proposals)}, kept {len(kept)}, dropped {len(dropped)}" + (
            ": " + "; ".join(dropped) if dropped else ""
        ),
        exemplars={"positive": [disc.ids[r] for r in rows], "negative": []},
        usage=usage_delta(before, disc.model.usage),
        time={"fit": fit_time, "fm": fm_time, "total": time.perf_counter() - t0},
        seed=seed,
        plan_pos=pos,
    )
    return disc._commit(record)


def _select(disc: DiscoveryState, start_step: int, pos: int) -> StepRecord:
    from genz_pyro.discovery.history import step_seed

    step = len(disc.history)
    seed = step_seed(disc.seed, step)
    t0 = time.perf_counter()
    path = [r for r in disc.history.records[start_step:] if r.action in ("zero-shot", "remove") and r.plan_pos >= 0]
    best = select_best(path, greater_is_better=disc.scorer.greater_is_better, split="val")
    full = next(r for r in path if r.action == "zero-shot")
    # the chosen set's judgments come from the pool of every judged description
    disc.judgments = np.stack([disc.pool[d] for d in best.features], axis=1)
    disc.descriptions = list(best.features)
    t_fit = time.perf_counter()
    disc._result = disc.spec(disc.train_data(), eps=None, decoupled=None, q_init=None, seed=seed)
    checked = None
    if disc.selection is not None:  # the treatment of the chosen set, on validation (no model call)
        from genz_pyro.discovery.selection import check_treatment

        checked = check_treatment(disc, disc.selection, seed=seed)
    fit_time = time.perf_counter() - t_fit
    record = disc._record(
        selection=checked,
        action="select",
        algorithm="zero-shot",
        reason=f"best validation score at step {best.step} ({len(best.features)} of {len(full.features)} features)",
        usage={"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "cache_hits": 0},
        time={"fit": fit_time, "fm": 0.0, "total": time.perf_counter() - t0},
        seed=seed,
        plan_pos=pos,
    )
    return disc._commit(record)


def run_zero_shot(disc: DiscoveryState, *, n: int, num_examples: int, min_features: int) -> StepRecord:
    """Run (or finish) the zero-shot baseline on ``disc``; returns the ``"select"`` record.

    Raises:
        ValueError: for ``n < 1``, ``min_features < 1`` or an empty validation split.
    """
    if n < 1 or min_features < 1 or num_examples < 1:
        raise ValueError(f"n, num_examples, min_features: must be >= 1, got {n}, {num_examples}, {min_features}")
    if disc.val.size == 0:
        raise ValueError(
            "dataset.val: the zero-shot baseline selects on a validation split, which is empty; "
            "split with genz_pyro.datasets.base.split_indices(n, val_fraction=0.2)"
        )
    args = {"kind": "zero-shot", "n": n, "num_examples": num_examples, "min_features": min_features}
    pos = disc._open_plan(args)
    plan = disc._pending_plan()
    assert plan is not None
    start_step = int(plan["start_step"])
    mine = [r for r in disc.history.records[start_step:] if r.plan_pos >= 0]
    if mine and mine[-1].action == "select":
        disc._close_plan()
        return mine[-1]
    if pos == 0:
        _propose(disc, n=n, num_examples=num_examples, pos=pos)
        pos += 1
    while len(disc.descriptions) > min_features:
        disc.remove_feature(_plan_pos=pos, _algorithm="zero-shot")
        pos += 1
    record = _select(disc, start_step, pos)
    disc._close_plan()
    return record
