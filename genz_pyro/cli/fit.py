"""``genz fit``: run discovery into a run directory (or continue one with ``--resume``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from genz_pyro.cli.calllog import CallLog
from genz_pyro.cli.common import CliError, attach_progress, build_model, make_budget, write_json
from genz_pyro.cli.data import load_dataset
from genz_pyro.cli.dryrun import dry_run
from genz_pyro.cli.judges import build_panel, cache_panel, panel_kwargs, plan_panel, print_judges
from genz_pyro.cli.resume import read_saved_settings, resume_settings
from genz_pyro.cli.settings import fit_settings
from genz_pyro.cli.summary import baseline_scores, cold_start, print_summary, run_summary
from genz_pyro.fm.protocol import FoundationModel

__all__ = ["cmd_fit"]


def _plan_done(run_dir: Path) -> bool:
    p = run_dir / "plan.json"
    return p.exists() and bool(json.loads(p.read_text(encoding="utf-8")).get("done"))


def _discovery_kwargs(s: Mapping[str, Any], dataset: Any) -> dict[str, Any]:
    """The :class:`~genz_pyro.discovery.Discovery` keyword arguments of a settings dict.

    Raises:
        CliError: an automatic choice (``--algorithm auto``, ``--eps``/``--ridge auto``) for a
            dataset without a validation split.
    """
    from genz_pyro.discovery.selection import treatment_settings

    fit_options: dict[str, Any] = {}
    if s.get("max_sweeps"):
        fit_options["max_sweeps"] = int(s["max_sweeps"])
    if s.get("eps_prior") is not None:  # else fit's default (0.3 for soft judgments, 0 for yes/no)
        fit_options["eps_prior"] = float(s["eps_prior"])
    # --eps / --ridge: "auto" chooses on validation, a value (or "learned") is held
    t = treatment_settings(s.get("eps", "auto"), s.get("ridge", "auto"))
    if t["ridge"]:
        fit_options["ridge"] = t["ridge"]
    extra: dict[str, Any] = {}
    if s.get("min_activity") is not None:
        extra["min_activity"] = float(s["min_activity"])
    if (s["algorithm"] == "auto" or t["selection"] is not None) and dataset.val.size == 0:
        raise CliError(f"--algorithm/--eps/--ridge: the automatic choices are made on the validation split, and "
                       f"{dataset.name!r} has none; give --val-fraction 0.2 (and --test-fraction), or a fixed plan and "
                       "treatment (--algorithm 1 --cycles 9 --eps 1e-6 --ridge 0)")
    return dict(link=s["link"], engine=s.get("engine"), metric=s["metric"], seed=int(s["seed"]),
                fit_options=fit_options, eps_fixed=t["eps_fixed"], selection=t["selection"], **extra)


def _check_discovery(dataset: Any, model: FoundationModel, s: Mapping[str, Any],
                     judge: FoundationModel | None = None) -> None:
    """Build the run's Discovery without a run directory and fit it once without features
    (milliseconds): an engine, link, metric or option that cannot work is refused, naming its
    flag, before anything is created."""
    from genz_pyro.discovery import Discovery

    try:
        disc = Discovery(dataset, model, run_dir=None, cache=False, judge_model=judge, soft=s.get("soft"),
                         **_discovery_kwargs(s, dataset))
        disc.spec(disc.train_data(), eps=None, decoupled=None, q_init=None, seed=0)
    except ValueError as exc:
        msg = str(exc)
        for arg in ("engine", "metric", "link", "max_sweeps", "min_activity"):
            if msg.startswith(arg + ":"):
                msg = "--" + arg.replace("_", "-") + msg[len(arg):]
        raise CliError(msg) from None


def _open_discovery(
    run_dir: Path, dataset: Any, model: FoundationModel, s: Mapping[str, Any], judge: FoundationModel | None = None,
    panel: list[tuple[str, FoundationModel]] | None = None,
) -> Any:
    from genz_pyro.discovery import Discovery

    judging: dict[str, Any] = {"judge_model": judge, "soft": s.get("soft")}
    further = panel_kwargs(panel, s)
    if (run_dir / "config.json").exists():
        try:
            return Discovery.resume(run_dir, dataset, model, continue_run=False, judges=further.get("judges", ()),
                                    **judging)
        except ValueError as exc:
            raise CliError(f"--resume: {exc}") from None
    return Discovery(dataset, model, run_dir=run_dir, **_discovery_kwargs(s, dataset), **judging, **further)


def _run_plan(disc: Any, run_dir: Path, s: Mapping[str, Any], *, zero_shot: bool, progress: bool, label: str,
              extend: bool = False) -> None:
    if _plan_done(run_dir) and not extend:
        return
    if zero_shot:
        bar = attach_progress(disc, None, label, progress)
        disc.zero_shot(int(s["zero_shot_n"]))
    elif s["algorithm"] == "auto":
        bar = attach_progress(disc, None, label, progress)
        disc.run_auto(int(s["cycles"]), patience=int(s["patience"]), prune_patience=int(s["prune_patience"]))
    else:
        steps = disc.plan(int(s["algorithm"]), int(s["cycles"]), int(s["n_add"]), int(s["n_remove"]))
        bar = attach_progress(disc, len(steps), label, progress)
        p = run_dir / "plan.json"
        if p.exists():  # resuming: count the finished steps of the pending plan
            start = int(json.loads(p.read_text(encoding="utf-8"))["start_step"])
            bar.update(sum(1 for r in disc.history.records[start:] if r.plan_pos >= 0))
        disc.run(int(s["algorithm"]), int(s["cycles"]), n_add=int(s["n_add"]), n_remove=int(s["n_remove"]),
                 extend=extend)
    bar.close()


def _lock(run_dir: Path) -> Any:
    """The run directory's exclusive lock (:mod:`genz_pyro.discovery.lock`), flag-named errors."""
    from genz_pyro.discovery.lock import RunDirBusyError, RunDirNotWritableError, RunLock

    try:
        return RunLock(run_dir).acquire()
    except (RunDirBusyError, RunDirNotWritableError) as exc:
        raise CliError("--run-dir" + str(exc)[len("run_dir"):]) from None


