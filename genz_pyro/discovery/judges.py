"""Several judges in the discovery loop: a panel of extra judges answers every feature.

The search itself (decoupled fit, exemplars, mining, the activity and duplicate filters,
Algorithm 3) runs as before on the run's own judge (the mining model, or its judge model).
A :class:`JudgePanel` of further judges (other models, a local model, the same model asked
a paraphrased question: :class:`PromptVariant`) answers every feature that enters the
model, on every item; after each step the several-judges model
(:func:`genz_pyro.infer.judges.fit_judges`) is fitted on the training rows with all
judges' answers, and its per-judge, per-feature error rates, its train / validation / test
metric and each judge's usage are recorded (``StepRecord.judges``, ``judges.json``).

A judge answers a feature once: the answers are kept in the run's state (``params.pt``) and
behind the run's cache, so a resumed run pays for nothing twice. Each judge's calls, tokens
and dollars are booked separately; a :class:`~genz_pyro.fm.budget.Budget` shared by the
judges' backends caps them together (the ``genz`` command passes its budget to every judge).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch

from genz_pyro.fm.mixed import MixedModel, judgment_column, uses_soft_judgments
from genz_pyro.fm.protocol import CallRecord, FoundationModel, Item, Judgment, Usage
from genz_pyro.fm.wrapper import Wrapper

if TYPE_CHECKING:
    from genz_pyro.discovery.state import DiscoveryState as Discovery
    from genz_pyro.infer.judges import JudgesFit

__all__ = [
    "JudgePanel",
    "PromptVariant",
    "PARAPHRASE",
    "attach_panel",
    "judge_names",
    "panel_answers",
    "panel_data",
    "panel_predict",
    "panel_step",
    "panel_state",
    "panel_restore",
    "write_judges",
    "rates_rows",
    "judges_summary",
    "JUDGES_FILE",
]

JUDGES_FILE = "judges.json"
"""The run directory's file of the several-judges model after the last step."""

PARAPHRASE = "Is the following true of the item? {description}"
"""The default paraphrase of a :class:`PromptVariant` judge (``{description}`` is the feature)."""


class PromptVariant(Wrapper):
    """The same model asked a paraphrased question: a judge of its own.

    ``judge(description)`` asks ``inner`` about ``template.format(description=description)``
    (mining and proposing pass through). Its errors are correlated with the inner model's
    (same blind spots), but wording effects differ, and the several-judges model learns how
    much each phrasing is worth. Meant for language models: the offline model only parses
    its own grammar and refuses a paraphrase.

    Args:
        inner: any foundation model.
        template: the paraphrase, with a ``{description}`` field.
    """

    def __init__(self, inner: FoundationModel, template: str = PARAPHRASE) -> None:
        super().__init__(inner)
        if not isinstance(template, str) or "{description}" not in template:
            raise ValueError(f"template: must contain '{{description}}' (the feature's words), got {template!r}")
        self.template = template

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"variant({self.inner.name})"

    def cache_identity(self) -> dict[str, Any]:
        """The inner model's identity plus the paraphrase (its answers are cached apart)."""
        return {**self.inner_identity(), "paraphrase": self.template}

    async def ajudge(
        self, description: str, items: Mapping[str, Item], *, on_call: Callable[[CallRecord], None] | None = None
    ) -> dict[str, Judgment]:
        """The inner model's judgments of the paraphrased question."""
        asked = self.template.format(description=description)
        return await self.inner.ajudge(asked, items, **self._hook(on_call))  # type: ignore[call-arg]


class JudgePanel:
    """The extra judges of a discovery run.

    Args:
        judges: foundation models (each answers every feature on every item).
        names: one distinct name per judge (default: the models' ``name``, numbered on a clash).
        soft: ``True``: a judge's P(yes) (``Judgment.probability``) where it reports one, else its
            yes / no; ``False``: yes / no; ``None`` (default): as each judge was asked (soft for a
            backend asked for soft judgments, e.g. ``gguf:``; :func:`~genz_pyro.fm.mixed.uses_soft_judgments`).
    """

    def __init__(self, judges: Sequence[FoundationModel], *, names: Sequence[str] | None = None, soft: bool | None = None):
        models = list(judges)
        for j, m in enumerate(models):
            if not isinstance(m, FoundationModel):
                raise ValueError(f"judges: judge {j} is a {type(m).__name__}, not a FoundationModel")
        if names is None:
            names, seen = [], {}
            for m in models:
                base = str(getattr(m, "name", type(m).__name__))
                seen[base] = seen.get(base, 0) + 1
                names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
        names = [str(x) for x in names]
        if len(names) != len(models) or len(set(names)) != len(names):
            raise ValueError(f"judge_names: need {len(models)} distinct names, one per judge, got {names}")
        self.models = models
        self.names = names
        self.soft = soft

    def __len__(self) -> int:
        return len(self.models)

    def usage(self) -> dict[str, Usage]:
        """Each judge's cumulative usage (a copy)."""
        return {n: m.usage.copy() for n, m in zip(self.names, self.models)}

    def answer(self, description: str, items: Mapping[str, Item]) -> np.ndarray:
        """``[N, J]`` every judge's answer to ``description`` on every item (row order).

        Raises:
            ValueError: when a judge leaves an item unanswered (an answer must never be
                misaligned with its item).
        """
        ids = list(items.keys())
        out = np.zeros((len(ids), len(self.models)))
        for j, (name, model) in enumerate(zip(self.names, self.models)):
            got = model.judge(description, items)
            missing = [i for i in ids if i not in got]
            if missing:
                raise ValueError(
                    f"judges: {name} returned no answer to {description!r} for {len(missing)} item(s), first "
                    f"{missing[0]!r}; a FoundationModel must answer every item id it is given"
                )
            soft = uses_soft_judgments(model) if self.soft is None else self.soft
            out[:, j] = judgment_column(got, ids, soft=soft)
        return out


