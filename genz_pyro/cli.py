"""The ``genz`` command.

Subcommands::

    genz demo                      the binary experiment, offline, in seconds
    genz fit --dataset houses      discovery on a bundled dataset (houses, movies, binary, planted)
    genz fit --items-file F.csv --item-column text --target-column y
                                   discovery on your own CSV/JSONL
    genz fit --run-dir R --resume  continue a killed run (no finished step or paid call repeated)
    genz report RUN_DIR            write the figures of a run
    genz describe-images --images DIR --model anthropic:MODEL --out descriptions.jsonl
                                   describe listing photos with a vision model (cached, resumable)

A run directory holds ``cli.json`` (the command's settings, never an API key),
the discovery files (``config.json``, ``history.jsonl``, ``params.pt``,
``features.json``, ``predictions.csv``, ``cache.sqlite``; see
:mod:`genz_pyro.discovery.persist`), ``baselines.json``, ``cold_start.json``
(movies) and ``summary.json``. API keys come from the environment
(``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``) and are never written anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature

__all__ = ["main", "build_parser", "load_dataset", "select_item_fields", "CallLog", "describe_images", "DEFAULT_METRICS",
           "VALIDATED_SETTINGS", "parse_args", "set_threads"]

#: metric of each bundled dataset (others: r2)
#: ``genz fit --dataset D --validated``: the settings chosen on the validation split for the
#: bundled datasets (README, "Results with the offline model"); flags given explicitly win.
VALIDATED_SETTINGS: dict[str, dict[str, Any]] = {
    "houses": {"algorithm": "1", "cycles": 25, "item_fields": "zipcode", "eps": 0.01, "ridge": 1.0,
               "min_activity": 0.01, "refit_train_val": True},
    "movies": {"algorithm": "1", "cycles": 80, "eps": 0.001, "ridge": 10.0, "refit_train_val": True},
}

DEFAULT_METRICS = {
    "houses": "median_absolute_error",
    "movies": "mean_cosine_similarity",
    "binary": "r2",
    "planted": "r2",
}
IMAGE_PROMPT = "Describe the listing image in detail."
_IMAGE_OP = "describe_image"  # the cache key namespace of image descriptions
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


class CliError(Exception):
    """A user error: printed as ``genz: error: ...`` with exit status 2."""


# --------------------------------------------------------------------------- the call log
class CallLog(FoundationModel):
    """Delegates to ``inner`` and appends one JSON line per call to ``path``
    (operation, description or exemplar ids; written after the call returns).

    Placed under the cache, it records exactly the calls that reached the model:
    ``genz fit --call-log FILE`` proves that a resumed run repeats none. The ``on_call`` hook
    of the SDK backends passes through (:attr:`reports_calls` is the inner model's), so the
    cache above still stores each call's raw answer and exact usage.
    """

    def __init__(self, inner: FoundationModel, path: str | Path) -> None:
        super().__init__()
        self.inner = inner
        self.path = Path(path)
        self.usage = inner.usage

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def __getattr__(self, attr: str) -> Any:  # batch_size, max_concurrency, plan_judge, ...
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def cache_identity(self) -> dict:
        from genz_pyro.fm.cached import model_identity

        return model_identity(self.inner)

    @property
    def reports_calls(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.inner, "reports_calls", False))

    def _log(self, op: str, **fields: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"op": op, **fields}, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def ajudge(self, description: str, items: Mapping[str, Item], **hook: Any) -> dict[str, Judgment]:
        out = await self.inner.ajudge(description, items, **hook)
        self._log("judge", description=description, items=sorted(items))
        return out

    async def amine(self, positives: Mapping[str, Item], negatives: Mapping[str, Item], *,
                    avoid: tuple[str, ...] = (), **hook: Any) -> MinedFeature:
        out = await self.inner.amine(positives, negatives, avoid=avoid, **hook)
        self._log("mine", positives=sorted(positives), negatives=sorted(negatives), avoid=list(avoid))
        return out

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int, **hook: Any) -> list[str]:
        out = await self.inner.apropose(task, examples, n, **hook)
        self._log("propose", task=task, examples=sorted(examples), n=n)
        return out


# --------------------------------------------------------------------------- datasets
def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("GENZ_DATA"):
        return Path(os.environ["GENZ_DATA"])
    return Path.cwd() / ".." / "shared" / "data"


def load_dataset(settings: Mapping[str, Any]) -> Any:
    """The Dataset named by a ``genz fit`` settings dict (see :func:`_settings`), its
    records cut to ``settings["item_fields"]`` when given (see :func:`select_item_fields`).

    Raises:
        CliError: a missing data folder or file (naming the flag that fixes it).
    """
    dataset = _load_dataset(settings)
    if settings.get("item_fields"):
        dataset = select_item_fields(dataset, settings["item_fields"])
    return dataset


def select_item_fields(dataset: Any, fields: str | Sequence[str]) -> Any:
    """The dataset with each record cut to ``fields`` (what the foundation model sees).

    Leaving out the fields that the covariates already carry points feature discovery at
    what they miss (houses: the zip code, with area, bedrooms and bathrooms as covariates).
    Targets, covariates and the split are unchanged.

    Raises:
        CliError: the items are not records, or a field is absent from a record.
    """
    import dataclasses

    names = [f.strip() for f in fields.split(",")] if isinstance(fields, str) else [str(f) for f in fields]
    names = [f for f in names if f]
    if not names:
        raise CliError("--item-fields: give at least one field name (comma-separated)")
    cut = {}
    for item_id, item in dataset.items.items():
        if not isinstance(item, Mapping):
            raise CliError(f"--item-fields: item {item_id!r} is not a record (a dict of fields); drop --item-fields")
        missing = [f for f in names if f not in item]
        if missing:
            raise CliError(f"--item-fields: item {item_id!r} has no field {missing[0]!r} (its fields: "
                           f"{', '.join(map(str, item))}); pick fields every record has")
        cut[item_id] = {f: item[f] for f in names}
    return dataclasses.replace(dataset, items=cut)


def _load_dataset(settings: Mapping[str, Any]) -> Any:
    seed = int(settings["seed"])
    name = settings.get("dataset")
    if settings.get("items_file"):
        from genz_pyro.tabular import load_table

        try:
            return load_table(
                settings["items_file"], item_columns=settings["item_column"],
                target_columns=settings["target_column"], covariate_columns=settings.get("covariate_column"),
                id_column=settings.get("id_column"), seed=seed,
            )
        except ValueError as exc:
            raise CliError(_flagify(str(exc))) from None
    if name == "binary":
        from genz_pyro.datasets.binary import load_binary

        return load_binary(int(settings.get("bits") or 9), seed=seed)
    if name == "planted":
        from genz_pyro.datasets.planted import make_planted

        return make_planted(int(settings.get("n_items") or 400), num_features=int(settings.get("planted_features")
                                                                              or 4), seed=seed)
    data = _data_dir(settings.get("data_dir"))
    if name == "houses":
        from genz_pyro.datasets.houses import load_houses

        folder = data / "houses-ahmed-moustafa-2016"
        if not folder.exists():
            raise CliError(f"--data-dir: {folder} not found; pass --data-dir (or set GENZ_DATA) to the folder "
                           "holding houses-ahmed-moustafa-2016/")
        return load_houses(folder, seed=seed, descriptions=settings.get("descriptions"))
    if name == "movies":
        from genz_pyro.datasets.movies import load_movies

        folder = data / "movielens-latest-small"
        if not folder.exists():
            raise CliError(f"--data-dir: {folder} not found; pass --data-dir (or set GENZ_DATA) to the folder "
                           "holding movielens-latest-small/")
        db = data / "bokeh-sampledata-movies" / "movies.db"
        return load_movies(folder, bokeh_db=db if db.exists() else None, seed=seed)
    raise CliError("--dataset: choose houses, movies, binary or planted, or give --items-file with "
                   "--item-column and --target-column")


def _flagify(msg: str) -> str:
    """``item_columns: ...`` -> ``--item-column: ...`` (messages of genz_pyro.tabular)."""
    for arg, flag in (("item_columns", "--item-column"), ("target_columns", "--target-column"),
                      ("covariate_columns", "--covariate-column"), ("id_column", "--id-column"),
                      ("items_file", "--items-file")):
        if msg.startswith(arg + ":"):
            return flag + msg[len(arg):]
    return msg


# --------------------------------------------------------------------------- models
def _budget(calls: int | None, usd: float | None) -> Any:
    if calls is None and usd is None:
        return None
    from genz_pyro.fm.budget import Budget

    return Budget(max_calls=calls, max_cost_usd=usd)


def build_model(spec: str, *, base_url: str | None = None, budget: Any = None) -> FoundationModel:
    """``make_model(spec)`` with the base URL and budget for SDK backends.

    Raises:
        CliError: an unknown spec (the message lists the forms).
    """
    from genz_pyro.fm.registry import make_model

    kwargs: dict[str, Any] = {}
    if spec.strip() != "offline":
        if base_url:
            kwargs["base_url"] = base_url
        if budget is not None:
            kwargs["budget"] = budget
    elif base_url:
        raise CliError("--base-url: the offline model runs in this process; drop --base-url or use --model openai:MODEL")
    try:
        return make_model(spec, **kwargs)
    except ValueError as exc:
        raise CliError(f"--model: {exc}") from None


# --------------------------------------------------------------------------- progress
def _attach_progress(disc: Any, total: int | None, desc: str, enabled: bool) -> Any:
    """A tqdm bar advanced by every history record the discovery appends."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr, leave=True,
               initial=0, dynamic_ncols=True)
    hist = disc.history
    append = hist.append

    def on_append(record: Any) -> None:
        append(record)
        bar.update(1)
        m = record.metric.get("test")
        if m is None or m != m:
            m = record.metric.get("train")
        bar.set_postfix_str(f"K={len(record.features)} {record.action} metric={m:.4g}", refresh=False)

    hist.append = on_append  # instance attribute: only this history reports progress
    return bar


