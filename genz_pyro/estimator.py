"""A scikit-learn-style estimator over the discovery machinery.

``GenZRegressor(...).fit(items, y, covariates=None)`` runs feature discovery
(:class:`~genz_pyro.discovery.Discovery`) with a foundation model on an in-memory
dataset; ``predict`` judges new items with the discovered features and returns the
predicted means; ``score`` is R^2.

Example::

    from genz_pyro.estimator import GenZRegressor

    items = [str(i) for i in range(512)]
    y = [float(i) for i in range(512)]
    reg = GenZRegressor("offline", algorithm=1, cycles=9).fit(items, y)
    reg.features_          # nine bit features
    reg.predict(["37", "300"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from genz_pyro.datasets.base import Dataset, split_indices
from genz_pyro.fm.protocol import FoundationModel, Item

__all__ = ["GenZRegressor", "as_items"]


def as_items(items: Mapping[str, Item] | Sequence[Item], *, name: str = "items") -> dict[str, Item]:
    """``{id: item}`` from a mapping (kept) or a sequence (ids ``"0".."N-1"``).

    Raises:
        ValueError: naming ``name`` for a string, an empty collection or non-string ids.
    """
    if isinstance(items, (str, bytes)):
        raise ValueError(f"{name}: expected a list of items or a mapping {{id: item}}, got one string; wrap it in a list")
    if isinstance(items, Mapping):
        out = dict(items)
        bad = [k for k in out if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{name}: item ids must be strings, got {bad[0]!r}; use {{str(id): item}}")
    else:
        try:
            out = {str(i): it for i, it in enumerate(items)}
        except TypeError:
            raise ValueError(f"{name}: expected a list of items or a mapping {{id: item}}, "
                             f"got {type(items).__name__}") from None
    if not out:
        raise ValueError(f"{name}: no items given")
    return out


class GenZRegressor:
    """Discover interpretable yes/no features with a foundation model and fit GenZ.

    Args:
        model: a :class:`FoundationModel` or a spec for ``genz_pyro.fm.make_model``
            (``"offline"``, ``"anthropic:MODEL"``, ``"openai:MODEL"``).
        link: ``"linear"`` or ``"mlp"``.
        engine: inference engine (``None``: the default for the link).
        algorithm: 1, 2, 3 or 4 (``Discovery.run``) or ``"zero-shot"``.
        cycles, n_add, n_remove, add_algorithm: the plan (see ``Discovery.run``).
        zero_shot_n: proposals of the zero-shot baseline (``algorithm="zero-shot"``).
        metric: the discovery's metric name (recorded per step).
        seed: seeds the discovery.
        run_dir: optional run directory (history, checkpoints, cache; resumable).
        cache: optional :class:`~genz_pyro.fm.cache.JudgmentCache` or path of one; answers
            are served from it and written to it.
        budget: optional :class:`~genz_pyro.fm.budget.Budget` for an SDK backend.
        base_url: optional server URL for an SDK backend (OpenAI-compatible servers).
        val_fraction: share of items held out for validation (required > 0 by
            ``"zero-shot"``, which selects on it; default 0.2 then, else 0).
        fit_options: extra keyword arguments for the inference engine (e.g. ``{"ridge": 10.0}``).
        eps_fixed: hold every feature's flip probability at this value instead of learning it
            (``None``: learned, as in the paper; see ``genz_pyro.discovery.FitSpec``).
        min_activity: discard features judged positive for fewer than this share of the
            training items (paper: 0.02).
        judge_model: judge every item with this model (a :class:`FoundationModel` or a spec such
            as ``"gguf:PATH"``) and mine with ``model``; ``None``: ``model`` does both.
        soft: judgments as P(yes) (``True``), as yes/no (``False``) or as the judging model
            gives them (``None``; see ``genz_pyro.discovery.Discovery``).

    Attributes (after ``fit``):
        features_: the discovered descriptions (``K``).
        result_: the :class:`~genz_pyro.infer.result.FitResult` on the training items.
        history_: the :class:`~genz_pyro.discovery.history.RunHistory`.
        discovery_: the :class:`~genz_pyro.discovery.Discovery`.
        eps_: ``[K]`` flip probabilities.
    """

    def __init__(
        self,
        model: str | FoundationModel = "offline",
        *,
        link: str = "linear",
        engine: str | None = None,
        algorithm: int | str = 4,
        cycles: int = 2,
        n_add: int = 5,
        n_remove: int = 2,
        add_algorithm: int = 2,
        zero_shot_n: int = 30,
        metric: str = "r2",
        seed: int = 0,
        run_dir: str | Path | None = None,
        cache: Any = None,
        budget: Any = None,
        base_url: str | None = None,
        val_fraction: float | None = None,
        fit_options: Mapping[str, Any] | None = None,
        eps_fixed: float | None = None,
        min_activity: float = 0.02,
        judge_model: str | FoundationModel | None = None,
        soft: bool | None = None,
    ) -> None:
        self.model = model
        self.link = link
        self.engine = engine
        self.algorithm = algorithm
        self.cycles = cycles
        self.n_add = n_add
        self.n_remove = n_remove
        self.add_algorithm = add_algorithm
        self.zero_shot_n = zero_shot_n
        self.metric = metric
        self.seed = seed
        self.run_dir = run_dir
        self.cache = cache
        self.budget = budget
        self.base_url = base_url
        self.val_fraction = val_fraction
        self.fit_options = fit_options
        self.eps_fixed = eps_fixed
        self.min_activity = min_activity
        self.judge_model = judge_model
        self.soft = soft

    # ---------------------------------------------------------------- helpers
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn convention)."""
        keys = ("model", "link", "engine", "algorithm", "cycles", "n_add", "n_remove", "add_algorithm",
                "zero_shot_n", "metric", "seed", "run_dir", "cache", "budget", "base_url", "val_fraction",
                "fit_options", "eps_fixed", "min_activity", "judge_model", "soft")
        return {k: getattr(self, k) for k in keys}

    def set_params(self, **params: Any) -> "GenZRegressor":
        """Set constructor arguments (scikit-learn convention)."""
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"set_params: unknown parameter {k!r}; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def _build_model(self, spec: Any = None, arg: str = "model") -> FoundationModel:
        """The foundation model of ``spec`` (default ``self.model``), cached when ``cache`` is set."""
        from genz_pyro.fm.cache import JudgmentCache
        from genz_pyro.fm.cached import CachedModel

        spec = self.model if spec is None else spec
        if isinstance(spec, FoundationModel):
            fm = spec
        elif isinstance(spec, str):
            from genz_pyro.fm.registry import make_model

            kwargs: dict[str, Any] = {}
            if spec.strip() != "offline":
                if self.budget is not None:
                    kwargs["budget"] = self.budget
                if self.base_url is not None and arg == "model":
                    kwargs["base_url"] = self.base_url
            fm = make_model(spec, **kwargs)
        else:
            raise ValueError(f"{arg}: expected a FoundationModel or a spec such as 'offline', got {spec!r}")
        if self.cache is not None and not isinstance(fm, CachedModel):
            cache = self.cache if isinstance(self.cache, JudgmentCache) else JudgmentCache(self.cache)
            fm = CachedModel(fm, cache)
        return fm

    def _covariates(self, covariates: Any, n: int, *, fitting: bool) -> np.ndarray | None:
        if covariates is None:
            if not fitting and getattr(self, "covariate_mean_", None) is not None:
                raise ValueError(f"covariates: the model was fitted with {self.covariate_mean_.size} covariate "
                                 "column(s); pass them for these items too")
            return None
        u = np.asarray(covariates, dtype=np.float64)
        if u.ndim == 1:
            u = u[:, None]
        if u.ndim != 2 or u.shape[0] != n:
            raise ValueError(f"covariates: expected shape [N, C] with N = {n} rows (one per item), got {u.shape}")
        if not np.isfinite(u).all():
            r, c = np.argwhere(~np.isfinite(u))[0]
            raise ValueError(f"covariates: non-finite value at item {r}, column {c}; impute or drop it")
        if fitting:
            self.covariate_mean_ = u.mean(0)
            sd = u.std(0)
            self.covariate_std_ = np.where(sd > 0, sd, 1.0)
        elif getattr(self, "covariate_mean_", None) is None:
            raise ValueError("covariates: the model was fitted without covariates; pass covariates=None")
        elif u.shape[1] != self.covariate_mean_.size:
            raise ValueError(f"covariates: expected {self.covariate_mean_.size} column(s) like in fit, got {u.shape[1]}")
        return (u - self.covariate_mean_) / self.covariate_std_

    # ---------------------------------------------------------------- API
    def fit(self, items: Mapping[str, Item] | Sequence[Item], y: Any, covariates: Any = None) -> "GenZRegressor":
        """Discover features and fit the model.

        Args:
            items: ``N`` items (a list, ids ``"0".."N-1"``, or ``{id: item}``).
            y: targets ``[N]`` or ``[N, D]``.
            covariates: optional ``[N, C]`` numeric inputs (standardised internally).

        Returns:
            ``self``.
        """
        from genz_pyro.discovery import Discovery

        its = as_items(items)
        n = len(its)
        yy = np.asarray(y, dtype=np.float64)
        self._y_1d = yy.ndim == 1
        if yy.ndim == 1:
            yy = yy[:, None]
        if yy.ndim != 2 or yy.shape[0] != n:
            raise ValueError(f"y: expected [N] or [N, D] with N = {n} (one row per item), got shape {yy.shape}")
        if not np.isfinite(yy).all():
            raise ValueError(f"y: non-finite value at item {int(np.argwhere(~np.isfinite(yy))[0][0])}; drop or impute it")
        self.covariate_mean_ = None
        u = self._covariates(covariates, n, fitting=True)
        zero_shot = self.algorithm == "zero-shot"
        if not zero_shot and self.algorithm not in (1, 2, 3, 4):
            raise ValueError(f"algorithm: must be 1, 2, 3, 4 or 'zero-shot', got {self.algorithm!r}")
        vf = self.val_fraction if self.val_fraction is not None else (0.2 if zero_shot else 0.0)
        train, val, _ = split_indices(n, test_fraction=0.0, val_fraction=vf, seed=self.seed)
        ds = Dataset(name="estimator", items=its, targets=yy, covariates=u, train=train, val=val,
                     test=np.zeros(0, dtype=np.int64),
                     task="Predict the target value of each item.")
        judge = None if self.judge_model is None else self._build_model(self.judge_model, "judge_model")
        disc = Discovery(ds, self._build_model(), link=self.link, engine=self.engine, metric=self.metric,
                         seed=self.seed, run_dir=self.run_dir, fit_options=self.fit_options,
                         eps_fixed=self.eps_fixed, min_activity=self.min_activity, judge_model=judge,
                         soft=self.soft)
        if zero_shot:
            disc.zero_shot(self.zero_shot_n)
        else:
            disc.run(int(self.algorithm), self.cycles, n_add=self.n_add, n_remove=self.n_remove,
                     add_algorithm=self.add_algorithm)
        self.discovery_ = disc
        self.features_ = disc.features
        self.result_ = disc.result
        self.history_ = disc.history
        self.eps_ = None if disc.result is None else disc.result.eps.detach().numpy().copy()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "discovery_"):
            raise ValueError("GenZRegressor: not fitted yet; call fit(items, y) first")

    def predict(self, items: Mapping[str, Item] | Sequence[Item], covariates: Any = None) -> np.ndarray:
        """Predicted means: ``[n]`` when fitted on 1-d ``y``, else ``[n, D]``.

        New items are judged with every discovered feature (model calls, cached when a
        cache or run directory is in use).
        """
        self._check_fitted()
        its = as_items(items)
        u = self._covariates(covariates, len(its), fitting=False)
        pred = self.discovery_.predict(its, covariates=u)
        return pred[:, 0] if self._y_1d else pred

    def score(self, items: Mapping[str, Item] | Sequence[Item], y: Any, covariates: Any = None) -> float:
        """R^2 of :meth:`predict` against ``y`` (pooled over target dimensions)."""
        from genz_pyro.metrics import r2_score

        pred = self.predict(items, covariates)
        yy = np.asarray(y, dtype=np.float64)
        if yy.shape != pred.shape:
            raise ValueError(f"y: expected shape {pred.shape} like the predictions, got {yy.shape}")
        return float(r2_score(pred.reshape(len(pred), -1), yy.reshape(len(yy), -1)))
