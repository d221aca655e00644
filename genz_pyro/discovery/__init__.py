"""Feature discovery: Algorithms 1-4, the zero-shot baseline, exemplars, run history, resume.

The entry point is :class:`Discovery`; the pieces stay importable for research use.
"""

from genz_pyro.discovery.algorithms import (
    AddOutcome,
    FitSpec,
    RemoveOutcome,
    add_step,
    estimate_eps,
    remove_step,
)
from genz_pyro.discovery.exemplars import ExemplarConfig, ExemplarSplit, sample_exemplars, split_by_posterior
from genz_pyro.discovery.history import RunHistory, StepRecord
from genz_pyro.discovery.plans import make_plan
from genz_pyro.discovery.refit import refit_rows, refit_train_val
from genz_pyro.discovery.scoring import Scorer
from genz_pyro.discovery.history import step_seed
from genz_pyro.discovery.auto import run_auto
from genz_pyro.discovery.selection import Selection, Treatment, check_treatment
from genz_pyro.discovery.session import Discovery
from genz_pyro.discovery.subgroups import Subgroup, largest_error_subgroup, scaled_sq_error
from genz_pyro.discovery.wording import refine_step
from genz_pyro.discovery.zeroshot import run_zero_shot, select_best

__all__ = [
    "Discovery",
    "ExemplarConfig",
    "ExemplarSplit",
    "sample_exemplars",
    "split_by_posterior",
    "RunHistory",
    "StepRecord",
    "FitSpec",
    "AddOutcome",
    "RemoveOutcome",
    "add_step",
    "remove_step",
    "refine_step",
    "estimate_eps",
    "Subgroup",
    "largest_error_subgroup",
    "scaled_sq_error",
    "Scorer",
    "run_zero_shot",
    "select_best",
    "step_seed",
    "make_plan",
    "refit_rows",
    "refit_train_val",
    "Selection",
    "Treatment",
    "check_treatment",
    "run_auto",
]
