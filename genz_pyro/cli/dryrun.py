"""``genz fit --dry-run``: the planned calls, tokens and dollars; nothing is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from genz_pyro.fm.protocol import FoundationModel

__all__ = ["dry_run"]


def dry_run(model: FoundationModel, dataset: Any, s: Mapping[str, Any], run_dir: Path | None) -> int:
    """Print the plan of a ``genz fit`` run and its estimated provider cost; returns 0."""
    from genz_pyro.discovery import Discovery

    if s["algorithm"] == "zero-shot":
        adds, proposals = 0, int(s["zero_shot_n"])
    elif s["algorithm"] == "auto":  # the loop stops on validation: the cap is the most it can cost
        adds, proposals = int(s["cycles"]), 0
        print(f"--algorithm auto: at most {adds} additions (it stops after {s['patience']} without a validation "
              "gain); the figures below are that cap's")
    else:
        steps = Discovery.plan(int(s["algorithm"]), int(s["cycles"]), int(s["n_add"]), int(s["n_remove"]))
        adds, proposals = sum(1 for k in steps if k != "alg3"), 0
    if s.get("zero_shot_baseline"):
        proposals += int(s["zero_shot_baseline"])
    n = len(dataset.items)
    print(f"plan: {adds} mined feature(s) + {proposals} zero-shot proposal(s), each judged on {n} items")
    if not callable(getattr(model, "plan_judge", None)):
        miner = getattr(model, "miner", model)
        if callable(getattr(miner, "plan_judge", None)):  # a provider mines, a local model judges
            print(f"judge {model.judge_model.name}: runs locally; no provider calls for judging, cost $0.00")
            extra = " and one for the zero-shot proposals" if proposals else ""
            print(f"miner {miner.name}: about {adds + (1 if proposals else 0)} calls (one a mined feature{extra})")
        else:
            print(f"model {model.name}: runs locally; no provider calls, cost $0.00")
        return 0
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.dryrun import estimate_job

    cache = JudgmentCache(run_dir / "cache.sqlite") if run_dir is not None and (run_dir / "cache.sqlite").exists() \
        else None
    one = estimate_job(model, ["Is a placeholder feature of typical length for this dataset?"], dataset.items,
                       cache=None)
    jobs = adds + proposals
    calls = one.calls * jobs + adds + (1 if proposals else 0)
    cost = one.cost_usd * jobs
    print(f"model {model.name}: about {calls} calls, {one.input_tokens * jobs} input and "
          f"{one.output_tokens * jobs} output tokens, about ${cost:.2f} (judging; mining adds one call a feature)")
    if cache is not None:
        print(f"cache {cache.path}: {len(cache)} answers already paid for are reused on --resume")
    return 0
