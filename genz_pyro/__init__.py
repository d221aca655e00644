"""genz-pyro: foundation models as latent-variable generators inside Pyro models."""

__version__ = "0.1.0"

