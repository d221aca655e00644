"""``genz fit`` with several judges: ``--judge-model`` given more than once, ``--judge-variant``.

The first ``--judge-model`` (or ``--model`` when none is given) is the run's own judge; every
further ``--judge-model`` and the ``--judge-variant`` (the run's judge asked a paraphrased
question) answer every feature that enters the model, and the several-judges model
(docs/judges.md) learns how far to trust each. Every judge's backend gets the run's budget (one
cap for all) and the run's cache; each judge's usage is booked apart (``summary.json``,
``judges``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from genz_pyro.cli.calllog import CallLog
from genz_pyro.cli.common import build_model
from genz_pyro.fm.protocol import FoundationModel

__all__ = ["build_panel", "cache_panel", "panel_kwargs", "plan_panel", "print_judges"]


def build_panel(s: Mapping[str, Any], *, own: FoundationModel, budget: Any,
                call_log: str | None) -> list[tuple[str, FoundationModel]]:
    """The further judges of a run, ``[(name, model)]`` in the order of the flags (the variant
    last), not yet cached; ``own`` is the run's judge before caching (the variant asks it).
    Built before anything is created, so a bad spec leaves no run directory.

    Raises:
        CliError: a judge given twice, the run's own judge repeated, or a variant of the offline model.
    """
    from genz_pyro.discovery.judges import PromptVariant

    from genz_pyro.cli.common import CliError

    own_spec = s.get("judge_model") or s["model"]
    if s.get("judge_variant") and own_spec.strip() == "offline":
        raise CliError("--judge-variant: the offline model parses only its own grammar, not a paraphrase; the "
                       "variant needs a language model as the run's judge (--judge-model gguf:PATH or openai:MODEL)")
    out: list[tuple[str, FoundationModel]] = []
    for spec in s.get("judges") or []:
        if spec == own_spec:
            raise CliError(f"--judge-model: {spec} is the run's judge already; give each judge once "
                           "(a paraphrase of it: --judge-variant)")
        m = build_model(spec, budget=budget, soft=s.get("soft"), flag="--judge-model")
        out.append((spec, CallLog(m, call_log) if call_log else m))
    if s.get("judge_variant"):
        out.append((f"variant({s.get('judge_model') or s['model']})", PromptVariant(own)))
    names = [n for n, _ in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise CliError(f"--judge-model: {dup} is given twice; each judge once (a paraphrase: --judge-variant)")
    return out


def cache_panel(panel: list[tuple[str, FoundationModel]], cache_path: Path) -> list[tuple[str, FoundationModel]]:
    """The panel with each judge behind the run's cache (``cache_path``)."""
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.cached import CachedModel

    return [(n, CachedModel(m, JudgmentCache(cache_path))) for n, m in panel]


def panel_kwargs(panel: list[tuple[str, FoundationModel]] | None, s: Mapping[str, Any]) -> dict[str, Any]:
    """``Discovery`` keyword arguments of the panel (none without further judges)."""
    if not panel:
        return {}
    opts = {"shared": True} if s.get("shared_rates") else {}
    return {"judges": [m for _, m in panel], "judge_names": [n for n, _ in panel], "judges_options": opts}


def plan_panel(s: Mapping[str, Any], dataset: Any, *, own: FoundationModel, budget: Any) -> None:
    """``--dry-run``: what each further judge costs per feature that enters the model (it
    answers every item once per feature)."""
    from genz_pyro.fm.dryrun import estimate_job

    for name, m in build_panel(s, own=own, budget=budget, call_log=None):
        if not callable(getattr(m, "plan_judge", None)):
            print(f"judge {name}: runs locally; no provider calls, cost $0.00")
            continue
        one = estimate_job(m, ["Is a placeholder feature of typical length for this dataset?"], dataset.items,
                           cache=None)
        print(f"judge {name}: about {one.calls} calls, {one.input_tokens} input and {one.output_tokens} output "
              f"tokens, about ${one.cost_usd:.2f} per feature that enters the model")


def print_judges(summary: Mapping[str, Any]) -> None:
    """Each judge's mean error rate over the features and its calls, after a run with a panel."""
    j = summary.get("judges")
    if not j:
        return
    rows = j.get("rates") or []
    print("judges (mean error rate over the features; docs/judges.md):")
    for name in j["names"]:
        errs = [r["error"] for r in rows if r["judge"] == name]
        err = f"{sum(errs) / len(errs):.3f}" if errs else "-"
        calls = (j.get("usage") or {}).get(name, {}).get("calls")
        extra = "" if calls is None else f", {int(calls)} calls"
        print(f"  {name}  error {err}{extra}")
    m = j.get("metric") or {}
    parts = [f"{k} {v:.4f}" for k, v in m.items() if v is not None]
    if parts:
        print("  several-judges model: " + ", ".join(parts))
