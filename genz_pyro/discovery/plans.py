"""What lets a discovery run survive a kill: the pending plan and the resume.

A *plan* is the list of step kinds of one :meth:`Discovery.run` call (``"alg1"``,
``"alg2"``, ``"alg3"``) or a zero-shot run. It is saved to ``run_dir/plan.json``
(arguments, first step, done flag) before its first step, and every step it makes
records its position (``StepRecord.plan_pos``), so a resumed run knows which steps are
finished. :func:`resume` rebuilds a :class:`Discovery` from ``config.json``, restores
the state of the last recorded step from ``params.pt`` and finishes the pending plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

from genz_pyro.datasets.base import Dataset
from genz_pyro.discovery import persist
from genz_pyro.discovery.exemplars import ExemplarConfig
from genz_pyro.discovery.history import RunHistory
from genz_pyro.discovery.selection import Selection
from genz_pyro.discovery.state import DiscoveryState
from genz_pyro.fm.protocol import FoundationModel


__all__ = ["make_plan", "open_plan", "extension_start", "pending_plan", "close_plan", "resume"]


def make_plan(algorithm: int, cycles: int, n_add: int = 5, n_remove: int = 2, add_algorithm: int = 2) -> list[str]:
    """Step kinds: Algorithm 1, 2 or 3 ``cycles`` times, or Algorithm 4: ``cycles`` x
    (``n_add`` adds with Algorithm ``add_algorithm`` + ``n_remove`` removals).

    Raises:
        ValueError: naming the argument out of range.
    """
    if algorithm not in (1, 2, 3, 4):
        raise ValueError(f"algorithm: must be 1, 2, 3 or 4, got {algorithm!r}")
    if cycles < 0 or n_add < 0 or n_remove < 0:
        raise ValueError(f"cycles, n_add, n_remove: must be >= 0, got {cycles}, {n_add}, {n_remove}")
    if add_algorithm not in (1, 2):
        raise ValueError(f"add_algorithm: must be 1 or 2, got {add_algorithm!r}")
    if algorithm in (1, 2, 3):
        return [f"alg{algorithm}"] * cycles
    return ([f"alg{add_algorithm}"] * n_add + ["alg3"] * n_remove) * cycles


def pending_plan(disc: DiscoveryState) -> dict[str, Any] | None:
    """The unfinished plan (in memory, else ``run_dir/plan.json``) or ``None``."""
    plan = disc._plan
    if plan is None and disc.run_dir is not None and (disc.run_dir / "plan.json").exists():
        plan = persist.read_json(disc.run_dir / "plan.json")
    return plan if plan is not None and not plan.get("done") else None


def _recorded(disc: DiscoveryState, plan: dict[str, Any]) -> int:
    """Plan positions recorded so far: one past the last recorded step's position. The
    treatment check that ends a plan with a selection (``algorithm="treatment"``) marks the
    end, not a step: a plan extended after it continues at its last step."""
    recs = [r for r in disc.history.records[plan["start_step"] :] if r.plan_pos >= 0 and not is_plan_end(r)]
    return recs[-1].plan_pos + 1 if recs else 0


def is_plan_end(record: Any) -> bool:
    """Whether ``record`` is the treatment check that ends a fixed plan (not one of its steps)."""
    return record.action == "select" and record.algorithm == "treatment"


def plan_end_recorded(disc: DiscoveryState, num_steps: int) -> bool:
    """Whether the pending plan's end (a treatment check at position ``num_steps``) is recorded."""
    plan = pending_plan(disc)
    start = 0 if plan is None else plan["start_step"]
    return any(is_plan_end(r) and r.plan_pos == num_steps for r in disc.history.records[start:])


def _last_plan(disc: DiscoveryState) -> dict[str, Any] | None:
    if disc._plan is not None:
        return disc._plan
    if disc.run_dir is not None and (disc.run_dir / "plan.json").exists():
        return persist.read_json(disc.run_dir / "plan.json")
    return None


