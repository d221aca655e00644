"""Dry run: how many calls, tokens and dollars an extraction job would cost, without sending any.

``estimate_job(model, descriptions, items, cache=cache)`` looks every
(description, item) pair up in the cache exactly as :class:`CachedModel` would,
and asks the backend to plan the misses (``plan_judge``, the same split into calls
the real job makes). When every answer is well-formed the real job makes exactly
``estimate.calls`` calls; re-asks of ids a model left out and re-sends of
malformed answers come on top. Token counts are estimates (about four characters
a token, output at the expected answer length); ``cost_usd`` uses the backend's
price table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.cached import CachedModel
from genz_pyro.fm.protocol import FoundationModel, Item

__all__ = ["JobEstimate", "estimate_job"]


@dataclass(frozen=True)
class JobEstimate:
    """The planned cost of judging ``descriptions`` x ``items``.

    Attributes:
        calls: provider calls the job would make.
        input_tokens: estimated prompt tokens.
        output_tokens: estimated answer tokens.
        cost_usd: estimated dollars.
        cached: (description, item) pairs already in the cache (free).
        to_judge: pairs the job would send (distinct item contents per description).
    """

    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached: int = 0
    to_judge: int = 0


def estimate_job(
    model: FoundationModel,
    descriptions: Sequence[str],
    items: Mapping[str, Item],
    cache: JudgmentCache | None = None,
) -> JobEstimate:
    """Estimate judging every description on every item, sending nothing.

    Args:
        model: an SDK backend (anything with ``plan_judge(description, items) ->
            list[CallEstimate]``), or a :class:`CachedModel` around one (its cache is
            used unless ``cache`` is given).
        descriptions: the features to judge (``K`` strings).
        items: ordered ``{item_id: item}`` (``N`` items).
        cache: consult this cache for answers already paid for (as ``CachedModel(model,
            cache)`` would); ``None`` with a bare backend plans every pair.

    Returns:
        a :class:`JobEstimate`.

    Raises:
        ValueError: when ``model`` cannot be planned (no ``plan_judge``: the offline
            model and other local models cost nothing) or ``descriptions`` is a string.
    """
    if isinstance(descriptions, str):
        raise ValueError("descriptions: expected a list of feature descriptions, got one string; wrap it in a list")
    if isinstance(model, CachedModel):
        planner: Any = model if cache is None else CachedModel(model.inner, cache, chunk_size=model._chunk_size)
        inner = model.inner
    else:
        inner = model
        planner = model if cache is None else CachedModel(model, cache)
    if not callable(getattr(inner, "plan_judge", None)):
        raise ValueError(
            f"model: {type(inner).__name__} has no plan_judge(); a dry run plans SDK backends "
            "(AnthropicModel, OpenAIModel), possibly wrapped in CachedModel"
        )
    calls = n_in = n_out = cached = to_judge = 0
    cost = 0.0
    for description in descriptions:
        if isinstance(planner, CachedModel):
            hits, misses, _, _, _, _ = planner.lookup(description, items)
            cached += len(hits)
            to_judge += len(misses)
            plan = planner.plan_judge(description, items)
        else:
            to_judge += len(items)
            plan = planner.plan_judge(description, items)
        calls += len(plan)
        for est in plan:
            n_in += int(est.input_tokens)
            n_out += int(est.output_tokens)
            cost += float(est.cost_usd)
    return JobEstimate(calls, n_in, n_out, cost, cached, to_judge)
