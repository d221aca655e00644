"""genz_pyro.infer."""