def attach_panel(
    disc: "Discovery",
    judges: Sequence[FoundationModel],
    names: Sequence[str] | None,
    options: Mapping[str, Any] | None,
) -> None:
    """Give ``disc`` its panel (``None`` without judges), an empty answer store, the
    ``fit_judges`` options and no several-judges fit yet."""
    disc.panel = JudgePanel(judges, names=names) if judges else None
    disc.panel_answers = {}
    disc.judges_options = dict(options or {})
    disc.judges_result = None


def judge_names(disc: "Discovery") -> list[str]:
    """The run's own judge (the model that judges the search) and then the panel's judges."""
    own = disc.model.judge_model if isinstance(disc.model, MixedModel) else disc.model
    others = [] if disc.panel is None else list(disc.panel.names)
    name = str(getattr(own, "name", "model"))
    return [name if name not in others else f"{name} (run)"] + others


def panel_answers(disc: "Discovery") -> tuple[np.ndarray, dict[str, dict[str, float]], float]:
    """``[N_all, K, J_extra]`` the panel's answers to the current features (asking the panel
    about any feature it has not answered yet), each judge's usage for that, and the seconds."""
    from genz_pyro.discovery.history import usage_delta

    panel: JudgePanel = disc.panel  # type: ignore[assignment]
    before = panel.usage()
    t0 = time.perf_counter()
    for desc in disc.descriptions:
        if desc not in disc.panel_answers:
            disc.panel_answers[desc] = panel.answer(desc, disc.items)
    after = panel.usage()
    usage = {n: usage_delta(before[n], after[n]) for n in panel.names}
    cols = [disc.panel_answers[d] for d in disc.descriptions]
    stacked = np.stack(cols, axis=1) if cols else np.zeros((len(disc.ids), 0, len(panel)))
    return stacked, usage, time.perf_counter() - t0


def panel_data(disc: "Discovery", rows: np.ndarray, answers: np.ndarray) -> Any:
    """:class:`~genz_pyro.judge_data.JudgesData` of the rows ``rows`` of ``answers [N_all, K, J]``
    (all judges, the run's own first) with the run's targets, covariates and names."""
    from genz_pyro.judge_data import JudgesData

    idx = torch.as_tensor(rows, dtype=torch.long)
    a = torch.as_tensor(answers[rows], dtype=disc._y.dtype)
    return JudgesData(
        answers=a,
        targets=disc._y[idx],
        covariates=None if disc._u is None else disc._u[idx],
        missing=None,
        feature_names=tuple(disc.descriptions),
        judge_names=tuple(judge_names(disc)),
    )