def cmd_fit(args: argparse.Namespace) -> int:
    """``genz fit``: run discovery into a run directory (or continue one with --resume).

    Every setting, the data and the model (and its key) are checked before anything is
    created; the run directory's lock is held while the command writes it.
    """
    changed: set[str] = set()
    if args.resume:
        if not args.run_dir:
            raise CliError("--resume: give the --run-dir of the run to continue")
        run_dir = Path(args.run_dir)
        s, changed = resume_settings(args, read_saved_settings(run_dir))
    else:
        s = fit_settings(args)
        run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / f"{s['dataset'] or 'table'}-seed{s['seed']}"
        _refuse_used(run_dir)
    dataset = load_dataset(s)
    budget = make_budget(args.budget_calls, args.budget_usd)
    judge_spec = s.get("judge_model")
    model = build_model(s["model"], base_url=s.get("base_url"), budget=budget,
                        soft=None if judge_spec else s.get("soft"))
    judge = None if not judge_spec else build_model(judge_spec, budget=budget, soft=s.get("soft"),
                                                    flag="--judge-model")
    if budget is not None and s["model"] == "offline" and not judge_spec:
        print("note: --budget-calls/--budget-usd apply to provider models; the offline model costs nothing",
              file=sys.stderr)
    if args.dry_run:
        from genz_pyro.fm.mixed import MixedModel

        planned = model if judge is None else MixedModel(model, judge)
        status = dry_run(planned, dataset, s, run_dir if args.resume else None)
        plan_panel(s, dataset, own=model if judge is None else judge, budget=budget)
        return status
    inner: FoundationModel = CallLog(model, args.call_log) if args.call_log else model
    judge_inner = None if judge is None else CallLog(judge, args.call_log) if args.call_log else judge
    panel = build_panel(s, own=inner if judge_inner is None else judge_inner, budget=budget, call_log=args.call_log)
    for m in (model, judge, *(m for _, m in panel)):
        check = getattr(m, "check_credentials", None)
        if callable(check):
            check()  # no key: AuthenticationError (exit 3) before anything is created
    if not args.resume:
        _check_discovery(dataset, model, s, judge)
    lock = _lock(run_dir)
    try:
        if not args.resume:
            _refuse_used(run_dir)  # again, under the lock: another process may have started meanwhile
        if not args.resume:
            write_json(run_dir / "cli.json", s)
        return _fit(args, run_dir, dataset, inner, judge_inner, panel, s, changed=changed)
    finally:
        lock.release()


def _refuse_used(run_dir: Path) -> None:
    if (run_dir / "cli.json").exists() or (run_dir / "history.jsonl").exists():
        _lock(run_dir).release()  # a run another process is writing: name that process instead
        raise CliError(f"--run-dir: {run_dir} already holds a run; continue it with --resume or pick a new "
                       "--run-dir")


