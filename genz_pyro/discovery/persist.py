"""Durable files of a run directory: atomic writes, the fit checkpoint, the plan.

Run directory layout (see ``docs/discovery.md``)::

    run_dir/
      config.json       the Discovery settings and a fingerprint of the dataset
      history.jsonl     one StepRecord per step (append-only, fsync'd)
      params.pt         checkpoint of the last two completed steps: features, their
                        judgments of every item, the fit (q, eps, link state, sigma2)
      plan.json         the pending run() / zero_shot() plan (for resume)
      features.json     the current features: description, eps, activity, weights
      predictions.csv   id, split, prediction and target per item after the last step
      cache.sqlite      every foundation-model answer (JudgmentCache)
      run.lock          held by the process writing the run (genz_pyro.discovery.lock)

A step is complete when its history record is on disk. ``params.pt`` is written
*before* the record and keeps the previous step's state too, so a SIGKILL between
the two writes still finds the state of the last recorded step.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from genz_pyro.fm.protocol import Item, render_item
from genz_pyro.infer.result import FitResult
from genz_pyro.models.links import make_link

__all__ = [
    "atomic_write",
    "dataset_fingerprint",
    "fit_to_state",
    "fit_from_state",
    "save_checkpoint",
    "load_checkpoint",
    "read_json",
    "write_outputs",
]


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old or the new file, never a torn one.

    The data go to a temporary file of a unique name beside ``path`` (``path.<random>.tmp``),
    are fsync'd, and replace ``path`` in one rename. When the write fails (a full disk, a
    file-size limit) the temporary file is removed, ``path`` keeps its old content and the
    ``OSError`` propagates.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name + ".", suffix=".tmp")
    try:
        with open(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; written files are readable like open()'s
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        fd = os.open(p.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dataset_fingerprint(items: Mapping[str, Item], targets: np.ndarray) -> str:
    """sha256 of the ids, rendered items and targets (resume refuses another dataset)."""
    h = hashlib.sha256()
    for i, item in items.items():
        h.update(i.encode())
        h.update(b"\0")
        h.update(render_item(item).encode())
        h.update(b"\1")
    h.update(np.ascontiguousarray(np.asarray(targets, dtype=np.float64)).tobytes())
    return h.hexdigest()


def fit_to_state(result: FitResult | None) -> dict[str, Any] | None:
    """A ``torch.save``-able (weights-only) dict of a FitResult (``info`` is dropped)."""
    if result is None:
        return None
    return {
        "q": result.q.detach().clone(),
        "eps": result.eps.detach().clone(),
        "decoupled": result.decoupled.detach().clone(),
        "link_state": {k: v.detach().clone() for k, v in result.link.state_dict().items()},
        "sigma2": result.sigma2.detach().clone(),
        "bound_history": [float(b) for b in result.bound_history],
        "converged": bool(result.converged),
        "wall_time": float(result.wall_time),
        "engine": str(result.engine),
        "num_sweeps": int(result.num_sweeps),
        "feature_names": list(result.feature_names),
    }


def fit_from_state(
    state: dict[str, Any] | None, *, link: str, target_dim: int, covariate_dim: int
) -> FitResult | None:
    """Rebuild the FitResult saved by :func:`fit_to_state` (the link from its name)."""
    if state is None:
        return None
    k = int(state["q"].shape[1])
    module = make_link(link, num_features=k, target_dim=target_dim, covariate_dim=covariate_dim)
    module.load_state_dict(state["link_state"])
    module = module.to(next(iter(state["link_state"].values())).dtype) if state["link_state"] else module
    module.eval()
    return FitResult(
        q=state["q"],
        eps=state["eps"],
        decoupled=state["decoupled"],
        link=module,
        sigma2=state["sigma2"],
        bound_history=list(state["bound_history"]),
        converged=state["converged"],
        wall_time=state["wall_time"],
        engine=state["engine"],
        num_sweeps=state["num_sweeps"],
        feature_names=tuple(state["feature_names"]),
        info={"restored": True},
    )


def save_checkpoint(path: str | os.PathLike, step: int, state: dict[str, Any], previous: dict | None) -> None:
    """Write ``params.pt`` holding the state after ``step`` and (if any) the one before."""
    import io

    states = {int(step): state}
    if previous is not None:
        states[int(step) - 1] = previous
    buf = io.BytesIO()
    torch.save({"format": "genz-pyro-discovery/1", "states": states}, buf)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[int, dict[str, Any]]:
    """``{step: state}`` from ``params.pt`` (weights-only load)."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "genz-pyro-discovery/1":
        raise ValueError(f"run_dir: {path} is not a genz-pyro discovery checkpoint; start a new run_dir")
    return {int(k): v for k, v in blob["states"].items()}


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_outputs(
    run_dir: str | os.PathLike,
    *,
    ids: list[str],
    split: np.ndarray,
    descriptions: list[str],
    activity: np.ndarray,
    result: FitResult | None,
    predictions: np.ndarray,
    targets: np.ndarray,
) -> None:
    """Write ``features.json`` and ``predictions.csv`` (derived files, atomically).

    Args:
        ids: ``N`` item ids; split: ``[N]`` "train" / "val" / "test" / "".
        descriptions: ``K`` features; activity: ``[K]`` training share judged positive.
        result: the fit (eps and, for a linear link, the feature weights ``[D]`` each).
        predictions, targets: ``[N, D]``.
    """
    rd = Path(run_dir)
    feats = []
    for j, desc in enumerate(descriptions):
        entry: dict[str, Any] = {
            "description": desc,
            "eps": None if result is None else float(result.eps[j]),
            "activity": float(activity[j]),
        }
        w = getattr(result.link, "feature_weight", None) if result is not None else None
        if w is not None:
            entry["weight"] = [float(v) for v in w.detach()[:, j]]
        feats.append(entry)
    atomic_write(rd / "features.json", json.dumps(feats, indent=2))
    buf = io.StringIO()
    out = csv.writer(buf)
    d = targets.shape[1]
    out.writerow(["id", "split"] + [f"pred_{i}" for i in range(d)] + [f"target_{i}" for i in range(d)])
    for r, item_id in enumerate(ids):
        out.writerow(
            [item_id, split[r]] + [repr(float(v)) for v in predictions[r]] + [repr(float(v)) for v in targets[r]]
        )
    atomic_write(rd / "predictions.csv", buf.getvalue())
