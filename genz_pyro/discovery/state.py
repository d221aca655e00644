"""What the discovery's helper modules use of a :class:`~genz_pyro.discovery.session.Discovery`.

:mod:`~genz_pyro.discovery.plans` (plans and resume), :mod:`~genz_pyro.discovery.zeroshot`,
:mod:`~genz_pyro.discovery.refit`, :mod:`~genz_pyro.discovery.judges`, ``auto``, ``scoring``,
``selection`` and ``wording`` work on a
discovery's state; the session module imports them. They type that state with the
:class:`DiscoveryState` protocol below instead of importing the session module, so the
modules import in one direction only (``session`` -> helpers -> ``state``): no circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.datasets.base import Dataset
from genz_pyro.discovery.algorithms import FitSpec
from genz_pyro.discovery.history import RunHistory, StepRecord
from genz_pyro.fm.protocol import FoundationModel, Item
from genz_pyro.infer.result import FitResult

__all__ = ["DiscoveryState"]


class DiscoveryState(Protocol):
    """The attributes and methods of a :class:`~genz_pyro.discovery.session.Discovery` that
    its helper modules read and call (see the session module for their meaning).

    Shapes: ``judgments`` ``[N, K]`` (0/1 of every item on the current features), ``pool``
    values ``[N]``, ``train`` / ``val`` / ``test`` row indices, ``_y`` ``[N, D]``, ``_u``
    ``[N, C]`` or ``None``.
    """

    dataset: Dataset
    items: dict[str, Item]
    ids: list[str]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    run_dir: Path | None
    history: RunHistory
    model: FoundationModel
    spec: FitSpec
    scorer: Any  # a genz_pyro.discovery.scoring.Scorer (scoring types its helpers with this protocol)
    descriptions: list[str]
    judgments: np.ndarray
    discarded: list[str]
    pool: dict[str, np.ndarray]
    min_activity: float
    max_activity: float
    panel: Any
    judges_options: Any
    judges_result: Any
    panel_answers: Any
    _plan: dict[str, Any] | None
    _result: FitResult | None
    _last_state: dict[str, Any] | None
    exemplars: Any  # a genz_pyro.discovery.exemplars.ExemplarConfig
    selection: Any  # a genz_pyro.discovery.selection.Selection or None
    _y: torch.Tensor
    _u: torch.Tensor | None

    @property
    def result(self) -> FitResult | None: ...

    def train_data(self) -> GenZData: ...

    def _data(self, rows: np.ndarray, judgments: np.ndarray, names: Sequence[str] | None = None) -> GenZData: ...

    def _record(self, **fields: Any) -> StepRecord: ...

    def _commit(self, record: StepRecord) -> StepRecord: ...

    def remove_feature(self, *, _plan_pos: int = -1, _algorithm: str = "alg3") -> StepRecord: ...

    def _open_plan(self, args: dict[str, Any]) -> int: ...

    def _pending_plan(self) -> dict[str, Any] | None: ...

    def _close_plan(self) -> None: ...

    def _wrap_cached(self, model: FoundationModel) -> FoundationModel: ...

    def _use_models(
        self, model: FoundationModel, judge_model: FoundationModel | None, soft: bool | None, cache: bool
    ) -> None: ...

    def _restore(self, state: Mapping[str, Any]) -> None: ...

    def _write_outputs(self) -> None: ...

    def _predict_rows(self, rows: np.ndarray, result: FitResult | None, judgments: np.ndarray) -> np.ndarray: ...

    def _hold_lock(self, run_dir: Path) -> None: ...

    def continue_pending(self) -> None: ...