def _plan_done(run_dir: Path) -> bool:
    p = run_dir / "plan.json"
    return p.exists() and bool(json.loads(p.read_text(encoding="utf-8")).get("done"))


def _open_discovery(run_dir: Path, dataset: Any, model: FoundationModel, s: Mapping[str, Any]) -> Any:
    from genz_pyro.discovery import Discovery

    if (run_dir / "config.json").exists():
        try:
            return Discovery.resume(run_dir, dataset, model, continue_run=False)
        except ValueError as exc:
            raise CliError(f"--resume: {exc}") from None
    fit_options: dict[str, Any] = {}
    if s.get("max_sweeps"):
        fit_options["max_sweeps"] = int(s["max_sweeps"])
    if s.get("ridge"):
        fit_options["ridge"] = float(s["ridge"])
    eps = s.get("eps")
    extra: dict[str, Any] = {}
    if s.get("min_activity") is not None:
        extra["min_activity"] = float(s["min_activity"])
    return Discovery(dataset, model, link=s["link"], engine=s.get("engine"), metric=s["metric"], seed=int(s["seed"]),
                     run_dir=run_dir, fit_options=fit_options, eps_fixed=None if eps is None else float(eps), **extra)


def _run_plan(disc: Any, run_dir: Path, s: Mapping[str, Any], *, zero_shot: bool, progress: bool, label: str) -> None:
    if _plan_done(run_dir):
        return
    if zero_shot:
        bar = _attach_progress(disc, None, label, progress)
        disc.zero_shot(int(s["zero_shot_n"]))
    else:
        steps = disc.plan(int(s["algorithm"]), int(s["cycles"]), int(s["n_add"]), int(s["n_remove"]))
        bar = _attach_progress(disc, len(steps), label, progress)
        p = run_dir / "plan.json"
        if p.exists():  # resuming: count the finished steps of the pending plan
            start = int(json.loads(p.read_text(encoding="utf-8"))["start_step"])
            bar.update(sum(1 for r in disc.history.records[start:] if r.plan_pos >= 0))
        disc.run(int(s["algorithm"]), int(s["cycles"]), n_add=int(s["n_add"]), n_remove=int(s["n_remove"]))
    bar.close()


