"""scikit-learn's estimator base classes when scikit-learn is installed, stand-ins when not.

:class:`~genz_pyro.estimator.GenZRegressor` and
:class:`~genz_pyro.featurizer.GenZFeaturizer` subclass ``BaseEstimator`` and
``RegressorMixin`` / ``TransformerMixin`` from here. With scikit-learn installed
(``pip install 'genz-pyro[sklearn]'``) these are scikit-learn's own classes, so
``clone``, ``get_params`` / ``set_params``, the HTML repr, metadata routing and the
estimator tags behave as for any scikit-learn estimator. Without it, small stand-ins
give ``get_params`` / ``set_params`` / ``repr`` / ``fit_transform`` so the estimators
still work in plain Python.

Importing this module imports ``sklearn.base`` when it is installed (about 0.5 s on top
of torch); ``import genz_pyro`` does not import it until the estimator is used.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = [
    "HAVE_SKLEARN",
    "BaseEstimator",
    "NotFittedError",
    "RegressorMixin",
    "TransformerMixin",
    "clone_param",
    "require_sklearn",
]

INSTALL_HINT = "install scikit-learn: pip install 'genz-pyro[sklearn]' (or pip install scikit-learn)"


def require_sklearn(what: str) -> None:
    """Raise ImportError naming ``what`` and the install command when scikit-learn is absent."""
    if not HAVE_SKLEARN:
        raise ImportError(f"{what} needs scikit-learn; {INSTALL_HINT}")


try:  # the real classes when scikit-learn is installed
    from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
    from sklearn.base import clone as _sk_clone
    from sklearn.exceptions import NotFittedError

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by tests/estimator/test_without_optional.py in a subprocess
    HAVE_SKLEARN = False
    _sk_clone = None

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """Stand-in for ``sklearn.exceptions.NotFittedError``: a method needs a fitted estimator."""

    class BaseEstimator:  # type: ignore[no-redef]
        """Stand-in: parameters are the keyword arguments of ``__init__`` (scikit-learn's rule)."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            """The constructor arguments (with ``name__param`` entries of nested estimators)."""
            out: dict[str, Any] = {}
            for name in self._get_param_names():
                value = getattr(self, name)
                if deep and hasattr(value, "get_params") and not isinstance(value, type):
                    out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
                out[name] = value
            return out

        def set_params(self, **params: Any) -> "BaseEstimator":
            """Set constructor arguments (``name__param`` sets a nested estimator's)."""
            valid = self.get_params(deep=True)
            nested: dict[str, dict[str, Any]] = {}
            for key, value in params.items():
                name, _, sub = key.partition("__")
                if name not in valid:
                    raise ValueError(f"set_params: unknown parameter {name!r} for {type(self).__name__}; "
                                     f"valid: {sorted(self._get_param_names())}")
                if sub:
                    nested.setdefault(name, {})[sub] = value
                else:
                    setattr(self, name, value)
            for name, sub_params in nested.items():
                getattr(self, name).set_params(**sub_params)
            return self

        def __repr__(self) -> str:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
            return f"{type(self).__name__}({args})"

    class RegressorMixin:  # type: ignore[no-redef]
        """Stand-in (the estimators define their own ``score``)."""

    class TransformerMixin:  # type: ignore[no-redef]
        """Stand-in: ``fit_transform`` and a ``set_output`` that names the missing library."""

        def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
            return self.fit(X, y, **fit_params).transform(X)  # type: ignore[attr-defined]

        def set_output(self, *, transform: Any = None) -> Any:
            require_sklearn("set_output")


def clone_param(value: Any) -> Any:
    """A fresh copy of one parameter value: scikit-learn's ``clone`` for estimators
    (unfitted copy), ``copy.deepcopy`` for plain values."""
    if _sk_clone is not None:
        return _sk_clone(value, safe=False)
    import copy

    if hasattr(value, "__sklearn_clone__") and not isinstance(value, type):
        return value.__sklearn_clone__()
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value)(**{k: clone_param(v) for k, v in value.get_params(deep=False).items()})
    return copy.deepcopy(value)
