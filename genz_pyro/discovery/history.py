"""The run history: one JSON record per discovery step, append-only (JSONL).

Each record is written with ``flush`` + ``fsync`` before the step is considered
done, so a run killed at any point (even SIGKILL) loses at most the step in
flight. A torn last line (the kill hit mid-write) is detected on load and cut off.
The history feeds the plots (metric and bound per step) and the resume of a killed
run (:meth:`genz_pyro.discovery.Discovery.resume`).

Record fields (``StepRecord``):

======================  =============================================================
``step``                0-based step index (one per record)
``action``              ``"add"``, ``"remove"``, ``"discard"``, ``"zero-shot"``, ``"select"``
``algorithm``           ``"alg1"``, ``"alg2"``, ``"alg3"``, ``"zero-shot"``, ``"given"`` (a known description), ``"refine"``
``feature``             the description added / removed / discarded ("" for none)
``reason``              why a feature was discarded (``"activity"``, ``"duplicate"``) or ""
``exemplars``           ``{"positive": [ids], "negative": [ids]}`` shown to the miner
``subgroup``            Algorithm 2's combination of the other features (list of 0/1) or None
``eps``                 the feature's flip probability (``nan`` for removals)
``activity``            share of TRAINING items judged positive for the feature
``features``            the feature descriptions in the model after the step
``eps_all``             their flip probabilities
``metric``              ``{"train": .., "val": .., "test": ..}`` (``nan`` for an empty split); for a
                        median metric also ``"val_criterion"``, the validation criterion the
                        run's choices use (the mean of the same errors)
``bound``               the training bound (nats, total) after the step
``usage``               FM usage during the step: calls, input/output tokens, cost, cache hits
``time``                seconds: ``{"fit": .., "fm": .., "total": ..}``
``seed``                the step's derived seed
``plan_pos``            position of the step in the pending ``run()`` plan (-1: a direct call)
``judges``              with a panel of judges (``{}`` otherwise): their names, ``false_yes`` /
                        ``false_no`` ``[K][J]``, ``pi``, the several-judges model's ``metric``,
                        each extra judge's ``usage`` (:mod:`genz_pyro.discovery.judges`)
``spec``                the flip-probability treatment and ridge of the fit after the step:
                        ``{"eps": value or None (learned), "ridge": r}``
``selection``           what was chosen on validation at this step, or ``None``: a treatment
                        check (``{"kind": "treatment", "scores": {label: val}, ...}``) or a
                        phase of the automatic loop (``{"kind": "best", ...}``)
======================  =============================================================
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from genz_pyro.fm.protocol import Usage

__all__ = ["StepRecord", "RunHistory", "ACTIONS", "step_seed", "usage_delta"]

ACTIONS = ("add", "remove", "discard", "zero-shot", "select")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def _none_to_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


@dataclass
class StepRecord:
    """One step of a discovery run (see the module docstring for the fields)."""

    step: int
    action: str
    algorithm: str
    feature: str = ""
    reason: str = ""
    exemplars: dict[str, list[str]] = field(default_factory=lambda: {"positive": [], "negative": []})
    subgroup: list[int] | None = None
    eps: float = float("nan")
    activity: float = float("nan")
    features: list[str] = field(default_factory=list)
    eps_all: list[float] = field(default_factory=list)
    metric: dict[str, float] = field(default_factory=dict)
    bound: float = float("nan")
    usage: dict[str, float] = field(default_factory=dict)
    time: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    plan_pos: int = -1
    judges: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {ACTIONS}, got {self.action!r}")

    def to_json(self) -> str:
        """One line of canonical JSON (non-finite floats written as ``null``)."""
        return json.dumps(_nan_to_none(asdict(self)), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> "StepRecord":
        """Parse a line written by :meth:`to_json`."""
        raw = json.loads(line)
        for key in ("eps", "activity", "bound"):
            raw[key] = _none_to_nan(raw.get(key))
        raw["eps_all"] = [_none_to_nan(v) for v in raw.get("eps_all", [])]
        raw["metric"] = {k: _none_to_nan(v) for k, v in raw.get("metric", {}).items()}
        return cls(**raw)

    def comparable(self) -> dict[str, Any]:
        """The record without wall times (what must match between two runs with one seed)."""
        d = json.loads(self.to_json())
        d.pop("time")
        return d


class RunHistory:
    """An append-only JSONL file of :class:`StepRecord`, or an in-memory list.

    Args:
        path: the ``history.jsonl`` file, or ``None`` to keep the records in memory only.
            An existing file is loaded (a torn last line is cut off, unless ``repair=False``).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, repair: bool = True) -> None:
        self.path = None if path is None else Path(path)
        self.records: list[StepRecord] = []
        if self.path is not None and self.path.exists():
            self.records = self._load_and_repair(self.path, repair=repair)

    @staticmethod
    def _load_and_repair(path: Path, *, repair: bool = True) -> list[StepRecord]:
        data = path.read_bytes()
        records: list[StepRecord] = []
        good_end = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:  # torn last line (killed mid-write): drop it
                break
            line = data[pos:nl].decode("utf-8")
            try:
                rec = StepRecord.from_json(line)
            except (ValueError, TypeError, KeyError) as exc:
                if data.find(b"\n", nl + 1) < 0 and not data[nl + 1 :].strip():
                    break  # corrupt final line: treat as torn
                raise ValueError(
                    f"history: {path} line {len(records) + 1} is not a valid step record ({exc}); "
                    "the file was edited or corrupted: restore it or start a new run_dir"
                ) from exc
            if rec.step != len(records):
                raise ValueError(
                    f"history: {path} line {len(records) + 1} has step {rec.step}, expected {len(records)}; "
                    "records must be consecutive: restore the file or start a new run_dir"
                )
            records.append(rec)
            good_end = nl + 1
            pos = nl + 1
        if good_end < len(data) and repair:
            with open(path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
        return records

    def append(self, record: StepRecord) -> None:
        """Add ``record`` (its ``step`` must be ``len(self)``); durable on return."""
        if record.step != len(self.records):
            raise ValueError(f"record: step {record.step} does not follow the last step {len(self.records) - 1}")
        line = record.to_json() + "\n"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        self.records.append(record)

    @classmethod
    def load(cls, path: str | os.PathLike, *, repair: bool = True) -> "RunHistory":
        """Read an existing ``history.jsonl`` (``repair=False``: a torn last line is skipped
        but left on disk, for readers of a run another process may be writing).

        Raises:
            ValueError: when the file does not exist or a record in the middle is corrupt.
        """
        p = Path(path)
        if not p.exists():
            raise ValueError(f"path: no run history at {p}; pass the history.jsonl of an existing run")
        return cls(p, repair=repair)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[StepRecord]:
        return iter(self.records)

    def __getitem__(self, i: int) -> StepRecord:
        return self.records[i]

    def column(self, name: str, split: str | None = None) -> list[float]:
        """One field across the steps, e.g. ``column("bound")`` or ``column("metric", "test")``."""
        out = []
        for r in self.records:
            v = getattr(r, name)
            out.append(_none_to_nan(v.get(split)) if split is not None else v)
        return out


def step_seed(seed: int, step: int) -> int:
    """The seed of step ``step`` of a run seeded with ``seed`` (independent streams per step)."""
    return int(np.random.SeedSequence([int(seed), int(step)]).generate_state(1)[0] % (2**31 - 1))


def usage_delta(before: Usage, after: Usage) -> dict[str, float]:
    """The foundation-model usage between two snapshots, as stored in a :class:`StepRecord`."""
    return {
        "calls": after.calls - before.calls,
        "input_tokens": after.input_tokens - before.input_tokens,
        "output_tokens": after.output_tokens - before.output_tokens,
        "cost_usd": after.cost_usd - before.cost_usd,
        "cache_hits": after.cache_hits - before.cache_hits,
    }
