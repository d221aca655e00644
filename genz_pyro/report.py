"""Figures of a discovery run (matplotlib).

Every plot function returns its :class:`matplotlib.figure.Figure` (so a notebook cell
shows it inline) and, given a ``path``, also writes it there (PNG). The figures are
closed in pyplot, so drawing many does not accumulate open windows, and the backend is
left as it is (inline in a notebook, Agg on a headless machine).

Everything is drawn from the files of a run directory (see
:mod:`genz_pyro.discovery.persist`): ``history.jsonl`` (one record per step),
``features.json`` (the final features and their eps), and two optional files the
``genz`` command writes next to them:

- ``baselines.json``: ``{"metric": name, "test": {baseline name: score}}``, e.g. the
  zero-shot baseline's and simple baselines' test scores, drawn as horizontal lines;
- ``cold_start.json``: ``{"ks": [T], "mean": [T], "lo": [T], "hi": [T]}`` the movies
  cold-start curve (paper Fig. 5), on which the model's test cosine is marked.

Figures:

- :func:`plot_learning_curves`: train / validation / test metric per step with the
  baselines as horizontal lines (paper Figs. 4 and 6);
- :func:`plot_feature_timeline`: one row per feature ever proposed, one column per
  step; a blue bar while the feature is in the model, a blue marker where it was
  added, a red marker where it was removed or discarded (the paper's videos as one
  static figure);
- :func:`plot_eps`: the final features' flip probabilities (bar chart);
- :func:`plot_cold_start`: the cold-start curve with its 90% band, the model's cosine
  similarity and its ratings-equivalent;
- :func:`plot_judge_rates`: with several judges (``judges.json``), each judge's false-yes and
  false-no rate on each feature (which judge is worth paying for).

:func:`write_report` writes every figure that the run's files support and returns
the paths.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from genz_pyro.discovery.history import RunHistory, StepRecord

__all__ = [
    "write_report",
    "plot_learning_curves",
    "plot_feature_timeline",
    "plot_eps",
    "plot_cold_start",
    "plot_judge_rates",
    "load_baselines",
    "load_cold_start",
    "final_record",
    "ADD_COLOUR",
    "REMOVE_COLOUR",
]

ADD_COLOUR = "#1f5fbf"  # blue: added / in the model
REMOVE_COLOUR = "#d62728"  # red: removed / discarded
_SPLIT_STYLE = {"train": ("#444444", "-"), "val": ("#2ca02c", "--"), "test": ("#1f77b4", "-")}
_BASELINE_COLOURS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _finish(plt: Any, fig: Any, path: str | Path | None, *, layout: bool = True) -> Any:
    """Lay out ``fig`` (``layout``; else save with a tight bounding box), write it to ``path``
    (when given), release it from pyplot; return it."""
    if layout:
        fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=110, **({} if layout else {"bbox_inches": "tight"}))
    plt.close(fig)
    return fig


def _label(text: str, width: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def final_record(history: RunHistory) -> StepRecord | None:
    """The record that holds the run's final model: the last ``"select"`` record when
    the run ends with a zero-shot selection, else the last record (``None`` if empty)."""
    if len(history) == 0:
        return None
    return history[-1]


# ----------------------------------------------------------------------------- files
def load_baselines(run_dir: str | Path) -> tuple[str | None, dict[str, float]]:
    """``(metric name, {baseline: test score})`` from ``run_dir/baselines.json`` (empty if absent).

    Raises:
        ValueError: when the file is not ``{"metric": str, "test": {name: number}}``.
    """
    p = Path(run_dir) / "baselines.json"
    if not p.exists():
        return None, {}
    raw = json.loads(p.read_text(encoding="utf-8"))
    test = raw.get("test") if isinstance(raw, dict) else None
    if not isinstance(test, dict):
        raise ValueError(f"{p}: expected {{'metric': name, 'test': {{baseline: score}}}}; rewrite or delete the file")
    out = {}
    for k, v in test.items():
        if v is not None and not isinstance(v, (int, float)):
            raise ValueError(f"{p}: baseline {k!r} has a non-numeric score {v!r}")
        out[str(k)] = float("nan") if v is None else float(v)
    return raw.get("metric"), out


def load_cold_start(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The cold-start curve ``(ks, mean, lo, hi)`` from ``run_dir/cold_start.json`` or ``None``."""
    p = Path(run_dir) / "cold_start.json"
    if not p.exists():
        return None
    raw = json.loads(p.read_text(encoding="utf-8"))
    try:
        arrs = tuple(np.asarray(raw[k], dtype=float) for k in ("ks", "mean", "lo", "hi"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{p}: expected lists 'ks', 'mean', 'lo', 'hi' ({exc}); rewrite or delete the file") from exc
    if len({a.shape for a in arrs}) != 1 or arrs[0].ndim != 1:
        raise ValueError(f"{p}: 'ks', 'mean', 'lo', 'hi' must be 1-d lists of one length")
    return arrs  # type: ignore[return-value]


# ----------------------------------------------------------------------------- figures
def plot_learning_curves(
    history: RunHistory,
    path: str | Path | None = None,
    *,
    metric_name: str = "metric",
    baselines: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Any:
    """Train / validation / test metric per step (splits with no finite value are
    left out) and each baseline's test score as a horizontal line.

    Args:
        history: the run's records (``T`` steps).
        path: optional PNG to write.
        metric_name: y-axis label.
        baselines: ``{name: test score}`` drawn as dotted horizontal lines.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: when the history is empty.
    """
    if len(history) == 0:
        raise ValueError("history: the run has no step yet; run some discovery steps before plotting")
    plt = _pyplot()
    steps = np.arange(len(history))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for split, (colour, style) in _SPLIT_STYLE.items():
        vals = np.asarray(history.column("metric", split), dtype=float)
        if np.isfinite(vals).any():
            ax.plot(steps, vals, style, color=colour, marker="o", markersize=3, label=split)
    for i, (name, value) in enumerate((baselines or {}).items()):
        if value is not None and math.isfinite(value):
            ax.axhline(value, color=_BASELINE_COLOURS[i % len(_BASELINE_COLOURS)], linestyle=":", linewidth=1.6,
                       label=f"{name} (test {value:.3g})")
    k = [len(r.features) for r in history]
    ax2 = ax.twinx()
    ax2.step(steps, k, where="post", color="#bbbbbb", linewidth=1.0)
    ax2.set_ylabel("features in the model", color="#888888")
    ax2.tick_params(axis="y", colors="#888888")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel(metric_name)
    ax.set_title(title or "Learning curves")
    ax.legend(loc="best", fontsize=8)
    return _finish(plt, fig, path)


def _timeline(history: RunHistory) -> tuple[list[str], np.ndarray, list[tuple[int, int, str]]]:
    """Rows (descriptions in order of first appearance), membership ``[F, T]`` bool,
    and events ``(row, step, "add"|"remove"|"discard"|"zero-shot")``."""
    rows: list[str] = []
    index: dict[str, int] = {}

    def row(desc: str) -> int:
        if desc not in index:
            index[desc] = len(rows)
            rows.append(desc)
        return index[desc]

    events: list[tuple[int, int, str]] = []
    prev: set[str] = set()
    for r in history:
        now = set(r.features)
        for d in r.features:
            if d not in prev:
                events.append((row(d), r.step, "add"))
        for d in sorted(prev - now):
            events.append((row(d), r.step, "remove"))
        if r.action == "discard" and r.feature:
            events.append((row(r.feature), r.step, "discard"))
        prev = now
    member = np.zeros((len(rows), len(history)), dtype=bool)
    for r in history:
        for d in r.features:
            member[index[d], r.step] = True
    return rows, member, events


def plot_feature_timeline(history: RunHistory, path: str | Path | None = None, *, title: str | None = None,
                          label_width: int = 48) -> Any:
    """Which features were in the model at each step (blue bars), where each was added
    (blue triangle) and removed or discarded (red cross); descriptions as row labels.
    Returns the Figure (also written to ``path`` when given).

    Raises:
        ValueError: when the history is empty.
    """
    if len(history) == 0:
        raise ValueError("history: the run has no step yet; run some discovery steps before plotting")
    plt = _pyplot()
    rows, member, events = _timeline(history)
    n_rows, n_steps = max(len(rows), 1), len(history)
    fig, ax = plt.subplots(figsize=(8 + 0.04 * n_steps, 1.2 + 0.28 * n_rows))
    for i in range(len(rows)):
        on = member[i]
        j = 0
        while j < n_steps:  # one bar per run of consecutive steps in the model
            if on[j]:
                start = j
                while j < n_steps and on[j]:
                    j += 1
                ax.barh(i, j - start, left=start - 0.5, height=0.6, color=ADD_COLOUR, alpha=0.35, linewidth=0)
            else:
                j += 1
    for kind, colour, marker in (("add", ADD_COLOUR, ">"), ("remove", REMOVE_COLOUR, "x"),
                                 ("discard", REMOVE_COLOUR, "x")):
        pts = [(s, r) for r, s, k in events if k == kind]
        if pts:
            xs, ys = zip(*pts)
            label = {"add": "added", "remove": "removed", "discard": "discarded"}[kind]
            ax.scatter(xs, ys, color=colour, marker=marker, s=36, zorder=3, label=label)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r, label_width) for r in rows], fontsize=7)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlim(-0.8, n_steps - 0.2)
    ax.set_xlabel("step")
    ax.set_title(title or "Feature timeline (blue: in the model / added, red: removed or discarded)", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    if uniq:
        ax.legend(uniq.values(), uniq.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(plt, fig, path)


def plot_eps(descriptions: Sequence[str], eps: Sequence[float], path: str | Path | None = None, *,
             title: str | None = None, label_width: int = 48) -> Any:
    """Horizontal bar chart of each feature's flip probability ``eps [K]``; returns the
    Figure (also written to ``path`` when given).

    Raises:
        ValueError: when the lengths differ or there is no feature.
    """
    if len(descriptions) != len(eps):
        raise ValueError(f"eps: {len(eps)} values for {len(descriptions)} descriptions; give one eps per feature")
    if len(descriptions) == 0:
        raise ValueError("descriptions: the model has no feature; nothing to plot")
    plt = _pyplot()
    e = np.asarray([float("nan") if v is None else float(v) for v in eps])
    k = len(descriptions)
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.3 * k))
    colours = [REMOVE_COLOUR if v >= 0.5 - 1e-9 else ADD_COLOUR for v in np.nan_to_num(e, nan=0.5)]
    ax.barh(np.arange(k), np.nan_to_num(e, nan=0.0), color=colours)
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels([_label(d, label_width) for d in descriptions], fontsize=7)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_xlim(0, 0.5)
    ax.set_xlabel("eps (flip probability: 0 = the judgment is trusted, 0.5 = ignored)")
    ax.set_title(title or "Flip probability per feature", fontsize=9)
    return _finish(plt, fig, path)


