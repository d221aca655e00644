"""The discovery orchestrator: one object that runs Algorithms 1-4 and the zero-shot
baseline on a :class:`~genz_pyro.datasets.base.Dataset`, records every step and
can be resumed from its run directory after a kill at any point.

Fitting uses the TRAINING rows only. Validation and test items are scored from
their judgments (and covariates) alone with the fitted parameters held fixed,
never from their targets.

Example::

    from genz_pyro.datasets.binary import load_binary
    from genz_pyro.fm.offline import OfflineModel
    from genz_pyro.discovery import Discovery

    d = Discovery(load_binary(), OfflineModel(), link="linear", seed=0, run_dir="runs/binary")
    d.run(algorithm=1, cycles=9)
    d.features            # nine bit features, coarse to fine
"""

from __future__ import annotations

import json
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from genz_pyro.data import GenZData
from genz_pyro.datasets.base import Dataset
from genz_pyro.discovery import persist, plans, snapshot, wording
from genz_pyro.discovery.algorithms import AddOutcome, FitSpec, add_step, remove_step
from genz_pyro.discovery.exemplars import ExemplarConfig
from genz_pyro.discovery.history import RunHistory, StepRecord, step_seed, usage_delta
from genz_pyro.discovery.judges import attach_panel, panel_step
from genz_pyro.discovery.lock import RunLock
from genz_pyro.discovery.scoring import Scorer
from genz_pyro.discovery.selection import Selection, Treatment, check_treatment
from genz_pyro.fm.mixed import MixedModel
from genz_pyro.fm.protocol import FoundationModel, Item, Usage
from genz_pyro.infer.result import FitResult

__all__ = ["Discovery", "step_seed"]  # step_seed re-exported from history

_PLAN_STEPS = ("alg1", "alg2", "alg3")


