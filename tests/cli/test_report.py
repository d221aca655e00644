"""Figures from a run directory: real PNG files with the colours they promise."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from genz_pyro.discovery.history import RunHistory, StepRecord
from genz_pyro.report import (
    ADD_COLOUR,
    REMOVE_COLOUR,
    _timeline,
    load_baselines,
    plot_cold_start,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _history(path: Path | None) -> RunHistory:
    """A 5-step run: add A, add B, discard C, add D, remove A."""
    h = RunHistory(path)
    steps = [
        ("add", "A has a pool", ["A has a pool"], [0.1], {"train": 0.30, "val": 0.25, "test": 0.20}),
        ("add", "B is near the ocean", ["A has a pool", "B is near the ocean"], [0.1, 0.2],
         {"train": 0.50, "val": 0.45, "test": 0.40}),
        ("discard", "C is yellow", ["A has a pool", "B is near the ocean"], [0.1, 0.2],
         {"train": 0.50, "val": 0.45, "test": 0.40}),
        ("add", "D has 4 or more bedrooms", ["A has a pool", "B is near the ocean", "D has 4 or more bedrooms"],
         [0.1, 0.2, 0.05], {"train": 0.70, "val": 0.62, "test": 0.60}),
        ("remove", "A has a pool", ["B is near the ocean", "D has 4 or more bedrooms"], [0.2, 0.5],
         {"train": 0.69, "val": 0.63, "test": 0.61}),
    ]
    for i, (action, feat, feats, eps, metric) in enumerate(steps):
        h.append(StepRecord(step=i, action=action, algorithm="alg3" if action == "remove" else "alg1",
                            feature=feat, reason="activity" if action == "discard" else "", features=feats,
                            eps_all=eps, metric=metric, bound=-100.0 + i))
    return h


def test_timeline_events_follow_the_history() -> None:
    rows, member, events = _timeline(_history(None))
    assert rows == ["A has a pool", "B is near the ocean", "C is yellow", "D has 4 or more bedrooms"]
    # membership [feature, step]
    assert member.tolist() == [
        [True, True, True, True, False],
        [False, True, True, True, True],
        [False, False, False, False, False],
        [False, False, False, True, True],
    ]
    assert sorted(events) == sorted([(0, 0, "add"), (1, 1, "add"), (2, 2, "discard"), (3, 3, "add"),
                                     (0, 4, "remove")])


def _colours(png: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(str(png))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    rgb = np.round(img[..., :3] * 255).astype(np.int64).reshape(-1, 3)
    packed = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])
    return np.stack([packed >> 16, (packed >> 8) & 255, packed & 255], axis=1)


def _has_colour(colours: np.ndarray, hex_colour: str, tol: int = 40) -> bool:
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(colours - target).max(axis=1) <= tol).any())


def _check_png(p: Path) -> np.ndarray:
    raw = p.read_bytes()
    assert raw[:8] == PNG_SIGNATURE, p
    assert len(raw) > 5000, (p, len(raw))
    colours = _colours(p)
    assert len(colours) > 1
    return colours


def test_write_report_writes_readable_pngs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _history(run / "history.jsonl")
    (run / "config.json").write_text(json.dumps({"dataset": "toy", "metric": "r2"}))
    (run / "baselines.json").write_text(json.dumps({"metric": "r2", "test": {"zero-shot": 0.35, "ridge": None}}))
    paths = write_report(run)
    names = sorted(p.name for p in paths)
    assert names == ["eps.png", "feature_timeline.png", "learning_curves.png"]
    for p in paths:
        assert p.parent == run / "report"
        _check_png(p)
    timeline = _colours(run / "report" / "feature_timeline.png")
    assert _has_colour(timeline, ADD_COLOUR, tol=10) and _has_colour(timeline, REMOVE_COLOUR, tol=10)
    eps = _colours(run / "report" / "eps.png")  # eps 0.5 (decoupled) in red, the other in blue
    assert _has_colour(eps, ADD_COLOUR, tol=10) and _has_colour(eps, REMOVE_COLOUR, tol=10)
    curves = _colours(run / "report" / "learning_curves.png")
    assert _has_colour(curves, "#ff7f0e", tol=10)  # the zero-shot baseline line
    assert load_baselines(run)[1]["zero-shot"] == 0.35 and math.isnan(load_baselines(run)[1]["ridge"])


def test_cold_start_figure_marks_the_model(tmp_path: Path) -> None:
    ks = np.array([1, 2, 5, 10, 20, 50])
    mean = np.array([0.2, 0.3, 0.5, 0.6, 0.8, 0.95])
    curve = (ks, mean, mean - 0.1, np.minimum(mean + 0.05, 1.0))
    run = tmp_path / "run"
    run.mkdir()
    _history(run / "history.jsonl")
    (run / "config.json").write_text(json.dumps({"dataset": "movies", "metric": "mean_cosine_similarity"}))
    (run / "cold_start.json").write_text(json.dumps({k: list(map(float, v)) for k, v in
                                                     zip(("ks", "mean", "lo", "hi"), curve)}))
    paths = write_report(run, tmp_path / "out")
    assert (tmp_path / "out" / "cold_start.png") in paths
    colours = _check_png(tmp_path / "out" / "cold_start.png")
    assert _has_colour(colours, ADD_COLOUR, tol=10)  # the model's cosine line
    fig = plot_cold_start(curve, tmp_path / "c.png", model_cos=None)
    assert isinstance(fig, Figure)
    assert not _has_colour(_check_png(tmp_path / "c.png"), ADD_COLOUR, tol=10)


def test_write_report_errors_name_the_run_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_dir: .* no history.jsonl"):
        write_report(tmp_path)
    (tmp_path / "history.jsonl").write_text("")
    with pytest.raises(ValueError, match="no step yet"):
        write_report(tmp_path)
    (tmp_path / "baselines.json").write_text(json.dumps({"test": [1, 2]}))
    with pytest.raises(ValueError, match="baselines.json"):
        load_baselines(tmp_path)
