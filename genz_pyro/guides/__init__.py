"""genz_pyro.guides: variational families for the GenZ model."""

from genz_pyro.guides.mean_field import MeanFieldGuide

__all__ = ["MeanFieldGuide"]
