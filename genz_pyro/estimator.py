"""A scikit-learn estimator over the discovery machinery.

``GenZRegressor(...).fit(items, y, covariates=None)`` runs feature discovery
(:class:`~genz_pyro.discovery.Discovery`) with a foundation model on an in-memory
dataset; ``predict`` judges new items with the discovered features and returns the
predicted means; ``score`` is R^2; ``predict_frame`` gives the judgments and the
predictions as a pandas DataFrame on the items' index.

Items may be a list, a mapping ``{id: item}``, a pandas Series or DataFrame or a 2-d
array (:mod:`genz_pyro.inputs`). With scikit-learn installed the estimator is a
scikit-learn estimator (``clone``, ``cross_val_score``, ``GridSearchCV``, ``Pipeline``);
repeated fits share the judgment cache (:mod:`genz_pyro.shared_cache`), so a second pass
over the same folds makes no model call.

Example::

    from genz_pyro.estimator import GenZRegressor

    items = [str(i) for i in range(512)]
    y = [float(i) for i in range(512)]
    reg = GenZRegressor("offline", algorithm=1, cycles=9).fit(items, y)
    reg.features_          # nine bit features
    reg.predict(["37", "300"])
"""

from __future__ import annotations

import copy
import numbers
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from genz_pyro.datasets.base import Dataset, split_indices
from genz_pyro.discovery.scoring import judge_items, predict_judged
from genz_pyro.fm.protocol import FoundationModel
from genz_pyro.inputs import (
    ItemTable,
    as_items,
    is_pandas,
    read_covariates,
    read_items,
    read_targets,
    require_pandas,
)
from genz_pyro.sklearn_compat import BaseEstimator, NotFittedError, RegressorMixin, clone_param

__all__ = ["GenZRegressor", "as_items"]

#: parameters that are resources, shared (not copied) by ``clone``: the foundation models
#: (clients), the judgment cache and the budget (a cap over every fold, not per fold)
SHARED_PARAMS = ("model", "judge_model", "cache", "budget")


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")


def _check_fraction(name: str, value: Any, low: float, high: float, *, none_ok: bool = True) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= float(value) < high:
        raise ValueError(f"{name}: expected a number in [{low}, {high}), got {value!r}")


