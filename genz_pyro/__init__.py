"""genz-pyro: foundation models as generators of latent binary features inside Pyro models.

The pieces, each importable on its own:

- :mod:`genz_pyro.models` — the GenZ Pyro model (:class:`GenZModel`) and its links;
- :mod:`genz_pyro.guides` — the mean-field guide (:class:`MeanFieldGuide`);
- :mod:`genz_pyro.infer` — :func:`fit` (engines ``"sem"``, ``"cavi"``, ``"em"``, ``"svi"``, ...),
  :func:`posterior`, the bound, :class:`FitResult`;
- :mod:`genz_pyro.predict` — predictive mean and intervals for new items;
- :mod:`genz_pyro.fm` — foundation models (offline, Anthropic, OpenAI), cache, budget;
- :mod:`genz_pyro.discovery` — Algorithms 1-4 and the zero-shot baseline (:class:`Discovery`);
- :mod:`genz_pyro.datasets`, :mod:`genz_pyro.metrics`, :mod:`genz_pyro.baselines`;
- :class:`GenZRegressor` — the scikit-learn-style estimator; ``genz`` — the command.

Threads: when this package is imported before torch, it sets ``OMP_WAIT_POLICY=PASSIVE``
unless the variable is already set. torch's OpenMP threads otherwise spin while they wait,
and on a machine where another process holds a core that made a 2-thread fit 20x slower
(45.5 s instead of 2.1-2.9 s at (20 000, 100, 32); BENCHMARKS.md). Set the variable yourself
(``OMP_WAIT_POLICY=ACTIVE``) to keep the OpenMP default.
"""

import os as _os
import sys as _sys

if "torch" not in _sys.modules:  # OpenMP reads it once, when torch loads
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from genz_pyro.data import GenZData  # noqa: E402
from genz_pyro.discovery import Discovery  # noqa: E402
from genz_pyro.estimator import GenZRegressor  # noqa: E402
from genz_pyro.guides import MeanFieldGuide  # noqa: E402
from genz_pyro.infer import FitResult, fit, posterior  # noqa: E402
from genz_pyro.models import GenZModel, LinearLink, MLPLink  # noqa: E402
from genz_pyro.predict import heldout_bound, predict  # noqa: E402

__version__ = "0.1.0"

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
    "Discovery",
    "GenZRegressor",
    "__version__",
]
