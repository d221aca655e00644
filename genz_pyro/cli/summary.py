"""What ``genz fit`` writes and prints at the end of a run: the summary, the baselines and
the movies cold-start curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["run_summary", "baseline_scores", "cold_start", "print_summary", "fmt_score"]


def fmt_score(v: float) -> str:
    """A score with 4 decimals, more when needed so that an R^2 or cosine just below 1 never
    prints as ``1.0000`` (``0.99999873`` stays ``0.9999987``; exactly 1 prints ``1.0000``)."""
    import math

    if v != v or v >= 1 or v <= 0.9999:
        return f"{v:.4f}"
    digits = min(15, max(4, math.ceil(-math.log10(1 - v)) + 2))
    return f"{v:.{digits}f}"


def _last_check(disc: Any) -> dict[str, Any] | None:
    """The last treatment check of the run (``StepRecord.selection``), if any."""
    for r in reversed(disc.history.records):
        sel = r.selection or {}
        if sel.get("kind") == "treatment":
            return sel
        if sel.get("treatment"):
            return sel["treatment"]
    return None


def _errors(disc: Any) -> dict[str, dict[str, float]]:
    """Mean and max absolute error per split of a 1-d target (``{}`` when D > 1)."""
    import numpy as np

    y = disc._y.numpy()
    if y.shape[1] != 1:
        return {}
    out = {}
    for name, rows in (("train", disc.train), ("val", disc.val), ("test", disc.test)):
        if rows.size:
            err = np.abs(disc._predict_rows(rows, disc.result, disc.judgments)[:, 0] - y[rows, 0])
            out[name] = {"mean_abs": float(err.mean()), "max_abs": float(err.max())}
    return out


def run_summary(disc: Any, calls: Any = None) -> dict[str, Any]:
    """The ``summary.json`` of a finished discovery: features with eps and weights, scores,
    absolute errors (1-d target), the treatment chosen on validation with the alternatives'
    validation scores, steps, usage.

    ``calls``: the run's :class:`~genz_pyro.fm.journal.JournalTotals` (SDK models): the usage
    then counts every call the run's processes sent, also those in flight when one was
    killed (most likely billed; their tokens and cost estimated) and those of the zero-shot
    baseline; without it, the usage is the sum of the history's steps.
    """
    res = disc.result
    weights = getattr(res.link, "feature_weight", None) if res is not None else None
    feats = []
    for j, d in enumerate(disc.features):
        f: dict[str, Any] = {"description": d, "eps": None if res is None else float(res.eps[j])}
        if weights is not None:
            f["weight"] = [float(v) for v in weights.detach()[:, j]]
        feats.append(f)
    last = disc.history[-1] if len(disc.history) else None
    check = _last_check(disc)
    out = {
        "features": feats,
        "metric": disc.scorer.name,
        "greater_is_better": disc.scorer.greater_is_better,
        "scores": {k: (None if v != v else v) for k, v in disc.metrics().items()},
        "errors": _errors(disc),
        "treatment": dict(last.spec) if last is not None and last.spec else None,
        "treatment_check": check,
        "best": (last.selection if last is not None and (last.selection or {}).get("kind") == "best" else None),
        "steps": len(disc.history),
        "usage": {
            "calls": sum(r.usage.get("calls", 0) for r in disc.history),
            "cache_hits": sum(r.usage.get("cache_hits", 0) for r in disc.history),
            "cost_usd": sum(r.usage.get("cost_usd", 0.0) for r in disc.history),
        },
        **({"judges": _judges(disc)} if getattr(disc, "panel", None) is not None else {}),
    }
    if calls is not None:
        paid = calls.paid
        out["usage"].update(calls=paid.calls, input_tokens=paid.input_tokens, output_tokens=paid.output_tokens,
                            cost_usd=paid.cost_usd, in_flight_when_killed=calls.in_flight.calls)
    return out


def _judges(disc: Any) -> dict[str, Any]:
    from genz_pyro.discovery.judges import judges_summary

    return judges_summary(disc)



def baseline_scores(dataset: Any, s: Mapping[str, Any], zs_score: float | None) -> dict[str, float]:
    """Test scores of the baselines of a bundled dataset (and of the zero-shot run, if any)."""
    out: dict[str, float] = {}
    if zs_score is not None and zs_score == zs_score:
        out["zero-shot"] = float(zs_score)
    if dataset.name == "houses" and not s.get("items_file"):
        from genz_pyro.baselines import houses_baselines

        b = houses_baselines(dataset, include_sklearn=False)
        for k in ("train_median", "least_squares", "zip_ridge"):
            if k in b:
                out[k] = float(b[k].test)
    elif dataset.name == "movies" and not s.get("items_file"):
        from genz_pyro.baselines import movies_baselines

        b = movies_baselines(dataset)
        for k in ("train_mean", "genre_year_ridge", "records_ridge"):
            if k in b:
                out[k] = float(b[k].test)
    return out


def cold_start(dataset: Any) -> dict[str, list[float]]:
    """The movies cold-start curve (cosine against the number of ratings; paper Fig. 5)."""
    from genz_pyro.datasets.movies import cold_start_curve

    ex = dataset.extras
    ks = [1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200]
    curve = cold_start_curve(ex["ratings"], ex["movie_rows"], ks, num_movies=100, seed=0,
                             user_factors=ex["user_factors"], singular_values=ex["singular_values"],
                             scaling=ex.get("scaling", "us"), center=ex["embedding_mean"])
    return {k: [float(v) for v in a] for k, a in zip(("ks", "mean", "lo", "hi"), curve)}



def print_summary(summary: Mapping[str, Any], run_dir: Path) -> None:
    """The summary of a run on stdout."""
    feats = summary["features"]
    print(f"{len(feats)} feature(s):")
    for j, f in enumerate(feats, start=1):
        extra = []
        if f.get("weight") is not None:
            w = f["weight"]
            extra.append(f"weight {w[0]:+.6g}" if len(w) == 1 else f"|weight| {sum(v * v for v in w) ** 0.5:.4g} "
                         f"({len(w)} dims)")
        if f["eps"] is not None:
            extra.append(f"eps {f['eps']:.3g}")
        print(f"  {j:2d}. {f['description']}" + (f"  ({', '.join(extra)})" if extra else ""))
    sc = summary["scores"]
    parts = [f"{k} {fmt_score(v)}" for k, v in sc.items() if v is not None]
    print(f"{summary['metric']}: " + ", ".join(parts))
    for k, e in summary.get("errors", {}).items():
        print(f"  {k}: mean |error| {e['mean_abs']:.6g}, max |error| {e['max_abs']:.6g}")
    t = summary.get("treatment")
    if t:
        eps = "learned" if t["eps"] is None else f"held at {t['eps']:g}"
        print(f"flip probability {eps}, ridge {t['ridge']:g}", end="")
        check = summary.get("treatment_check")
        if check and check.get("scores"):
            from genz_pyro.discovery.selection import describe_scores

            ranked = describe_scores(check["scores"], bool(summary.get("greater_is_better", True)))
            print(f"; chosen on validation among {len(ranked)} treatments")
            crit = check.get("criterion") or summary["metric"]
            print(f"  validation {crit} of the final features, best first: "
                  + ", ".join(f"{k}: {fmt_score(v)}" for k, v in ranked[:6]) + (", ..." if len(ranked) > 6 else ""))
        else:
            print()
    best = summary.get("best")
    if best:
        where = "the start" if best["best_step"] < 0 else f"step {best['best_step']}"
        print(f"ended on the best validation state: {where} of {summary['steps']} steps")
    for k, v in summary.get("baselines", {}).items():
        if v is not None:
            print(f"  baseline {k}: test {v:.4f}")
    if summary.get("refit_train_val", {}).get("test") is not None:
        print(f"  refitted on train + validation: test {summary['refit_train_val']['test']:.4f}")
    if summary.get("ratings_equivalent") is not None:
        print(f"ratings-equivalent of the test cosine: {summary['ratings_equivalent']:.1f} ratings")
    u = summary["usage"]
    lost = int(u.get("in_flight_when_killed") or 0)
    lost_text = f", {lost} in flight when a process was killed: most likely paid, answers lost" if lost else ""
    print(f"foundation-model calls: {int(u['calls'])} (cache hits {int(u['cache_hits'])}, ${u['cost_usd']:.2f}"
          f"{lost_text})")
    print(f"run directory: {run_dir}  (figures: genz report {run_dir})")
