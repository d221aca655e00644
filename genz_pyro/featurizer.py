"""GenZ as a featurizer: discovered yes/no features, in words, as columns for any model.

``GenZFeaturizer(GenZRegressor(...))`` is a scikit-learn transformer: ``fit(items, y)``
runs feature discovery (a clone of the given :class:`~genz_pyro.estimator.GenZRegressor`),
``transform(items)`` returns the judgments ``[n, K]`` of every discovered feature on the
items (or the posterior means of the latent features given the judgments), and
``get_feature_names_out()`` gives the features in words, so the discovered features feed
any downstream model::

    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(GenZFeaturizer(GenZRegressor("offline", algorithm=1, cycles=6)),
                         GradientBoostingRegressor())
    pipe.fit(items, y).predict(new_items)

Grid searches reach the regressor's parameters as ``genzfeaturizer__estimator__cycles``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genz_pyro.estimator import GenZRegressor
from genz_pyro.sklearn_compat import BaseEstimator, NotFittedError, TransformerMixin, clone_param

__all__ = ["GenZFeaturizer", "OUTPUTS"]

#: ``"judgments"``: the foundation model's answers ``s [n, K]`` (0/1, or P(yes) with soft judgments);
#: ``"z_mean"``: ``E[z | s] = eps + (1 - 2 eps) s``, the latent features' posterior means
#: given the judgments alone (no target), with the fitted flip probabilities ``eps [K]``
OUTPUTS = ("judgments", "z_mean")


class GenZFeaturizer(TransformerMixin, BaseEstimator):
    """Discover features on ``(items, y)``; transform items into their judgments.

    Args:
        estimator: the :class:`GenZRegressor` whose discovery makes the features
            (cloned in :meth:`fit`; ``None``: ``GenZRegressor()``).
        output: ``"judgments"`` (0/1) or ``"z_mean"`` (see :data:`OUTPUTS`).

    Attributes (after ``fit``):
        estimator_: the fitted :class:`GenZRegressor`.
        features_: the discovered descriptions (``K``).
        n_features_in_, feature_names_in_: the input table's columns (table inputs only).
    """

    def __init__(self, estimator: GenZRegressor | None = None, *, output: str = "judgments") -> None:
        self.estimator = estimator
        self.output = output

    def __sklearn_tags__(self) -> Any:
        """Transformer tags like the regressor's input tags; targets required."""
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimator_")

    def fit(self, items: Any, y: Any, covariates: Any = None) -> "GenZFeaturizer":
        """Discover features on ``items`` (any input of :mod:`genz_pyro.inputs`) and ``y``.

        Returns:
            ``self``.
        """
        if self.output not in OUTPUTS:
            raise ValueError(f"output: must be one of {OUTPUTS}, got {self.output!r}")
        est = GenZRegressor() if self.estimator is None else self.estimator
        if not isinstance(est, GenZRegressor):
            raise ValueError(f"estimator: expected a GenZRegressor (its discovery makes the features), got {est!r}")
        self.estimator_ = clone_param(est).fit(items, y, covariates)
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, attr):
                setattr(self, attr, getattr(self.estimator_, attr))
            elif hasattr(self, attr):
                delattr(self, attr)
        self.features_ = list(self.estimator_.features_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise NotFittedError(f"{type(self).__name__}: not fitted yet; call fit(items, y) first")

    def transform(self, items: Any) -> np.ndarray:
        """``[n, K]`` float array: the judgments (or ``E[z | s]``) of every feature on ``items``
        (for a soft judgment ``s`` in [0, 1], ``E[z | s]`` is the same linear formula).

        New items cost model calls (one judge request per feature); items judged before
        (e.g. the training items) are served by the cache.
        """
        self._check_fitted()
        s = self.estimator_.judge(items)
        if self.output == "z_mean" and s.shape[1]:
            eps = np.asarray(self.estimator_.eps_, dtype=np.float64)
            return eps + (1.0 - 2.0 * eps) * s
        return s

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The discovered features in words (``K`` strings, object array)."""
        self._check_fitted()
        return np.asarray(self.features_, dtype=object)
