"""genz_pyro.fm."""
