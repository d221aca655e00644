"""genz_pyro.datasets: loaders that return a :class:`Dataset` (items, targets, covariates, split).

Loaders take paths; nothing is downloaded or bundled (see ``docs/datasets.md``).
"""

from genz_pyro.datasets.base import Dataset, split_indices
from genz_pyro.datasets.binary import load_binary
from genz_pyro.datasets.houses import load_houses
from genz_pyro.datasets.movies import cold_start_curve, load_movies, ratings_equivalent
from genz_pyro.datasets.planted import make_planted, oracle_r2

__all__ = [
    "Dataset",
    "split_indices",
    "load_binary",
    "load_houses",
    "load_movies",
    "cold_start_curve",
    "ratings_equivalent",
    "make_planted",
    "oracle_r2",
]