# --------------------------------------------------------------------------- fit
_SETTING_KEYS = ("dataset", "data_dir", "items_file", "item_column", "target_column", "covariate_column",
                 "id_column", "descriptions", "bits", "n_items", "planted_features", "model", "base_url", "link",
                 "engine", "algorithm", "cycles", "n_add", "n_remove", "zero_shot_n", "zero_shot_baseline",
                 "metric", "seed", "max_sweeps", "cold_start", "item_fields", "eps", "ridge", "refit_train_val",
                 "min_activity")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    s = {k: getattr(args, k, None) for k in _SETTING_KEYS}
    if s["items_file"]:
        if s["dataset"]:
            raise CliError("--dataset: give either --dataset or --items-file, not both")
        if not s["item_column"] or not s["target_column"]:
            raise CliError("--item-column/--target-column: --items-file needs both (comma-separated column names)")
    elif not s["dataset"]:
        raise CliError("--dataset: choose houses, movies, binary or planted, or give --items-file")
    if s["data_dir"]:
        s["data_dir"] = str(Path(s["data_dir"]).resolve())
    for k in ("items_file", "descriptions"):
        if s[k]:
            s[k] = str(Path(s[k]).resolve())
    s["metric"] = s["metric"] or DEFAULT_METRICS.get(s["dataset"] or "", "r2")
    if s["algorithm"] != "zero-shot":
        s["algorithm"] = int(s["algorithm"])
    if s["eps"] is not None and not 0.001 <= s["eps"] < 0.5:
        raise CliError(f"--eps: must lie in [0.001, 0.5), got {s['eps']}; drop it to learn eps")
    if s["min_activity"] is not None and not 0 <= s["min_activity"] < 0.5:
        raise CliError(f"--min-activity: must lie in [0, 0.5), got {s['min_activity']} (default 0.02)")
    if s["ridge"] is not None and s["ridge"] < 0:
        raise CliError(f"--ridge: must be >= 0, got {s['ridge']}")
    if s["ridge"] and s["link"] != "linear":
        raise CliError("--ridge: applies to the linear link only; drop it or use --link linear")
    return s


