"""genz_pyro.discovery."""
