"""The offline deterministic foundation model (a predicate grammar); see ``docs/offline_model.md``."""

from genz_pyro.fm.offline.model import OFFLINE_VERSION, OfflineModel

__all__ = ["OfflineModel", "OFFLINE_VERSION"]