def plot_cold_start(curve: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], path: str | Path | None = None,
                    *, model_cos: float | None = None, label: str = "GenZ (test)", title: str | None = None) -> Any:
    """The cold-start curve (mean and 90% band against the number of ratings) with
    the model's cosine similarity as a horizontal line and its ratings-equivalent;
    returns the Figure (also written to ``path`` when given).

    Args:
        curve: ``(ks [T], mean [T], lo [T], hi [T])`` of
            :func:`genz_pyro.datasets.movies.cold_start_curve`.
        model_cos: the model's mean test cosine similarity (omitted when ``None``).
    """
    from genz_pyro.datasets.movies import ratings_equivalent

    ks, mean, lo, hi = (np.asarray(a, dtype=float) for a in curve)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.fill_between(ks, lo, hi, color="#aaaaaa", alpha=0.4, label="90% band")
    ax.plot(ks, mean, color="#333333", marker="o", markersize=3, label="mean over movies")
    if model_cos is not None and math.isfinite(model_cos):
        eq = ratings_equivalent(model_cos, (ks, mean, lo, hi))
        ax.axhline(model_cos, color=ADD_COLOUR, linestyle="--", label=f"{label}: cos {model_cos:.3f}")
        if math.isfinite(eq):
            ax.axvline(eq, color=ADD_COLOUR, linestyle=":", label=f"= {eq:.1f} ratings")
            ax.plot([eq], [model_cos], "o", color=ADD_COLOUR)
    if ks.size and ks.min() > 0 and ks.max() / max(ks.min(), 1) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("ratings of the movie")
    ax.set_ylabel("cosine similarity with the full embedding")
    ax.set_title(title or "Cold start: embedding from k ratings", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _finish(plt, fig, path)


def plot_judge_rates(rates: Sequence[Mapping[str, Any]], path: str | Path | None = None, *,
                     title: str | None = None, label_width: int = 40) -> Any:
    """Two heat maps, features x judges: each judge's false-yes rate ``P(yes | z = 0)`` and
    false-no rate ``P(no | z = 1)`` on each feature, the values written in the cells.
    Returns the Figure (also written to ``path`` when given).

    Args:
        rates: rows ``{"feature", "judge", "false_yes", "false_no"}`` (``judges.json``'s ``rates``).

    Raises:
        ValueError: when there is no row.
    """
    if not rates:
        raise ValueError("rates: no (feature, judge) row; fit the several-judges model first")
    feats = list(dict.fromkeys(str(r["feature"]) for r in rates))
    judges = list(dict.fromkeys(str(r["judge"]) for r in rates))
    grids = {key: np.full((len(feats), len(judges)), np.nan) for key in ("false_yes", "false_no")}
    for r in rates:
        for key, grid in grids.items():
            grid[feats.index(str(r["feature"])), judges.index(str(r["judge"]))] = float(r[key])
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(4.0 + 1.6 * len(judges), 1.4 + 0.32 * len(feats)), sharey=True)
    for ax, (key, grid) in zip(axes, grids.items()):
        im = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="Reds", aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.6 else "black")
        ax.set_xticks(np.arange(len(judges)))
        ax.set_xticklabels([_label(j, 18) for j in judges], fontsize=7, rotation=20, ha="right")
        ax.set_title("false yes: P(yes | z = 0)" if key == "false_yes" else "false no: P(no | z = 1)", fontsize=8)
    axes[0].set_yticks(np.arange(len(feats)))
    axes[0].set_yticklabels([_label(f, label_width) for f in feats], fontsize=7)
    fig.colorbar(im, ax=list(axes), fraction=0.03)
    fig.suptitle(title or "Error rates of each judge (0 = trusted; false yes + false no = 1: ignored)", fontsize=9)
    return _finish(plt, fig, path, layout=False)  # the colorbar spans both axes: a tight bounding box instead


