"""What a discovery writes to its run directory and reads back: the run's configuration
(``config.json``), the checkpointed state of a step (``params.pt``) and the derived files
(``features.json``, ``predictions.csv``, ``judges.json``).

:class:`~genz_pyro.discovery.session.Discovery` calls these from ``_config``, ``_state``,
``_restore`` and ``_write_outputs``; they are kept here so the session module holds the
steps and this one the run directory's formats (see docs/run_directory.md).

Shapes: ``disc.judgments`` ``[N, K]`` (0/1), the state's ``"judgments"`` ``[N, K]`` uint8,
``"pool"`` ``[N, P]`` uint8 (one column per pooled description).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genz_pyro.discovery import persist
from genz_pyro.discovery.judges import panel_restore, panel_state, write_judges
from genz_pyro.discovery.selection import Treatment
from genz_pyro.fm.mixed import MixedModel

if TYPE_CHECKING:  # pragma: no cover
    from genz_pyro.discovery.state import DiscoveryState as Discovery

__all__ = ["run_config", "state_of", "restore", "write_run_outputs"]


def run_config(disc: "Discovery") -> dict[str, Any]:
    """The settings that define a run (``config.json``; a resume checks them against its own)."""
    judging: dict[str, Any] = {}
    if isinstance(disc.model, MixedModel):  # judged by another model, or soft judgments chosen
        judging = {"judge_model": disc.model.judge_model.name, "soft": disc.model.soft}
    return {
        "format": "genz-pyro-discovery/1",
        "dataset": disc.dataset.name,
        "num_items": len(disc.ids),
        "fingerprint": persist.dataset_fingerprint(disc.items, disc._y.numpy()),
        "model": getattr(disc.model, "name", type(disc.model).__name__),
        "link": disc.spec.link,
        "engine": disc.spec.engine,
        "fit_options": dict(disc.spec.options),
        "eps_fixed": disc.spec.eps_fixed,
        "metric": disc.scorer.name,
        "greater_is_better": disc.scorer.greater_is_better,
        "seed": disc.seed,
        "exemplars": asdict(disc.exemplars),
        "min_activity": disc.min_activity,
        "max_activity": disc.max_activity,
        **({"judges": list(disc.panel.names), "judges_options": disc.judges_options} if disc.panel else {}),
        **judging,
        "selection": None if disc.selection is None else disc.selection.to_json(),
    }


def state_of(disc: "Discovery") -> dict[str, Any]:
    """The state of the current step: features, judgments ``[N, K]``, pool, fit, panel, treatment."""
    return {
        "descriptions": list(disc.descriptions),
        "judgments": torch.as_tensor(disc.judgments, dtype=torch.uint8),
        "discarded": list(disc.discarded),
        "pool_descriptions": list(disc.pool),
        "pool": torch.as_tensor(
            np.stack(list(disc.pool.values()), axis=1) if disc.pool else np.zeros((len(disc.ids), 0)),
            dtype=torch.uint8,
        ),
        "fit": persist.fit_to_state(disc._result),
        **({"panel": panel_state(disc)} if disc.panel is not None else {}),
        "spec": Treatment.of(disc.spec).to_json(),
    }


def restore(disc: "Discovery", state: dict[str, Any]) -> None:
    """Make ``state`` (from :func:`state_of`, maybe loaded from ``params.pt``) the current one."""
    n = len(disc.ids)
    disc.descriptions = list(state["descriptions"])
    disc.judgments = state["judgments"].numpy().astype(np.float64).reshape(n, -1)
    disc.discarded = list(state["discarded"])
    pool = state["pool"].numpy().astype(np.float64).reshape(n, -1)
    disc.pool = {d: pool[:, j].copy() for j, d in enumerate(state["pool_descriptions"])}
    disc._result = persist.fit_from_state(
        state["fit"], link=disc.spec.link, target_dim=disc._y.shape[1],
        covariate_dim=0 if disc._u is None else int(disc._u.shape[1]),
    )
    panel_restore(disc, state.get("panel"))
    if "spec" in state:  # the treatment of the restored fit (chosen on validation during the run)
        disc.spec = Treatment(state["spec"]["eps"], float(state["spec"]["ridge"])).apply(disc.spec)
    disc._last_state = state


def write_run_outputs(disc: "Discovery") -> None:
    """Rewrite the derived files of the run directory from the current state (atomic writes)."""
    assert disc.run_dir is not None
    split = np.full(len(disc.ids), "", dtype=object)
    split[disc.train], split[disc.val], split[disc.test] = "train", "val", "test"
    persist.write_outputs(
        disc.run_dir,
        ids=disc.ids,
        split=split,
        descriptions=disc.descriptions,
        activity=disc.judgments[disc.train].mean(0) if disc.descriptions else np.zeros(0),
        result=disc._result,
        predictions=disc._predict_rows(np.arange(len(disc.ids)), disc._result, disc.judgments),
        targets=disc._y.numpy(),
    )
    if disc.panel is not None and len(disc.history):
        write_judges(disc.run_dir, disc.history[-1].judges, disc.descriptions)
