"""genz_pyro.models: the GenZ Pyro model and its links."""

from genz_pyro.models.genz import EPS_MAX, EPS_MIN, GenZModel, check_eps, expected_linear_loglik
from genz_pyro.models.judges import JudgesModel
from genz_pyro.models.links import LinearLink, MLPLink, make_link

__all__ = [
    "GenZModel",
    "JudgesModel",
    "LinearLink",
    "MLPLink",
    "make_link",
    "check_eps",
    "expected_linear_loglik",
    "EPS_MIN",
    "EPS_MAX",
]
