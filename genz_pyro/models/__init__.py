"""genz_pyro.models."""