def _summary(disc: Any) -> dict[str, Any]:
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
    }


def _write_json(path: Path, obj: Any, *, sort_keys: bool = True) -> None:
    from genz_pyro.discovery.persist import atomic_write

    atomic_write(path, json.dumps(obj, indent=2, sort_keys=sort_keys, allow_nan=False))


def _baselines(dataset: Any, s: Mapping[str, Any], zs_score: float | None) -> dict[str, float]:
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


def _cold_start(dataset: Any) -> dict[str, list[float]]:
    from genz_pyro.datasets.movies import cold_start_curve

    ex = dataset.extras
    ks = [1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200]
    curve = cold_start_curve(ex["ratings"], ex["movie_rows"], ks, num_movies=100, seed=0,
                             user_factors=ex["user_factors"], singular_values=ex["singular_values"],
                             scaling=ex.get("scaling", "us"), center=ex["embedding_mean"])
    return {k: [float(v) for v in a] for k, a in zip(("ks", "mean", "lo", "hi"), curve)}


def _dry_run(model: FoundationModel, dataset: Any, s: Mapping[str, Any], run_dir: Path | None) -> int:
    from genz_pyro.discovery import Discovery

    if s["algorithm"] == "zero-shot":
        adds, proposals = 0, int(s["zero_shot_n"])
    else:
        steps = Discovery.plan(int(s["algorithm"]), int(s["cycles"]), int(s["n_add"]), int(s["n_remove"]))
        adds, proposals = sum(1 for k in steps if k != "alg3"), 0
    if s.get("zero_shot_baseline"):
        proposals += int(s["zero_shot_baseline"])
    n = len(dataset.items)
    print(f"plan: {adds} mined feature(s) + {proposals} zero-shot proposal(s), each judged on {n} items")
    if not callable(getattr(model, "plan_judge", None)):
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