# ----------------------------------------------------------------------------- report
def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write every figure the run directory supports; return their paths.

    Always: ``learning_curves.png`` and ``feature_timeline.png``; ``eps.png`` when the
    final model has features; ``cold_start.png`` when ``cold_start.json`` exists;
    ``judge_rates.png`` when ``judges.json`` (several judges) has rates.

    Args:
        run_dir: a run directory holding ``history.jsonl``.
        out_dir: where to write (default ``run_dir/report``).

    Raises:
        ValueError: when ``run_dir`` holds no history or the history is empty.
    """
    rd = Path(run_dir)
    hist_path = rd / "history.jsonl"
    if not hist_path.exists():
        raise ValueError(f"run_dir: {rd} holds no history.jsonl; pass the --run-dir of a `genz fit` run")
    history = RunHistory.load(hist_path, repair=False)  # only read: the run may be writing it
    if len(history) == 0:
        raise ValueError(f"run_dir: the history in {rd} has no step yet; let the run record a step first")
    out = Path(out_dir) if out_dir is not None else rd / "report"
    out.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {}
    if (rd / "config.json").exists():
        cfg = json.loads((rd / "config.json").read_text(encoding="utf-8"))
    metric_name, baselines = load_baselines(rd)
    metric_name = metric_name or cfg.get("metric") or "metric"
    name = cfg.get("dataset", rd.name)
    paths = [out / "learning_curves.png", out / "feature_timeline.png"]
    plot_learning_curves(history, paths[0], metric_name=metric_name, baselines=baselines,
                         title=f"{name}: {metric_name} per step")
    plot_feature_timeline(history, paths[1],
                          title=f"{name}: features per step (blue: added / in the model, red: removed/discarded)")
    last = final_record(history)
    assert last is not None
    if last.features:
        paths.append(out / "eps.png")
        plot_eps(last.features, last.eps_all, paths[-1], title=f"{name}: eps per feature")
    curve = load_cold_start(rd)
    if curve is not None:
        cos = last.metric.get("test", float("nan"))
        paths.append(out / "cold_start.png")
        plot_cold_start(curve, paths[-1], model_cos=cos if metric_name == "mean_cosine_similarity" else None)
    if (rd / "judges.json").exists():
        rates = json.loads((rd / "judges.json").read_text(encoding="utf-8")).get("rates") or []
        if rates:
            paths.append(out / "judge_rates.png")
            plot_judge_rates(rates, paths[-1], title=f"{name}: error rates of each judge")
    return paths