def panel_predict(disc: "Discovery", result: "JudgesFit", rows: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """``[len(rows), D]`` the several-judges model's predictive means from the answers alone."""
    from genz_pyro.infer.judge_rates import prior_logits
    from genz_pyro.models.links import LinearLink
    from genz_pyro.predict import predictive

    data = panel_data(disc, rows, answers)
    p = torch.sigmoid(prior_logits(data, result.params, result.decoupled))
    draws = 1 if isinstance(result.link, LinearLink) else 1000
    pred = predictive(result.link, result.sigma2, p, data.covariates, num_samples=draws)
    return pred.mean.double().numpy()


def panel_step(disc: "Discovery") -> dict[str, Any]:
    """Fit the several-judges model on the current features (training rows) and return the
    ``StepRecord.judges`` entry: judge names, ``false_yes`` / ``false_no`` ``[K][J]``, ``pi [K]``,
    the combined model's metric per split, each extra judge's usage and the fit's seconds."""
    from genz_pyro.infer.judges import fit_judges

    extra, usage, fm_time = panel_answers(disc)
    entry: dict[str, Any] = {"names": judge_names(disc), "usage": usage, "time": {"fm": fm_time}}
    if not disc.descriptions:
        disc.judges_result = None
        return entry
    primary = disc.judgments[:, :, None]
    answers = np.concatenate([primary, extra], axis=2)  # [N_all, K, J]
    t0 = time.perf_counter()
    opts = dict(disc.judges_options)
    engine = opts.pop("engine", "cavi" if disc.spec.link == "linear" else "sem")
    if "q_init" not in opts and disc.result is not None:
        # start from the search's posterior (the run's own judge): the judges' rates then start
        # from their agreement with it, not from a vote that a constant judge can swing
        opts["q_init"] = disc.result.q.detach()
    res = fit_judges(panel_data(disc, disc.train, answers), link=disc.spec.link, engine=engine,
                     seed=disc.seed, **opts)
    disc.judges_result = res
    entry["time"]["fit"] = time.perf_counter() - t0
    entry["false_yes"] = res.false_yes.tolist()
    entry["false_no"] = res.false_no.tolist()
    entry["pi"] = res.pi.tolist()
    metric = {}
    for name, rows in (("train", disc.train), ("val", disc.val), ("test", disc.test)):
        if rows.size == 0:
            metric[name] = float("nan")
            continue
        pred = panel_predict(disc, res, rows, answers)
        metric[name] = float(disc.scorer(pred, disc._y[torch.as_tensor(rows)].numpy()))
    entry["metric"] = metric
    return entry


def panel_state(disc: "Discovery") -> dict[str, Any]:
    """The panel's answers for the checkpoint (``{"descriptions": [P], "answers": [N, P, J]}``)."""
    descs = list(disc.panel_answers)
    j = len(disc.panel)  # type: ignore[arg-type]
    arr = np.stack([disc.panel_answers[d] for d in descs], axis=1) if descs else np.zeros((len(disc.ids), 0, j))
    return {"descriptions": descs, "answers": torch.as_tensor(arr, dtype=torch.float32)}


def panel_restore(disc: "Discovery", state: Mapping[str, Any] | None) -> None:
    """Restore :func:`panel_state` (a checkpoint without it leaves the panel to re-ask, from the cache)."""
    disc.panel_answers = {}
    if not state:
        return
    arr = state["answers"].numpy().astype(np.float64)
    for p, d in enumerate(state["descriptions"]):
        disc.panel_answers[d] = arr[:, p, :].copy()


def rates_rows(entry: Mapping[str, Any], descriptions: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (feature, judge) of a ``StepRecord.judges`` entry: ``false_yes``, ``false_no``
    and the error rate ``pi b + (1 - pi) a`` (the share of items on which the judge
    contradicts ``z``); empty before the first feature."""
    rows = []
    if "false_yes" in entry:
        for k, desc in enumerate(descriptions):
            pi = float(entry["pi"][k])
            for j, name in enumerate(entry["names"]):
                a, b = float(entry["false_yes"][k][j]), float(entry["false_no"][k][j])
                rows.append({"feature": desc, "judge": name, "false_yes": a, "false_no": b,
                             "error": pi * b + (1 - pi) * a})
    return rows


def write_judges(run_dir: Any, entry: Mapping[str, Any], descriptions: Sequence[str]) -> None:
    """Write ``judges.json``: the last step's several-judges entry and :func:`rates_rows`."""
    import json
    from pathlib import Path

    from genz_pyro.discovery.history import _nan_to_none
    from genz_pyro.discovery.persist import atomic_write

    body = {**dict(entry), "features": list(descriptions), "rates": rates_rows(entry, descriptions)}
    atomic_write(Path(run_dir) / JUDGES_FILE, json.dumps(_nan_to_none(body), indent=2, sort_keys=True))


def judges_summary(disc: "Discovery") -> dict[str, Any]:
    """The ``summary.json`` entry of a run with a panel: the judges, the several-judges
    model's metric per split, the rates table after the last step, and each judge's total
    usage (the panel's judges, summed over the steps; the run's own judge's is the run's usage)."""
    last = disc.history[-1].judges if len(disc.history) else {}
    usage: dict[str, dict[str, float]] = {}
    for rec in disc.history:
        for name, u in (rec.judges.get("usage") or {}).items():
            tot = usage.setdefault(name, {})
            for key, v in u.items():
                tot[key] = tot.get(key, 0) + v
    from genz_pyro.discovery.history import _nan_to_none

    return _nan_to_none({  # NaN (an empty split) as None, as in the rest of summary.json
        "names": judge_names(disc),
        "metric": last.get("metric", {}),
        "rates": rates_rows(last, disc.descriptions),
        "usage": usage,
    })