def _fit(args: argparse.Namespace, run_dir: Path, dataset: Any, inner: FoundationModel,
         judge_inner: FoundationModel | None, panel: list[tuple[str, FoundationModel]], s: Mapping[str, Any], *,
         changed: set[str]) -> int:
    """The run itself, under the run directory's lock; ``inner``/``judge_inner``/``panel`` are the
    models (behind the call log, if any) that the run's cache goes in front of."""
    from genz_pyro.discovery.plans import extension_start
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.cached import CachedModel

    cache = JudgmentCache(run_dir / "cache.sqlite")
    journal = None
    for m in (inner, judge_inner, *(m for _, m in panel)):
        base = m.inner if isinstance(m, CallLog) else m
        if base is not None and hasattr(base, "journal"):  # an SDK backend: every call is journalled before it is sent
            from genz_pyro.fm.journal import CallJournal

            journal = base.journal = journal or CallJournal(cache)
    cached = CachedModel(inner, cache)
    cached_judge = None if judge_inner is None else CachedModel(judge_inner, cache)
    panel = cache_panel(panel, run_dir / "cache.sqlite")
    progress = not args.no_progress

    t0 = time.perf_counter()
    zero_shot = s["algorithm"] == "zero-shot"
    disc = _open_discovery(run_dir, dataset, cached, s, cached_judge, panel)
    extend = "cycles" in changed
    if extend:
        try:  # refuse fewer cycles than the run has made before cli.json takes the new value
            extension_start(disc, {"kind": "run", "algorithm": int(s["algorithm"]), "cycles": int(s["cycles"]),
                                   "n_add": int(s["n_add"]), "n_remove": int(s["n_remove"]), "add_algorithm": 2})
        except ValueError as exc:
            raise CliError("--cycles" + str(exc)[len("cycles"):]) from None
    if changed:
        write_json(run_dir / "cli.json", s)
    _run_plan(disc, run_dir, s, zero_shot=zero_shot, progress=progress,
              label="zero-shot" if zero_shot else f"algorithm {s['algorithm']}", extend=extend)
    zs_score = None
    if zero_shot:
        zs_score = disc.history[-1].metric.get("test")
    elif s.get("zero_shot_baseline"):
        zdir = run_dir / "zero-shot"
        # the baseline fits with the treatment the main run chose (its own validation choice)
        t = disc.history[-1].spec if len(disc.history) else {}
        zs_s = {**s, "eps": "learned" if t.get("eps", 0) is None else t.get("eps", s["eps"]),
                "ridge": t.get("ridge", s["ridge"])}
        zs = _open_discovery(zdir, dataset, cached, zs_s, cached_judge)
        _run_plan(zs, zdir, {**s, "zero_shot_n": s["zero_shot_baseline"]}, zero_shot=True, progress=progress,
                  label="zero-shot baseline")
        zs_score = zs.history[-1].metric.get("test")
    baselines = baseline_scores(dataset, s, zs_score)
    write_json(run_dir / "baselines.json", {"metric": s["metric"],
                                             "test": {k: (None if v != v else v) for k, v in baselines.items()}},
                sort_keys=False)  # zero-shot first: the figures' colour order
    summary = run_summary(disc, None if journal is None else journal.totals())
    if s.get("refit_train_val") and not zero_shot:
        from genz_pyro.discovery.refit import refit_train_val

        tv = refit_train_val(disc, seed=int(s["seed"]))
        summary["refit_train_val"] = {"test": None if tv["test"] != tv["test"] else tv["test"]}
    summary["wall_time_s"] = time.perf_counter() - t0
    summary["baselines"] = {k: (None if v != v else v) for k, v in baselines.items()}
    if dataset.name == "movies" and s.get("cold_start", True) and not s.get("items_file"):
        from genz_pyro.datasets.movies import ratings_equivalent

        curve = cold_start(dataset)
        write_json(run_dir / "cold_start.json", curve)
        cos = summary["scores"]["test"]
        if cos is not None:
            eq = ratings_equivalent(cos, tuple(np.asarray(curve[k]) for k in ("ks", "mean", "lo", "hi")))
            summary["ratings_equivalent"] = eq if np.isfinite(eq) else None
        tv_cos = summary.get("refit_train_val", {}).get("test")
        if tv_cos is not None:
            eq = ratings_equivalent(tv_cos, tuple(np.asarray(curve[k]) for k in ("ks", "mean", "lo", "hi")))
            summary["refit_train_val"]["ratings_equivalent"] = eq if np.isfinite(eq) else None
    write_json(run_dir / "summary.json", summary)
    print_summary(summary, run_dir)
    print_judges(summary)
    damaged = cache.damage_report()
    if damaged:
        print(f"warning: {damaged}", file=sys.stderr)
    return 0