def extension_start(disc: DiscoveryState, args: dict[str, Any]) -> int | None:
    """Where extending the last plan to ``args`` starts (its recorded positions), or ``None``
    when the last plan is not a ``run`` plan differing from ``args`` in ``cycles`` only.

    Raises:
        ValueError: ``args`` holds fewer cycles than the plan has already recorded.
    """
    last = _last_plan(disc)
    if last is None or last["args"].get("kind") != "run" or args.get("kind") != "run":
        return None
    if {k: v for k, v in last["args"].items() if k != "cycles"} != {k: v for k, v in args.items() if k != "cycles"}:
        return None
    done = _recorded(disc, last)
    steps = make_plan(args["algorithm"], args["cycles"], args["n_add"], args["n_remove"], args["add_algorithm"])
    if done > len(steps):
        per_cycle = max(1, len(steps) // max(1, args["cycles"]))
        raise ValueError(f"cycles: the run has already made {done} steps of its plan, more than {args['cycles']} "
                         f"cycle(s) hold ({len(steps)}); give at least {-(-done // per_cycle)} cycles")
    return done


def open_plan(disc: DiscoveryState, args: dict[str, Any], *, extend: bool = False) -> int:
    """Start a plan with arguments ``args``; returns the plan position to start from:
    past the last recorded position when the same plan is pending (a resumed run), else
    0 (a new plan, saved before its first step).

    With ``extend``, the last plan (pending or done) whose arguments differ from ``args``
    in ``cycles`` only is continued instead: its steps stay, the plan takes the new
    number of cycles, and the steps after its last recorded one follow (so a run of
    ``C`` cycles extended to ``N`` records the same steps as a run of ``N`` cycles).

    Raises:
        ValueError: ``extend`` with fewer cycles than the plan has already recorded.
    """
    pending = pending_plan(disc)
    if pending is not None and pending["args"] == args:
        return _recorded(disc, pending)
    done = extension_start(disc, args) if extend else None
    if done is not None:
        last = _last_plan(disc)
        assert last is not None
        body = {"args": args, "start_step": last["start_step"], "done": False}
        if disc.run_dir is not None:
            persist.atomic_write(disc.run_dir / "plan.json", json.dumps(body, sort_keys=True))
        disc._plan = body
        return done
    body = {"args": args, "start_step": len(disc.history), "done": False}
    if disc.run_dir is not None:
        persist.atomic_write(disc.run_dir / "plan.json", json.dumps(body, sort_keys=True))
    disc._plan = body
    return 0


def close_plan(disc: DiscoveryState) -> None:
    """Mark the pending plan done (on disk too)."""
    plan = pending_plan(disc)
    if plan is None:
        return
    plan = dict(plan, done=True)
    disc._plan = plan
    if disc.run_dir is not None:
        persist.atomic_write(disc.run_dir / "plan.json", json.dumps(plan, sort_keys=True))


def resume(
    cls: Callable[..., DiscoveryState],
    run_dir: str | Path,
    dataset: Dataset,
    model: FoundationModel,
    *,
    continue_run: bool = True,
    cache: bool = True,
    judges: Sequence[FoundationModel] = (),
    judge_model: FoundationModel | None = None,
    soft: bool | None = None,
) -> DiscoveryState:
    """See :meth:`Discovery.resume`."""
    rd = Path(run_dir)
    if not (rd / "config.json").exists():
        raise ValueError(f"run_dir: {rd} holds no discovery run (no config.json); start one with Discovery(...)")
    cfg = persist.read_json(rd / "config.json")
    metric = cfg["metric"]
    if metric == "custom":
        raise ValueError("run_dir: the run used a custom metric callable; resume it with the same Discovery settings")
    obj = cls(
        dataset,
        model,
        link=cfg["link"],
        engine=cfg["engine"],
        metric=metric,
        seed=cfg["seed"],
        exemplars=ExemplarConfig(**cfg["exemplars"]),
        run_dir=None,
        fit_options=cfg["fit_options"],
        min_activity=cfg["min_activity"],
        max_activity=cfg["max_activity"],
        eps_fixed=cfg.get("eps_fixed"),  # absent from runs started before the option existed
        **_panel_args(cfg, judges, rd),
        selection=Selection.from_json(cfg["selection"]) if cfg.get("selection") else None,
    )
    if persist.dataset_fingerprint(obj.items, obj._y.numpy()) != cfg["fingerprint"]:
        raise ValueError(
            f"dataset: differs from the one the run in {rd} was started with (items or targets changed); "
            "resume with the same dataset or start a new run_dir"
        )
    obj._hold_lock(rd)  # before the history is read: its repair truncates a torn last line
    obj.run_dir = rd
    obj.history = RunHistory(rd / "history.jsonl")
    if cfg.get("judge_model") and judge_model is None:
        raise ValueError(
            f"judge_model: the run in {rd} judged with {cfg['judge_model']!r}; resume it with the same "
            "judge_model= (its answers are in the run's cache)"
        )
    obj._use_models(model, judge_model, soft if soft is not None else cfg.get("soft"), cache)
    if obj.panel is not None and cache:
        obj.panel.models = [obj._wrap_cached(m) for m in obj.panel.models]
    n_done = len(obj.history)
    if n_done:
        states = persist.load_checkpoint(rd / "params.pt")
        if n_done - 1 not in states:
            raise ValueError(
                f"run_dir: params.pt holds steps {sorted(states)} but the history ends at step {n_done - 1}; "
                "the run directory was modified: start a new run_dir"
            )
        obj._restore(states[n_done - 1])
        if obj.descriptions != obj.history[n_done - 1].features:
            raise ValueError(
                f"run_dir: params.pt and history.jsonl disagree on the features after step {n_done - 1}; "
                "the run directory was modified: start a new run_dir"
            )
        obj._write_outputs()  # a kill after the record but before these files left them stale
    if continue_run:
        obj.continue_pending()
    return obj


def _panel_args(cfg: dict[str, Any], judges: Sequence[FoundationModel], rd: Path) -> dict[str, Any]:
    """The judges of a resumed run: the same number as it was started with, under its names."""
    names = cfg.get("judges") or []
    if len(judges) != len(names):
        raise ValueError(
            f"judges: the run in {rd} was started with {len(names)} further judge(s) {names}, got {len(judges)}; "
            "resume with the same judges (in the same order)"
        )
    if not names:
        return {}
    return {"judges": list(judges), "judge_names": names, "judges_options": cfg.get("judges_options") or {}}
