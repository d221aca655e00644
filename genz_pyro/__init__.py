"""genz-pyro: foundation models as generators of latent binary features inside Pyro models.

The pieces, each importable on its own:

- :mod:`genz_pyro.models` — the GenZ Pyro model (:class:`GenZModel`) and its links;
- :mod:`genz_pyro.guides` — the mean-field guide (:class:`MeanFieldGuide`);
- :mod:`genz_pyro.infer` — :func:`fit` (engines ``"sem"``, ``"cavi"``, ``"em"``, ``"svi"``, ...),
  :func:`posterior`, the bound, :class:`FitResult`;
- :mod:`genz_pyro.predict` — predictive mean and intervals for new items;
- several judges per feature (Dawid-Skene rates): :class:`JudgesData`, :class:`JudgesModel`,
  :func:`fit_judges`, :func:`predict_judges` (``docs/judges.md``);
- :mod:`genz_pyro.fm` — foundation models (offline, Anthropic, OpenAI), cache, budget;
- :mod:`genz_pyro.discovery` — Algorithms 1-4 and the zero-shot baseline (:class:`Discovery`);
- :mod:`genz_pyro.datasets`, :mod:`genz_pyro.metrics`, :mod:`genz_pyro.baselines`;
- :class:`GenZRegressor` — the scikit-learn-style estimator; ``genz`` — the command.

Threads: torch uses every core by default. On a machine shared with other processes,
OpenMP threads that spin while they wait can make a fit 20x slower (BENCHMARKS.md,
"Threads"); call ``torch.set_num_threads(1)`` (what the ``genz`` command does unless given
``--threads``) or set ``OMP_WAIT_POLICY=PASSIVE`` before importing torch.
"""

from genz_pyro.data import GenZData
from genz_pyro.discovery import Discovery
from genz_pyro.guides import MeanFieldGuide
from genz_pyro.infer import FitResult, JudgesFit, fit, fit_judges, posterior
from genz_pyro.judge_data import JudgesData
from genz_pyro.models import GenZModel, JudgesModel, LinearLink, MLPLink
from genz_pyro.predict import heldout_bound, predict, predict_judges

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``GenZRegressor`` on first use (its module imports scikit-learn when installed)."""
    if name == "GenZRegressor":
        from genz_pyro.estimator import GenZRegressor

        return GenZRegressor
    raise AttributeError(f"module 'genz_pyro' has no attribute {name!r}")


__all__ = [
    "GenZData",
    "GenZModel",
    "LinearLink",
    "MLPLink",
    "MeanFieldGuide",
    "FitResult",
    "fit",
    "posterior",
    "predict",
    "heldout_bound",
    "JudgesData",
    "JudgesModel",
    "JudgesFit",
    "fit_judges",
    "predict_judges",
    "Discovery",
    "GenZRegressor",
    "__version__",
]