class Discovery:
    """Feature discovery on a dataset with a foundation model.

    Args:
        dataset: items, targets ``[N, D]``, optional covariates ``[N, C]`` and a
            train / validation / test split (``dataset.train`` must not be empty).
        model: any :class:`~genz_pyro.fm.protocol.FoundationModel`. With a
            ``run_dir`` it is wrapped in a ``CachedModel`` on ``run_dir/cache.sqlite``
            (unless ``cache=False`` or it is already cached), so a resumed run
            makes no repeated paid calls.
        link: ``"linear"`` or ``"mlp"`` (a fresh link for every feature count).
        engine: inference engine for ``fit``. ``None``: ``"cavi"`` for the linear link
            (exact mean-field coordinate ascent: deterministic and the fastest), ``fit``'s
            default otherwise.
        metric: ``"r2"``, ``"median_absolute_error"``, ``"median_relative_error"``,
            ``"mean_cosine_similarity"`` or a callable ``metric(pred [n, D], target [n, D]) -> float``.
        greater_is_better: direction of a callable metric (named metrics know theirs).
        seed: seeds every step (each step derives its own seed from it and its index).
        exemplars: exemplar group sizes and split mode.
        run_dir: directory for the history, checkpoint, features, predictions and cache.
            It must not already hold a history: use :meth:`resume` for that.
        fit_options: extra keyword arguments for ``fit`` (``max_sweeps``, ``tol``, ``ridge``: a
            Gaussian prior on the linear link's feature weights...).
        eps_fixed: hold every coupled feature's flip probability at this value instead of
            learning it (see :class:`~genz_pyro.discovery.algorithms.FitSpec`); ``None`` learns it.
        min_activity, max_activity: features judged positive for fewer / more of the
            training items than these shares are discarded at once (paper: 2% / 98%).
        cache: wrap the model in the run directory's cache.
        judges, judge_names, judges_options: further judges that answer every feature in the
            model, their names, and ``fit_judges`` options (:mod:`genz_pyro.discovery.judges`).
        judge_model: judge every item with this model, mine (and propose) with ``model``
            (a strong model words the features, a cheap or local one answers for every item);
            each is cached on its own. ``None``: ``model`` does both.
        soft: judgments enter the model as P(yes) (``True``), as yes/no (``False``), or as
            the judging model gives them (``None``: soft when it was asked for soft
            judgments, e.g. a ``gguf:`` model; see :mod:`genz_pyro.fm.mixed`).
        selection: choose the flip-probability treatment and the ridge on the validation split
            (:class:`~genz_pyro.discovery.selection.Selection`: its grids and check schedule);
            the fit starts from ``selection.initial()`` (``eps_fixed`` and a ``ridge`` in
            ``fit_options`` are then ignored). ``None``: the treatment stays as given.

    Attributes:
        history: the :class:`RunHistory` (one record per step).
        model: the (possibly cached) foundation model in use.
    """

    def __init__(
        self,
        dataset: Dataset,
        model: FoundationModel,
        *,
        link: str = "linear",
        engine: str | None = None,
        metric: str | Callable[[Any, Any], float] = "r2",
        greater_is_better: bool | None = None,
        seed: int = 0,
        exemplars: ExemplarConfig | None = None,
        run_dir: str | Path | None = None,
        fit_options: Mapping[str, Any] | None = None,
        min_activity: float = 0.02,
        max_activity: float = 0.98,
        cache: bool = True,
        eps_fixed: float | None = None,
        judges: Sequence[FoundationModel] = (),
        judge_names: Sequence[str] | None = None,
        judges_options: Mapping[str, Any] | None = None,
        judge_model: FoundationModel | None = None,
        soft: bool | None = None,
        selection: Selection | None = None,
    ) -> None:
        if not isinstance(model, FoundationModel):
            raise ValueError(
                f"model: expected a genz_pyro FoundationModel, got {type(model).__name__}; "
                "use OfflineModel(), AnthropicModel(...) or OpenAIModel(...)"
            )
        if judge_model is not None and not isinstance(judge_model, FoundationModel):
            raise ValueError(
                f"judge_model: expected a genz_pyro FoundationModel or None, got {type(judge_model).__name__}; "
                "e.g. make_model('gguf:PATH')"
            )
        if soft is not None and not isinstance(soft, bool):
            raise ValueError(f"soft: must be True, False or None, got {soft!r}")
        if not isinstance(link, str) or link not in ("linear", "mlp"):
            raise ValueError(f"link: discovery needs a link name, 'linear' or 'mlp', got {link!r}")
        if not 0.0 <= min_activity < max_activity <= 1.0:
            raise ValueError(
                f"min_activity, max_activity: need 0 <= min < max <= 1, got {min_activity}, {max_activity}"
            )
        self.dataset = dataset
        self.items: dict[str, Item] = dict(dataset.items)
        self.ids = list(self.items.keys())
        y = np.asarray(dataset.targets, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape[0] != len(self.ids):
            raise ValueError(f"dataset: {len(self.ids)} items but {y.shape[0]} target rows; give one row per item")
        self.train = np.asarray(dataset.train, dtype=np.int64)
        self.val = np.asarray(dataset.val, dtype=np.int64)
        self.test = np.asarray(dataset.test, dtype=np.int64)
        if self.train.size < 2:
            raise ValueError(
                f"dataset.train: needs at least 2 training rows, got {self.train.size}; "
                "set a split with genz_pyro.datasets.base.split_indices"
            )
        self._y = torch.as_tensor(y, dtype=torch.get_default_dtype())
        u = dataset.covariates
        self._u = None if u is None else torch.as_tensor(np.asarray(u, dtype=np.float64), dtype=self._y.dtype)
        if self._u is not None and self._u.dim() == 1:
            self._u = self._u.unsqueeze(-1)
        self.seed = int(seed)
        self.exemplars = exemplars if exemplars is not None else ExemplarConfig()
        if engine is None and link == "linear":
            engine = "cavi"
        self.spec = FitSpec(link=link, engine=engine, options=dict(fit_options or {}),
                            eps_fixed=None if eps_fixed is None else float(eps_fixed))
        self.selection = selection if selection is not None and selection.active else None
        if self.selection is not None:
            if link != "linear" and any(self.selection.ridge_grid):
                self.selection = replace(self.selection, ridge_grid=(0.0,),
                                         start=replace(self.selection.start, ridge=0.0))
            self.spec = self.selection.initial().apply(self.spec)
        self.scorer = Scorer.create(metric, greater_is_better)
        self.min_activity, self.max_activity = float(min_activity), float(max_activity)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.model = model
        self.history = RunHistory(None)

        # current state: descriptions, their judgments of every item, discarded texts, the fit
        self.descriptions: list[str] = []
        self.judgments = np.zeros((len(self.ids), 0))
        self.discarded: list[str] = []
        self.pool: dict[str, np.ndarray] = {}  # judgments [N_all] of every description ever judged
        self._result: FitResult | None = None
        self._last_state: dict[str, Any] | None = None
        self._plan: dict[str, Any] | None = None  # the pending run()/zero_shot() plan
        attach_panel(self, judges, judge_names, judges_options)  # .panel, .panel_answers, .judges_result
        self._auto_best: Any = None  # run_auto's best state so far (also in run_dir/best.pt)

        self._lock: RunLock | None = None
        if self.run_dir is not None:
            if (self.run_dir / "history.jsonl").exists() and (self.run_dir / "history.jsonl").stat().st_size:
                raise ValueError(
                    f"run_dir: {self.run_dir} already holds a run; continue it with "
                    "Discovery.resume(run_dir, dataset, model) or pick a new directory"
                )
            self._hold_lock(self.run_dir)
            self.history = RunHistory(self.run_dir / "history.jsonl")
        self._use_models(model, judge_model, soft, cache)
        if self.run_dir is not None:
            if self.panel is not None and cache:
                self.panel.models = [self._wrap_cached(m) for m in self.panel.models]
            persist.atomic_write(self.run_dir / "config.json", json.dumps(self._config(), indent=2, sort_keys=True))

    # ------------------------------------------------------------- configuration
    def _use_models(
        self, model: FoundationModel, judge_model: FoundationModel | None, soft: bool | None, cache: bool
    ) -> None:
        """Set ``self.model``: ``model`` (cached in the run directory unless ``cache=False``), mixed
        with ``judge_model`` (cached on its own) and the ``soft`` choice when either is given."""
        wrap = self._wrap_cached if (cache and self.run_dir is not None) else (lambda m: m)
        self.model = wrap(model)
        if judge_model is not None or soft is not None:
            judge = self.model if judge_model is None else wrap(judge_model)
            self.model = MixedModel(self.model, judge, soft=soft)

    def _hold_lock(self, run_dir: Path) -> None:
        """Take ``run_dir``'s exclusive lock (creating the directory) for this object's life
        (:mod:`genz_pyro.discovery.lock`; released by :meth:`close` or garbage collection)."""
        self._lock = RunLock(run_dir).acquire()
        weakref.finalize(self, self._lock.release)

    def close(self) -> None:
        """Release the run directory's lock (another process may then continue the run)."""
        if self._lock is not None:
            self._lock.release()

    def _wrap_cached(self, model: FoundationModel) -> FoundationModel:
        from genz_pyro.fm.cache import JudgmentCache
        from genz_pyro.fm.cached import CachedModel

        if isinstance(model, CachedModel):
            return model
        assert self.run_dir is not None
        return CachedModel(model, JudgmentCache(self.run_dir / "cache.sqlite"))

    def _config(self) -> dict[str, Any]:
        """The run's ``config.json`` (see :func:`genz_pyro.discovery.snapshot.run_config`)."""
        return snapshot.run_config(self)

    # ----------------------------------------------------------------- properties
    @property
    def features(self) -> list[str]:
        """The current feature descriptions (column order of the fit)."""
        return list(self.descriptions)

    @property
    def result(self) -> FitResult | None:
        """The current fit on the training items (``None`` before the first feature)."""
        return self._result

    def train_data(self) -> GenZData:
        """``[N_train, K]`` GenZData of the current features on the training rows."""
        return self._data(self.train, self.judgments)

    def _data(self, rows: np.ndarray, judgments: np.ndarray, names: Sequence[str] | None = None) -> GenZData:
        idx = torch.as_tensor(rows, dtype=torch.long)
        return GenZData(
            judgments=torch.as_tensor(judgments[rows], dtype=self._y.dtype).reshape(len(rows), -1),
            targets=self._y[idx],
            covariates=None if self._u is None else self._u[idx],
            missing=None,
            feature_names=tuple(names if names is not None else self.descriptions),
        )

    # ----------------------------------------------------------------- prediction
    def _predict_rows(self, rows: np.ndarray, result: FitResult | None, judgments: np.ndarray) -> np.ndarray:
        """``[len(rows), D]`` predicted means from judgments and covariates alone."""
        u = None if self._u is None else self._u[torch.as_tensor(rows, dtype=torch.long)]
        return self.scorer.predict(result, judgments[rows], u, self._y[torch.as_tensor(self.train)])

    def predict(
        self, items_or_indices: Sequence[int] | Sequence[str] | Mapping[str, Item], *, covariates: Any = None
    ) -> np.ndarray:
        """Predicted target means ``[n, D]`` from judgments (and covariates) alone.

        Args:
            items_or_indices: row indices of the dataset, item ids of the dataset, or
                new items ``{id: item}`` (judged with every current feature: model calls).
            covariates: ``[n, C]`` covariates of new items (required when the dataset has them).
        """
        from genz_pyro.discovery.scoring import predict_items

        return predict_items(self, items_or_indices, covariates=covariates)

    def metrics(self) -> dict[str, float]:
        """The metric on the train, validation and test rows (``nan`` for an empty split)."""
        return self._metrics(self._result, self.judgments)

    def _metrics(self, result: FitResult | None, judgments: np.ndarray) -> dict[str, float]:
        out = {}
        for name, rows in (("train", self.train), ("val", self.val), ("test", self.test)):
            if rows.size == 0:
                out[name] = float("nan")
                continue
            pred = self._predict_rows(rows, result, judgments)
            out[name] = float(self.scorer(pred, self._y[torch.as_tensor(rows)].numpy()))
        return out

    # ------------------------------------------------------------------ recording
    def _state(self) -> dict[str, Any]:
        """The checkpointed state of the current step (:func:`genz_pyro.discovery.snapshot.state_of`)."""
        return snapshot.state_of(self)

    def _restore(self, state: dict[str, Any]) -> None:
        """Make ``state`` (a checkpoint of :meth:`_state`) current."""
        snapshot.restore(self, state)

    def _commit(self, record: StepRecord) -> StepRecord:
        """Make the step durable: checkpoint, then the history record, then derived files."""
        state = self._state()
        if self.run_dir is not None:
            persist.save_checkpoint(self.run_dir / "params.pt", record.step, state, self._last_state)
        self.history.append(record)
        self._last_state = state
        if self.run_dir is not None:
            self._write_outputs()
        return record

    def _write_outputs(self) -> None:
        snapshot.write_run_outputs(self)

    def _record(self, **fields: Any) -> StepRecord:
        res = self._result
        metric = self._metrics(res, self.judgments)
        if self.scorer.criterion is not None and self.val.size:  # what choices on validation use
            from genz_pyro.discovery.selection import val_score

            metric["val_criterion"] = val_score(self, res)
        return StepRecord(
            step=len(self.history),
            features=list(self.descriptions),
            eps_all=[] if res is None else [float(e) for e in res.eps],
            metric=metric,
            bound=float("nan") if res is None else float(res.bound),
            judges=panel_step(self) if self.panel is not None else {},
            spec=Treatment.of(self.spec).to_json(),
            **fields,
        )

    # ------------------------------------------------------------------ the steps
    def add_feature(self, conditional: bool = False, *, _plan_pos: int = -1) -> StepRecord:
        """Algorithm 1 (or Algorithm 2 with ``conditional=True``): one new feature.

        Returns the step's record (``action`` ``"add"``, or ``"discard"`` when the
        description fails the activity filter or repeats a feature).
        """
        step = len(self.history)
        seed = step_seed(self.seed, step)
        t0 = time.perf_counter()
        before = self.model.usage.copy()
        out: AddOutcome = add_step(
            model=self.model,
            items=self.items,
            train=self.train,
            data=self.train_data(),
            all_judgments=self.judgments,
            current=self._result,
            spec=self.spec,
            conditional=conditional,
            exemplars=self.exemplars,
            avoid=tuple(self.descriptions) + tuple(self.discarded),
            seed=seed,
            min_activity=self.min_activity,
            max_activity=self.max_activity,
        )
        return self._apply(
            out, algorithm="alg2" if conditional else "alg1", seed=seed, t0=t0, before=before, plan_pos=_plan_pos
        )

    def add_description(self, description: str) -> StepRecord:
        """Add a feature with a known description (a user's or a domain expert's): judged on
        every item, the model refitted with it (initial eps 0.1); the activity filter and the
        duplicate check apply. Recorded with ``algorithm="given"``
        (:func:`genz_pyro.discovery.wording.add_description`)."""
        return wording.add_description(self, description)

    def _apply(
        self,
        out: AddOutcome,
        *,
        algorithm: str,
        seed: int,
        t0: float,
        before: Usage,
        index: int | None = None,
        reason: str = "",
        plan_pos: int = -1,
    ) -> StepRecord:
        """Apply an add / refine / given outcome to the state and record the step
        (``index``: the column a refinement replaces; ``None`` appends)."""
        usage = usage_delta(before, self.model.usage)
        if out.description:  # "" when the model found no description ("no-feature")
            self.pool[out.description] = out.judgments
        if out.discarded:
            if out.description:
                self.discarded.append(out.description)
        else:
            assert out.result is not None
            if index is None:
                self.descriptions.append(out.description)
                self.judgments = np.concatenate([self.judgments, out.judgments[:, None]], axis=1)
            else:
                self.descriptions[index] = out.description
                self.judgments = self.judgments.copy()
                self.judgments[:, index] = out.judgments
            self._result = out.result
        checked, t_check = None, time.perf_counter()
        if not out.discarded and self.selection is not None:
            n_added = 1 + sum(1 for r in self.history if r.action == "add")
            if self.selection.checks_after(n_added):
                checked = check_treatment(self, self.selection, seed=seed + 2)
        t_check = time.perf_counter() - t_check
        record = self._record(
            selection=checked,
            action="discard" if out.discarded else "add",
            algorithm=algorithm,
            feature=out.description,
            reason=out.discarded or reason,
            exemplars={"positive": out.positive, "negative": out.negative},
            subgroup=None if out.subgroup is None else list(out.subgroup),
            eps=out.eps,
            activity=out.activity,
            usage=usage,
            time={"fit": out.fit_time, "fm": out.fm_time, "check": t_check, "total": time.perf_counter() - t0},
            seed=seed,
            plan_pos=plan_pos,
        )
        return self._commit(record)

    def refine_feature(self, index: int | None = None) -> StepRecord:
        """Re-word one feature (default: the one with the largest eps) with the refinement trick;
        see :func:`genz_pyro.discovery.wording.refine_feature`."""
        return wording.refine_feature(self, index)

    def remove_feature(
        self, *, _plan_pos: int = -1, _algorithm: str = "alg3", screen: int | None = None
    ) -> StepRecord:
        """Algorithm 3: drop the feature whose removal lowers the training bound least
        (``screen``: refit only that many best-screened candidates; see ``remove_step``).

        Raises:
            ValueError: when the model has no feature.
        """
        if not self.descriptions or self._result is None:
            raise ValueError("remove_feature: the model has no feature to remove; add features first")
        step = len(self.history)
        seed = step_seed(self.seed, step)
        t0 = time.perf_counter()
        out = remove_step(self.train_data(), self._result, self.spec, seed=seed, screen=screen)
        removed = self.descriptions.pop(out.index)
        eps_removed = float(self._result.eps[out.index])
        activity = float(self.judgments[self.train, out.index].mean())
        self.judgments = np.delete(self.judgments, out.index, axis=1)
        self._result = out.result
        record = self._record(
            action="remove",
            algorithm=_algorithm,
            feature=removed,
            eps=eps_removed,
            activity=activity,
            usage=usage_delta(Usage(), Usage()),  # a removal makes no model call
            time={"fit": out.fit_time, "fm": 0.0, "total": time.perf_counter() - t0},
            seed=seed,
            plan_pos=_plan_pos,
        )
        return self._commit(record)

    # ------------------------------------------------------------------- plans
    @staticmethod
    def plan(algorithm: int, cycles: int, n_add: int = 5, n_remove: int = 2, add_algorithm: int = 2) -> list[str]:
        """The step kinds of :meth:`run` (``"alg1"``, ``"alg2"``, ``"alg3"``); see
        :func:`genz_pyro.discovery.plans.make_plan`."""
        return plans.make_plan(algorithm, cycles, n_add, n_remove, add_algorithm)

    def run(
        self, algorithm: int = 4, cycles: int = 10, *, n_add: int = 5, n_remove: int = 2, add_algorithm: int = 2,
        extend: bool = False,
    ) -> RunHistory:
        """Run a plan of steps: Algorithm 1, 2 or 3 ``cycles`` times, or Algorithm 4:
        ``cycles`` x (``n_add`` adds with Algorithm ``add_algorithm`` + ``n_remove`` removals).

        A removal is skipped (no record) when the model has no feature. With a ``selection``
        the plan ends with a treatment check of the last state (a ``"select"`` record,
        ``algorithm="treatment"``). With a run directory the plan is saved first; if the same
        plan is pending (an interrupted run), the finished steps are not repeated.
        ``extend=True`` continues the last plan (finished or not) that differs in ``cycles``
        only, up to ``cycles`` (see :func:`genz_pyro.discovery.plans.open_plan`); otherwise a
        finished plan's steps are followed by a new plan's.
        """
        steps = self.plan(algorithm, cycles, n_add, n_remove, add_algorithm)
        args = {"kind": "run", "algorithm": algorithm, "cycles": cycles, "n_add": n_add,
                "n_remove": n_remove, "add_algorithm": add_algorithm}
        start = plans.open_plan(self, args, extend=extend)
        self._continue_run(steps, start)
        if self.selection is not None and not plans.plan_end_recorded(self, len(steps)):  # (a resumed run)
            from genz_pyro.discovery.auto import treatment_record

            treatment_record(self, pos=len(steps))
        self._close_plan()
        return self.history

    def _open_plan(self, args: dict[str, Any]) -> int:
        return plans.open_plan(self, args)

    def _pending_plan(self) -> dict[str, Any] | None:
        return plans.pending_plan(self)

    def _close_plan(self) -> None:
        plans.close_plan(self)

    def _continue_run(self, steps: list[str], start: int) -> None:
        for pos in range(start, len(steps)):
            kind = steps[pos]
            if kind == "alg3":
                if self.descriptions:
                    self.remove_feature(_plan_pos=pos)
            else:
                self.add_feature(conditional=kind == "alg2", _plan_pos=pos)

    def run_auto(self, max_adds: int = 100, *, patience: int = 20, prune_patience: int = 1) -> StepRecord:
        """The automatic loop: add (Algorithm 1) until ``patience`` additions bring no
        validation improvement (``max_adds`` is a cap), prune (Algorithm 3) while validation
        improves, end on the best validation state seen; see :mod:`genz_pyro.discovery.auto`.

        Returns the final ``"select"`` record.
        """
        from genz_pyro.discovery.auto import run_auto

        return run_auto(self, max_adds=max_adds, patience=patience, prune_patience=prune_patience)

    # ----------------------------------------------------------------- zero-shot
    def zero_shot(self, n: int = 50, *, num_examples: int = 40, min_features: int = 1) -> StepRecord:
        """The zero-shot baseline: propose ``n`` features, judge them, prune with
        Algorithm 3 one at a time down to ``min_features``, select on VALIDATION.

        Returns the ``"select"`` record (its ``metric["test"]`` is the reported score);
        the discovery's state becomes the selected feature set.
        """
        from genz_pyro.discovery.zeroshot import run_zero_shot

        return run_zero_shot(self, n=n, num_examples=num_examples, min_features=min_features)

    # -------------------------------------------------------------------- resume
    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        dataset: Dataset,
        model: FoundationModel,
        *,
        continue_run: bool = True,
        cache: bool = True,
        judges: Sequence[FoundationModel] = (),
        judge_model: FoundationModel | None = None,
        soft: bool | None = None,
    ) -> "Discovery":
        """Reopen the run in ``run_dir`` and (by default) finish its pending plan.

        The settings come from ``run_dir/config.json``; the state after the last
        recorded step comes from ``params.pt``; a step in flight when the run died is
        redone, its foundation-model answers served by ``run_dir/cache.sqlite``. A run that
        judged with a ``judge_model`` needs the same one again; ``soft`` defaults to the run's.

        Raises:
            ValueError: when ``run_dir`` holds no run, the dataset differs, or the run's
                ``judge_model`` is not given.
        """
        return plans.resume(cls, run_dir, dataset, model, continue_run=continue_run, cache=cache, judges=judges,
                            judge_model=judge_model, soft=soft)

    def continue_pending(self) -> None:
        """Finish the pending plan (an interrupted ``run`` or ``zero_shot``), if any."""
        plan = self._pending_plan()
        if plan is None:
            return
        args = plan["args"]
        if args["kind"] == "run":
            self.run(args["algorithm"], args["cycles"], n_add=args["n_add"], n_remove=args["n_remove"],
                     add_algorithm=args["add_algorithm"])
        elif args["kind"] == "auto":
            self.run_auto(args["max_adds"], patience=args["patience"], prune_patience=args["prune_patience"])
        elif args["kind"] == "zero-shot":
            self.zero_shot(args["n"], num_examples=args["num_examples"], min_features=args["min_features"])
