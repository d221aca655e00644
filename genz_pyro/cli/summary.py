"""What ``genz fit`` writes and prints at the end of a run: the summary, the baselines and
the movies cold-start curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["run_summary", "baseline_scores", "cold_start", "print_summary"]


def run_summary(disc: Any) -> dict[str, Any]:
    """The ``summary.json`` of a finished discovery: features with eps, scores, steps, usage."""
    res = disc.result
    return {
        "features": [{"description": d, "eps": None if res is None else float(res.eps[j])}
                     for j, d in enumerate(disc.features)],
        "metric": disc.scorer.name,
        "scores": {k: (None if v != v else v) for k, v in disc.metrics().items()},
        "steps": len(disc.history),
        "usage": {
            "calls": sum(r.usage.get("calls", 0) for r in disc.history),
            "cache_hits": sum(r.usage.get("cache_hits", 0) for r in disc.history),
            "cost_usd": sum(r.usage.get("cost_usd", 0.0) for r in disc.history),
        },
        **({"judges": _judges(disc)} if getattr(disc, "panel", None) is not None else {}),
    }


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
        eps = "" if f["eps"] is None else f"  (eps {f['eps']:.3f})"
        print(f"  {j:2d}. {f['description']}{eps}")
    sc = summary["scores"]
    parts = [f"{k} {v:.4f}" for k, v in sc.items() if v is not None]
    print(f"{summary['metric']}: " + ", ".join(parts))
    for k, v in summary.get("baselines", {}).items():
        if v is not None:
            print(f"  baseline {k}: test {v:.4f}")
    if summary.get("refit_train_val", {}).get("test") is not None:
        print(f"  refitted on train + validation: test {summary['refit_train_val']['test']:.4f}")
    if summary.get("ratings_equivalent") is not None:
        print(f"ratings-equivalent of the test cosine: {summary['ratings_equivalent']:.1f} ratings")
    u = summary["usage"]
    print(f"foundation-model calls: {int(u['calls'])} (cache hits {int(u['cache_hits'])}, ${u['cost_usd']:.2f})")
    print(f"run directory: {run_dir}  (figures: genz report {run_dir})")
