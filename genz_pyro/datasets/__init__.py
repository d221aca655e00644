"""genz_pyro.datasets."""