class GenZRegressor(RegressorMixin, BaseEstimator):
    """Discover interpretable yes/no features with a foundation model and fit GenZ.

    Every argument is stored unchanged and checked in :meth:`fit` (scikit-learn's rule).

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
        cache: where answers are served from and written to: ``None`` (default) the
            process's shared in-memory cache (:func:`genz_pyro.shared_cache.shared_cache`,
            shared by clones, so cross-validation folds reuse answers), or the run
            directory's ``cache.sqlite`` when ``run_dir`` is given; a file path or a
            :class:`~genz_pyro.fm.cache.JudgmentCache` (persistent, shared between
            processes); ``False`` for none.
        budget: optional :class:`~genz_pyro.fm.budget.Budget` for an SDK backend (shared
            by clones: one cap over all folds).
        base_url: optional server URL for an SDK backend (OpenAI-compatible servers).
        val_fraction: share of items held out for validation (required > 0 by
            ``"zero-shot"``, which selects on it; default 0.2 then, else 0).
        fit_options: extra keyword arguments for the inference engine (e.g. ``{"max_sweeps": 50}``).
        eps_fixed: hold every feature's flip probability at this value instead of learning it
            (``None``: learned, as in the paper; see ``genz_pyro.discovery.FitSpec``).
        min_activity: discard features judged positive for fewer than this share of the
            training items (paper: 0.02).
        judge_model: judge every item with this model (a :class:`FoundationModel` or a spec such
            as ``"gguf:PATH"``) and mine with ``model``; ``None``: ``model`` does both. Shared
            by clones, like ``model``.
        soft: judgments as P(yes) (``True``), as yes/no (``False``) or as the judging model
            gives them (``None``; see ``genz_pyro.discovery.Discovery``).
        ridge: a Gaussian prior on the feature weights (``None``: the engine's default, 0).
        item_columns: for table inputs (DataFrame, 2-d array), the columns that make an
            item: ``None`` every column but the covariate columns (records), a list of
            columns (records), one column name (text items).
        covariate_columns: for table inputs, numeric columns used as covariates.

    Attributes (after ``fit``):
        features_: the discovered descriptions (``K``).
        result_: the :class:`~genz_pyro.infer.result.FitResult` on the training items.
        history_: the :class:`~genz_pyro.discovery.history.RunHistory`.
        discovery_: the :class:`~genz_pyro.discovery.Discovery`.
        model_: the foundation model in use (wrapped in its cache).
        eps_: ``[K]`` flip probabilities (``None`` when no feature was found).
        n_features_in_, feature_names_in_: the input table's columns (table inputs only).
        item_columns_, covariate_columns_: the columns the items and the covariates were
            read from (table inputs only).
        target_names_: the names of the target columns (pandas targets only).
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
        ridge: float | None = None,
        item_columns: Any = None,
        covariate_columns: Any = None,
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
        self.ridge = ridge
        self.item_columns = item_columns
        self.covariate_columns = covariate_columns

    # ----------------------------------------------------------- scikit-learn
    def set_params(self, **params: Any) -> "GenZRegressor":
        """Set constructor arguments (scikit-learn convention)."""
        valid = self.get_params(deep=False)
        for k in params:
            if k.partition("__")[0] not in valid:
                raise ValueError(f"set_params: unknown parameter {k!r}; valid: {sorted(valid)}")
        return super().set_params(**params)

    def __sklearn_clone__(self) -> "GenZRegressor":
        """An unfitted copy; the model, cache and budget are shared, the rest copied."""
        params = self.get_params(deep=False)
        new = type(self)(**{k: v if k in SHARED_PARAMS else clone_param(v) for k, v in params.items()})
        for attr in ("_metadata_request", "_sklearn_output_config"):  # what scikit-learn's clone keeps
            if hasattr(self, attr):
                setattr(new, attr, copy.deepcopy(getattr(self, attr)))
        return new

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "discovery_")

    def __sklearn_tags__(self) -> Any:
        """Regressor tags: items are texts or records (strings allowed, ``NaN`` a missing
        cell), targets required and possibly multi-output."""
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags

    # ---------------------------------------------------------------- checks
    def _validate_params(self) -> None:
        if not isinstance(self.model, (str, FoundationModel)):
            raise ValueError(f"model: expected a FoundationModel or a spec such as 'offline', got {self.model!r}")
        if self.judge_model is not None and not isinstance(self.judge_model, (str, FoundationModel)):
            raise ValueError(f"judge_model: expected a FoundationModel or a spec such as 'gguf:PATH' (or None), "
                             f"got {self.judge_model!r}")
        if self.soft is not None and not isinstance(self.soft, bool):
            raise ValueError(f"soft: must be True, False or None, got {self.soft!r}")
        if self.link not in ("linear", "mlp"):
            raise ValueError(f"link: must be 'linear' or 'mlp', got {self.link!r}")
        if self.algorithm != "zero-shot" and (isinstance(self.algorithm, bool) or self.algorithm not in (1, 2, 3, 4)):
            raise ValueError(f"algorithm: must be 1, 2, 3, 4 or 'zero-shot', got {self.algorithm!r}")
        for name, low in (("cycles", 0), ("n_add", 0), ("n_remove", 0), ("zero_shot_n", 1), ("seed", 0)):
            _check_int(name, getattr(self, name), low)
        if self.add_algorithm not in (1, 2) or isinstance(self.add_algorithm, bool):
            raise ValueError(f"add_algorithm: must be 1 or 2, got {self.add_algorithm!r}")
        _check_fraction("val_fraction", self.val_fraction, 0.0, 1.0)
        _check_fraction("eps_fixed", self.eps_fixed, 0.0, 0.5)
        _check_fraction("min_activity", self.min_activity, 0.0, 1.0, none_ok=False)
        if self.fit_options is not None and not isinstance(self.fit_options, Mapping):
            raise ValueError(f"fit_options: expected a dict of engine options, got {self.fit_options!r}")
        if self.ridge is not None:
            if isinstance(self.ridge, bool) or not isinstance(self.ridge, numbers.Real) or not self.ridge >= 0:
                raise ValueError(f"ridge: expected a number >= 0 or None, got {self.ridge!r}")
            if "ridge" in (self.fit_options or {}):
                raise ValueError("ridge: also given in fit_options; set it in one place")

    def _fit_options(self) -> dict[str, Any]:
        opts = dict(self.fit_options or {})
        if self.ridge is not None:
            opts["ridge"] = float(self.ridge)
        return opts

    def _build_model(self, spec: Any = None, arg: str = "model") -> FoundationModel:
        """The foundation model of ``spec`` (default ``self.model``) behind its cache (see ``cache``)."""
        from genz_pyro.fm.cached import CachedModel
        from genz_pyro.shared_cache import resolve_cache

        spec = self.model if spec is None else spec
        if isinstance(spec, FoundationModel):
            fm = spec
        else:
            from genz_pyro.fm.registry import make_model

            kwargs: dict[str, Any] = {}
            if spec.strip() != "offline":
                if self.budget is not None:
                    kwargs["budget"] = self.budget
                if self.base_url is not None and arg == "model":
                    kwargs["base_url"] = self.base_url
            fm = make_model(spec, **kwargs)
        if isinstance(fm, CachedModel) or (self.cache is None and self.run_dir is not None):
            return fm  # already cached / Discovery uses run_dir/cache.sqlite
        cache = resolve_cache(self.cache)
        return fm if cache is None else CachedModel(fm, cache)

    def _read_items(self, items: Any, *, fitting: bool) -> ItemTable:
        """The items, read like the fitted ones (predict, score, judge)."""
        named, is_df = getattr(self, "_input_named", None), is_pandas(items, "DataFrame")
        item_columns = self.item_columns
        if not fitting and named is not None and named != is_df:
            kind = "a DataFrame" if named else "a 2-d array"
            raise ValueError(f"items: the model was fitted on {kind}; pass {kind} with the same columns")
        if not fitting and named and is_df:
            have = {str(c) for c in items.columns}
            missing = [c for c in self.item_columns_ + self.covariate_columns_ if c not in have]
            if missing:
                raise ValueError(f"items: column {missing[0]!r} of the fit is missing; pass a DataFrame with the "
                                 f"columns {list(self.feature_names_in_)}")
            if not isinstance(item_columns, str):  # the fitted columns only: other columns may come and go
                item_columns = self.item_columns_
        tab = read_items(items, item_columns=item_columns, covariate_columns=self.covariate_columns)
        if fitting:
            self._set_input_attrs(tab)
        else:
            self._check_input(tab)
        return tab

    def _covariates(self, tab: ItemTable, covariates: Any, *, fitting: bool) -> np.ndarray | None:
        """The items' covariates ``[n, C]``, standardised with the training mean and SD."""
        if tab.covariates is not None and covariates is not None:
            raise ValueError("covariates: given both as covariate_columns of the items and as covariates=; "
                             "pass them one way")
        u = tab.covariates if covariates is None else read_covariates(covariates, len(tab.items), index=tab.index)
        if fitting:
            self.covariate_mean_ = None if u is None else u.mean(0)
            sd = None if u is None else u.std(0)
            self.covariate_std_ = None if sd is None else np.where(sd > 0, sd, 1.0)
        elif u is None and self.covariate_mean_ is not None:
            raise ValueError(f"covariates: the model was fitted with {self.covariate_mean_.size} covariate "
                             "column(s); pass them for these items too")
        elif u is not None and self.covariate_mean_ is None:
            raise ValueError("covariates: the model was fitted without covariates; pass covariates=None")
        elif u is not None and u.shape[1] != self.covariate_mean_.size:
            raise ValueError(f"covariates: expected {self.covariate_mean_.size} column(s) like in fit, got {u.shape[1]}")
        return None if u is None else (u - self.covariate_mean_) / self.covariate_std_

    def _set_input_attrs(self, tab: ItemTable) -> None:
        for attr in ("n_features_in_", "feature_names_in_", "item_columns_", "covariate_columns_"):
            if hasattr(self, attr):
                delattr(self, attr)
        if tab.is_table:
            assert tab.columns is not None
            self.n_features_in_ = len(tab.columns)
            self.item_columns_ = list(tab.item_columns or [])
            self.covariate_columns_ = list(tab.covariate_columns)
            if tab.named:
                self.feature_names_in_ = np.asarray(tab.columns, dtype=object)
        self._input_named = tab.named if tab.is_table else None

    def _check_input(self, tab: ItemTable) -> None:
        """The items of predict/score/transform are read like the fitted ones."""
        fitted_named = getattr(self, "_input_named", None)
        if fitted_named is None:
            if tab.is_table:
                raise ValueError("items: the model was fitted on a list of items, not a table; pass the items "
                                 "the same way (a list, a Series or a mapping)")
            return
        if not tab.is_table:
            raise ValueError(f"items: the model was fitted on a table with {self.n_features_in_} columns; pass a "
                             "table with the same columns")
        assert tab.columns is not None
        if not tab.named and len(tab.columns) != self.n_features_in_:
            raise ValueError(f"items: X has {len(tab.columns)} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input; pass the columns it was fitted on")

    # ---------------------------------------------------------------- API
    def fit(self, items: Any, y: Any, covariates: Any = None) -> "GenZRegressor":
        """Discover features and fit the model.

        Args:
            items: ``N`` items: a list, ``{id: item}``, a pandas Series or DataFrame, or a
                2-d array (see :mod:`genz_pyro.inputs`).
            y: targets ``[N]`` or ``[N, D]`` (list, array, Series, DataFrame).
            covariates: optional ``[N, C]`` numeric inputs (standardised internally);
                or name them with ``covariate_columns``.

        Returns:
            ``self``.
        """
        from genz_pyro.discovery import Discovery

        self._validate_params()
        tab = self._read_items(items, fitting=True)
        u = self._covariates(tab, covariates, fitting=True)
        its = tab.items
        n = len(its)
        if n < 2:
            raise ValueError(f"items: got {n} sample (n_samples = {n}); discovery needs at least 2 items")
        yy, self._y_1d, names = read_targets(y, n, index=tab.index, who=type(self).__name__)
        if names is not None:
            self.target_names_ = names
        elif hasattr(self, "target_names_"):
            del self.target_names_
        zero_shot = self.algorithm == "zero-shot"
        vf = self.val_fraction if self.val_fraction is not None else (0.2 if zero_shot else 0.0)
        train, val, _ = split_indices(n, test_fraction=0.0, val_fraction=vf, seed=self.seed)
        ds = Dataset(name="estimator", items=its, targets=yy, covariates=u, train=train, val=val,
                     test=np.zeros(0, dtype=np.int64),
                     task="Predict the target value of each item.")
        judge = None if self.judge_model is None else self._build_model(self.judge_model, "judge_model")
        disc = Discovery(ds, self._build_model(), link=self.link, engine=self.engine, metric=self.metric,
                         seed=self.seed, run_dir=self.run_dir, fit_options=self._fit_options(),
                         eps_fixed=self.eps_fixed, min_activity=self.min_activity, judge_model=judge,
                         soft=self.soft)
        if zero_shot:
            disc.zero_shot(self.zero_shot_n)
        else:
            disc.run(int(self.algorithm), self.cycles, n_add=self.n_add, n_remove=self.n_remove,
                     add_algorithm=self.add_algorithm)
        self.discovery_ = disc
        self.model_ = disc.model
        self.features_ = disc.features
        self.result_ = disc.result
        self.history_ = disc.history
        self.eps_ = None if disc.result is None else disc.result.eps.detach().numpy().copy()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "discovery_"):
            raise NotFittedError(f"{type(self).__name__}: not fitted yet; call fit(items, y) first")

    def judge(self, items: Any) -> np.ndarray:
        """``[n, K]`` judgments of every discovered feature on ``items`` (0/1, or P(yes) with
        soft judgments; model calls, served by the cache for items judged before)."""
        self._check_fitted()
        return judge_items(self.discovery_, self._read_items(items, fitting=False).items)

    def _judge_predict(self, items: Any, covariates: Any) -> tuple[ItemTable, np.ndarray, np.ndarray]:
        self._check_fitted()
        tab = self._read_items(items, fitting=False)
        u = self._covariates(tab, covariates, fitting=False)
        s = judge_items(self.discovery_, tab.items)
        return tab, s, predict_judged(self.discovery_, s, covariates=u)

    def predict(self, items: Any, covariates: Any = None) -> np.ndarray:
        """Predicted means: ``[n]`` when fitted on 1-d ``y``, else ``[n, D]``.

        New items are judged with every discovered feature (model calls, cached).
        """
        _, _, pred = self._judge_predict(items, covariates)
        return pred[:, 0] if self._y_1d else pred

    def predict_frame(self, items: Any, covariates: Any = None) -> Any:
        """A pandas DataFrame on the items' index (their ids for non-pandas items): one
        column per discovered feature (named by its description; 0/1, or P(yes) with soft
        judgments) and the
        prediction(s) (``"prediction"``, or ``"prediction[<target>]"`` per target column).
        """
        pd = require_pandas("predict_frame")
        tab, s, pred = self._judge_predict(items, covariates)
        index = tab.index if tab.index is not None else pd.Index(list(tab.items), name="id")
        hard = bool(np.isin(s, (0.0, 1.0)).all())  # 0/1 judgments as ints; soft ones (P(yes)) as floats
        out = pd.DataFrame(s.astype(np.int8) if hard else s, index=index, columns=list(self.features_))
        if self._y_1d:
            out["prediction"] = pred[:, 0]
        else:
            names = getattr(self, "target_names_", None) or [str(d) for d in range(pred.shape[1])]
            for d, name in enumerate(names):
                out[f"prediction[{name}]"] = pred[:, d]
        return out

    def score(self, items: Any, y: Any, covariates: Any = None, sample_weight: Any = None) -> float:
        """R^2 of :meth:`predict` against ``y`` (pooled over target dimensions; with
        ``sample_weight [n]``, weighted sums of squares about the weighted mean)."""
        from genz_pyro.metrics import r2_score

        pred = self.predict(items, covariates)
        yy = np.asarray(y, dtype=np.float64)
        if yy.shape != pred.shape:
            raise ValueError(f"y: expected shape {pred.shape} like the predictions, got {yy.shape}")
        p, t = pred.reshape(len(pred), -1), yy.reshape(len(yy), -1)
        if sample_weight is None:
            return float(r2_score(p, t))
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape != (len(t),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"sample_weight: expected {len(t)} finite weights >= 0 with a positive sum")
        mean = (w[:, None] * t).sum(0) / w.sum()
        sst = float((w[:, None] * (t - mean) ** 2).sum())
        if sst == 0:
            raise ValueError("y: the weighted targets are constant; R^2 is undefined")
        return 1.0 - float((w[:, None] * (t - p) ** 2).sum()) / sst
