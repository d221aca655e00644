"""genz_pyro.guides."""