def cmd_fit(args: argparse.Namespace) -> int:
    """``genz fit``: run discovery into a run directory (or continue one with --resume)."""
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.cached import CachedModel

    if args.resume:
        if not args.run_dir:
            raise CliError("--resume: give the --run-dir of the run to continue")
        run_dir = Path(args.run_dir)
        if not (run_dir / "cli.json").exists():
            raise CliError(f"--resume: {run_dir} holds no `genz fit` run (no cli.json); start one without --resume")
        s = json.loads((run_dir / "cli.json").read_text(encoding="utf-8"))
    else:
        s = _settings(args)
        run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / f"{s['dataset'] or 'table'}-seed{s['seed']}"
        if (run_dir / "cli.json").exists() or (run_dir / "history.jsonl").exists():
            raise CliError(f"--run-dir: {run_dir} already holds a run; continue it with --resume or pick a new "
                           "--run-dir")
    dataset = load_dataset(s)
    budget = _budget(args.budget_calls, args.budget_usd)
    model = build_model(s["model"], base_url=s.get("base_url"), budget=budget)
    if budget is not None and s["model"] == "offline":
        print("note: --budget-calls/--budget-usd apply to provider models; the offline model costs nothing",
              file=sys.stderr)
    if args.dry_run:
        return _dry_run(model, dataset, s, run_dir if args.resume else None)
    if not args.resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "cli.json", s)
    inner: FoundationModel = CallLog(model, args.call_log) if args.call_log else model
    cached = CachedModel(inner, JudgmentCache(run_dir / "cache.sqlite"))
    progress = not args.no_progress

    t0 = time.perf_counter()
    zero_shot = s["algorithm"] == "zero-shot"
    disc = _open_discovery(run_dir, dataset, cached, s)
    _run_plan(disc, run_dir, s, zero_shot=zero_shot, progress=progress,
              label="zero-shot" if zero_shot else f"algorithm {s['algorithm']}")
    zs_score = None
    if zero_shot:
        zs_score = disc.history[-1].metric.get("test")
    elif s.get("zero_shot_baseline"):
        zdir = run_dir / "zero-shot"
        zs = _open_discovery(zdir, dataset, cached, s)
        _run_plan(zs, zdir, {**s, "zero_shot_n": s["zero_shot_baseline"]}, zero_shot=True, progress=progress,
                  label="zero-shot baseline")
        zs_score = zs.history[-1].metric.get("test")
    baselines = _baselines(dataset, s, zs_score)
    _write_json(run_dir / "baselines.json", {"metric": s["metric"],
                                             "test": {k: (None if v != v else v) for k, v in baselines.items()}},
                sort_keys=False)  # zero-shot first: the figures' colour order
    summary = _summary(disc)
    if s.get("refit_train_val") and not zero_shot:
        from genz_pyro.discovery.refit import refit_train_val

        tv = refit_train_val(disc, seed=int(s["seed"]))
        summary["refit_train_val"] = {"test": None if tv["test"] != tv["test"] else tv["test"]}
    summary["wall_time_s"] = time.perf_counter() - t0
    summary["baselines"] = {k: (None if v != v else v) for k, v in baselines.items()}
    if dataset.name == "movies" and s.get("cold_start", True) and not s.get("items_file"):
        from genz_pyro.datasets.movies import ratings_equivalent

        curve = _cold_start(dataset)
        _write_json(run_dir / "cold_start.json", curve)
        cos = summary["scores"]["test"]
        if cos is not None:
            eq = ratings_equivalent(cos, tuple(np.asarray(curve[k]) for k in ("ks", "mean", "lo", "hi")))
            summary["ratings_equivalent"] = eq if np.isfinite(eq) else None
        tv_cos = summary.get("refit_train_val", {}).get("test")
        if tv_cos is not None:
            eq = ratings_equivalent(tv_cos, tuple(np.asarray(curve[k]) for k in ("ks", "mean", "lo", "hi")))
            summary["refit_train_val"]["ratings_equivalent"] = eq if np.isfinite(eq) else None
    _write_json(run_dir / "summary.json", summary)
    _print_summary(summary, run_dir)
    return 0


def _print_summary(summary: Mapping[str, Any], run_dir: Path) -> None:
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


# --------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """``genz demo``: the binary experiment (paper section 5.1) with the offline model."""
    from genz_pyro.datasets.binary import load_binary
    from genz_pyro.discovery import Discovery
    from genz_pyro.fm.offline import OfflineModel

    bits = int(args.bits)
    ds = load_binary(bits)
    t0 = time.perf_counter()
    disc = Discovery(ds, OfflineModel(), link="linear", seed=int(args.seed), run_dir=args.run_dir)
    bar = _attach_progress(disc, bits, "algorithm 1", not args.no_progress)
    disc.run(algorithm=1, cycles=bits)
    bar.close()
    import torch

    res = disc.result
    y = ds.targets[disc.train, 0]
    # reconstruction: the link at the posterior of the latent features (exact when the
    # features are the nine bits); prediction: from the judgments alone (through eps)
    with torch.no_grad():
        recon = res.link(res.q, None)[:, 0].double().numpy() if res is not None else np.full(len(y), y.mean())
    err = np.abs(recon - y)
    pred_err = np.abs(disc.predict(disc.train)[:, 0] - y)
    print(f"GenZ binary experiment: {len(ds.items)} strings '0'..'{len(ds.items) - 1}', target = the number, "
          f"offline model, Algorithm 1 x {bits}")
    print(f"{len(disc.features)} discovered feature(s) (coarse to fine):")
    w = None if res is None else getattr(res.link, "feature_weight", None)
    for j, d in enumerate(disc.features):
        extra = ""
        if res is not None:
            extra = f"  eps {float(res.eps[j]):.3f}"
            if w is not None:
                extra += f"  weight {float(w.detach()[0, j]):+.2f}"
        print(f"  {j + 1}. {d}{extra}")
    print(f"reconstruction over {len(err)} items: max |error| {err.max():.3g}, mean |error| {err.mean():.3g}")
    print(f"prediction from the judgments alone: max |error| {pred_err.max():.3g} (eps floor "
          f"{float(res.eps.min()) if res is not None else float('nan'):.0e} on each bit)")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


