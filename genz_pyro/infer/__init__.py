"""genz_pyro.infer: inference engines for the GenZ model and their common result type.

``fit`` dispatches to the engines (``"sem"``, ``"cavi"``, ``"em"``, ``"svi"``, ``"exact"``,
``"moments"``; the default, :func:`default_engine`, is ``"moments"`` for the linear link on
N >= 10 000 items and ``"sem"`` otherwise);
``posterior`` is the E step alone; ``mean_field_bound`` the per-item bound.
``fit_judges`` fits the model with several judges per feature (:mod:`.judges`).
``fit_svi`` is imported lazily (it pulls in the Pyro model and guide).
"""

from __future__ import annotations

from typing import Any

from genz_pyro.infer.bound import mean_field_bound
from genz_pyro.infer.fit import DEFAULT_ENGINE, ENGINES, default_engine, fit, posterior
from genz_pyro.infer.judges import JudgesFit, fit_judges, judges_posterior
from genz_pyro.infer.result import FitResult

__all__ = [
    "fit",
    "posterior",
    "mean_field_bound",
    "FitResult",
    "fit_svi",
    "ENGINES",
    "DEFAULT_ENGINE",
    "default_engine",
    "fit_judges",
    "judges_posterior",
    "JudgesFit",
]


def __getattr__(name: str) -> Any:
    if name == "fit_svi":
        from genz_pyro.infer.svi import fit_svi

        return fit_svi
    raise AttributeError(f"module 'genz_pyro.infer' has no attribute {name!r}")