# --------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    """``genz report RUN_DIR``: write the figures; print their paths."""
    from genz_pyro.report import write_report

    try:
        paths = write_report(args.run_dir, args.out)
    except ValueError as exc:
        raise CliError(f"RUN_DIR: {exc}") from None
    for p in paths:
        print(p)
    return 0


# --------------------------------------------------------------------------- describe-images
def describe_images(
    images: str | Path,
    model: FoundationModel,
    out: str | Path,
    *,
    cache: Any = None,
    prompt: str = IMAGE_PROMPT,
    progress: bool = False,
) -> dict[str, int]:
    """Describe every image of a folder with a vision model into a JSONL file.

    One line ``{"image": file name, "description": text}`` per image, appended as
    each is answered (so a killed run keeps what it paid for). Images already in
    ``out`` are skipped; answers are also cached in ``cache`` (a
    :class:`~genz_pyro.fm.cache.JudgmentCache`, keyed by the model's identity, the
    prompt and the image bytes' sha256), so a lost ``out`` file costs nothing to rebuild.

    Returns:
        ``{"images": total, "described": new calls, "cached": from cache, "skipped": already in out}``.

    Raises:
        ValueError: when ``images`` is not a folder with images or the model cannot
            describe images.
    """
    from tqdm import tqdm

    from genz_pyro.fm.cached import model_identity

    folder = Path(images)
    if not folder.is_dir():
        raise ValueError(f"images: {folder} is not a folder; pass the folder holding the listing photos")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"images: {folder} holds no .jpg/.jpeg/.png/.gif/.webp file")
    describe = getattr(model, "describe_image", None)
    if not callable(describe):
        raise ValueError(f"model: {model.name} cannot describe images; use --model anthropic:MODEL or openai:MODEL")
    out_path = Path(out)
    done: set[str] = set()
    if out_path.exists():
        lines = out_path.read_text(encoding="utf-8").splitlines()
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                done.add(str(json.loads(line)["image"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                if lineno == len(lines):
                    break  # a torn last line of a killed run: redone from the cache
                raise ValueError(f"out: {out_path} line {lineno} is not a description record; "
                                 "fix or delete the file") from None
        _truncate_torn(out_path)
    identity = model_identity(model)
    stats = {"images": len(files), "described": 0, "cached": 0, "skipped": 0}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for f in tqdm(files, desc="describing images", unit="image", disable=not progress, file=sys.stderr):
        if f.name in done:
            stats["skipped"] += 1
            continue
        data = f.read_bytes()
        request = {"prompt": prompt, "sha256": hashlib.sha256(data).hexdigest()}
        text = cache.get_answer(identity, _IMAGE_OP, request) if cache is not None else None
        if isinstance(text, str) and text.strip():
            stats["cached"] += 1
        else:
            text = describe(data, prompt)
            if cache is not None:
                cache.put_answer(identity, _IMAGE_OP, request, text)
            stats["described"] += 1
        with open(out_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"image": f.name, "description": text}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return stats


def _truncate_torn(path: Path) -> None:
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)


def cmd_describe_images(args: argparse.Namespace) -> int:
    """``genz describe-images``."""
    from genz_pyro.fm.cache import JudgmentCache

    if args.model.strip() == "offline":
        raise CliError("--model: the offline model cannot see images; use anthropic:MODEL or openai:MODEL")
    model = build_model(args.model, base_url=args.base_url, budget=_budget(args.budget_calls, args.budget_usd))
    out = Path(args.out)
    cache = JudgmentCache(args.cache if args.cache else out.with_name(out.name + ".cache.sqlite"))
    try:
        stats = describe_images(args.images, model, out, cache=cache, prompt=args.prompt,
                                progress=not args.no_progress)
    except ValueError as exc:
        raise CliError(f"--{str(exc).split(':', 1)[0]}: {str(exc).split(':', 1)[1].strip()}") from None
    finally:
        cache.close()
    print(f"{stats['images']} image(s): {stats['described']} described, {stats['cached']} from the cache, "
          f"{stats['skipped']} already in {out}")
    u = model.usage
    print(f"provider calls: {u.calls}, tokens in/out {u.input_tokens}/{u.output_tokens}, ${u.cost_usd:.2f}")
    return 0


# --------------------------------------------------------------------------- parser
_THREADS_HELP = ("torch threads (default 1: the discovery loop's fits are small, and on a shared machine more "
                 "threads can be many times slower; BENCHMARKS.md 'Threads')")


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` after checking ``n`` (the ``--threads`` flag)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CliError(f"--threads: must be a whole number >= 1, got {n!r}")
    import torch

    torch.set_num_threads(n)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``genz``."""
    p = argparse.ArgumentParser(prog="genz", description="GenZ: a foundation model as a generator of latent "
                                "features in a Pyro statistical model.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the binary experiment, offline, in seconds")
    d.add_argument("--bits", type=int, default=9, help="binary digits: 2**bits strings (default 9: 512)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--run-dir", default=None, help="optionally keep the run's files here")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    d.set_defaults(func=cmd_demo)

    f = sub.add_parser("fit", help="feature discovery on a bundled dataset or your CSV/JSONL")
    p.set_defaults(fit_parser=f)
    g = f.add_argument_group("data")
    g.add_argument("--dataset", choices=("houses", "movies", "binary", "planted"), default=None)
    g.add_argument("--data-dir", default=None,
                   help="folder of the bundled data (default $GENZ_DATA or ../shared/data)")
    g.add_argument("--items-file", default=None, help="your CSV (header row) or JSONL file")
    g.add_argument("--item-column", default=None, help="column(s) shown to the model, comma-separated")
    g.add_argument("--target-column", default=None, help="numeric target column(s), comma-separated")
    g.add_argument("--covariate-column", default=None, help="numeric covariate column(s), comma-separated")
    g.add_argument("--id-column", default=None, help="column of unique item ids (default row-<n>)")
    g.add_argument("--descriptions", default=None, help="houses: photo descriptions (genz describe-images)")
    g.add_argument("--item-fields", default=None,
                   help="record fields shown to the model, comma-separated (default all); e.g. leave out "
                        "fields the covariates already carry (houses: zipcode)")
    g.add_argument("--bits", type=int, default=None, help="binary: digits (default 9)")
    g.add_argument("--n-items", type=int, default=None, help="planted: records (default 400)")
    g.add_argument("--planted-features", type=int, default=None, help="planted: hidden features (default 4)")
    g = f.add_argument_group("model")
    g.add_argument("--model", default="offline", help="offline | anthropic:MODEL | openai:MODEL (default offline)")
    g.add_argument("--base-url", default=None, help="server of an OpenAI-compatible or proxy endpoint")
    g.add_argument("--link", choices=("linear", "mlp"), default="linear")
    g.add_argument("--engine", default=None, help="inference engine (default: the link's default)")
    g.add_argument("--max-sweeps", type=int, default=None, help="inference sweeps per fit")
    g.add_argument("--eps", type=float, default=None,
                   help="hold every feature's flip probability at this value (e.g. 0.001: trust the judgments) "
                        "instead of learning it (default: learned, as in the paper)")
    g.add_argument("--ridge", type=float, default=None,
                   help="linear link: Gaussian prior (ridge penalty) on the feature weights (default 0)")
    g.add_argument("--metric", default=None, help="r2 | median_absolute_error | mean_cosine_similarity | "
                   "median_relative_error (default: the dataset's)")
    g = f.add_argument_group("discovery")
    g.add_argument("--algorithm", choices=("1", "2", "3", "4", "zero-shot"), default="4")
    g.add_argument("--cycles", type=int, default=3, help="runs of Algorithm 1/2/3, or cycles of Algorithm 4")
    g.add_argument("--n-add", type=int, default=5, help="Algorithm 4: additions per cycle")
    g.add_argument("--n-remove", type=int, default=2, help="Algorithm 4: removals per cycle")
    g.add_argument("--zero-shot-n", type=int, default=40, help="--algorithm zero-shot: proposals")
    g.add_argument("--zero-shot-baseline", type=int, default=0,
                   help="also run the zero-shot baseline with this many proposals (run-dir/zero-shot)")
    g.add_argument("--min-activity", type=float, default=None,
                   help="discard a feature judged positive for fewer than this share of the training items "
                        "(default 0.02, the paper's 2%%; the upper limit stays 0.98)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--validated", action="store_true",
                   help="houses/movies: start from the settings chosen on the validation split (README results: "
                        "houses --algorithm 1 --cycles 25 --item-fields zipcode --eps 0.01 --ridge 1 "
                        "--min-activity 0.01 --refit-train-val; movies --algorithm 1 --cycles 80 --eps 0.001 "
                        "--ridge 10 --refit-train-val); flags you give still win")
    g.add_argument("--refit-train-val", action="store_true",
                   help="after discovery, also refit the features' parameters on train + validation and score "
                        "test (the baselines' protocol; summary.json 'refit_train_val')")
    g = f.add_argument_group("run")
    g.add_argument("--run-dir", default=None, help="run directory (default runs/<dataset>-seed<seed>)")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir (settings from its cli.json)")
    g.add_argument("--budget-calls", type=int, default=None, help="cap on provider calls")
    g.add_argument("--budget-usd", type=float, default=None, help="cap on provider cost in US dollars")
    g.add_argument("--dry-run", action="store_true", help="print the planned calls and cost; send nothing")
    g.add_argument("--call-log", default=None, help="append one JSON line per foundation-model call to this file")
    g.add_argument("--no-cold-start", dest="cold_start", action="store_false",
                   help="movies: skip the cold-start curve")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    f.set_defaults(func=cmd_fit)

    r = sub.add_parser("report", help="write the figures of a run directory")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--out", default=None, help="output folder (default RUN_DIR/report)")
    r.set_defaults(func=cmd_report)

    i = sub.add_parser("describe-images", help="describe listing photos with a vision model (cached, resumable)")
    i.add_argument("--images", required=True, help="folder of photos")
    i.add_argument("--model", required=True, help="anthropic:MODEL | openai:MODEL")
    i.add_argument("--base-url", default=None)
    i.add_argument("--out", required=True, help="JSONL file of descriptions (appended; resumable)")
    i.add_argument("--cache", default=None, help="cache file (default OUT.cache.sqlite)")
    i.add_argument("--prompt", default=IMAGE_PROMPT)
    i.add_argument("--budget-calls", type=int, default=None)
    i.add_argument("--budget-usd", type=float, default=None)
    i.add_argument("--no-progress", action="store_true")
    i.set_defaults(func=cmd_describe_images)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``genz`` arguments; ``fit --validated`` fills in :data:`VALIDATED_SETTINGS` of the
    dataset as defaults, so flags given explicitly still win.

    Raises:
        CliError: ``--validated`` for a dataset without validated settings.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "validated", False):
        if args.dataset not in VALIDATED_SETTINGS:
            raise CliError(f"--validated: settings exist for --dataset {' or '.join(VALIDATED_SETTINGS)}, not "
                           f"{args.dataset or args.items_file!r}; drop --validated and give the flags")
        args.fit_parser.set_defaults(**VALIDATED_SETTINGS[args.dataset])
        args = parser.parse_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``genz``; returns the exit status (0 ok, 2 user error, 3 provider error or budget
    cap, 130 interrupted)."""
    from genz_pyro.fm.errors import FoundationModelError

    try:
        args = parse_args(argv)
        if getattr(args, "threads", None) is not None:
            set_threads(args.threads)
    except CliError as exc:
        print(f"genz: error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"genz: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"genz: error: {exc}", file=sys.stderr)
        return 2
    except FoundationModelError as exc:
        print(f"genz: foundation-model error: {exc}\n"
              "answers received so far are cached: rerun the same command (genz fit: add --resume) to continue",
              file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("genz: interrupted; continue with `genz fit --run-dir DIR --resume`", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
