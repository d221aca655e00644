"""``OfflineModel``: a deterministic foundation model that needs no key.

It mines by searching a grammar of predicates (:mod:`.miner`), writes them as
English sentences and judges sentences by parsing them (:mod:`.english`), and
proposes generic zero-shot features (:mod:`.propose`). Items are ints, strings
(an integer string like ``"37"`` is the int 37) or records (dicts or JSON strings
of dicts). Every call counts one in ``usage.calls``; no tokens, no cost.

Example::

    fm = OfflineModel()
    items = {str(i): str(i) for i in range(512)}
    pos = {k: v for k, v in items.items() if int(k) & 128}
    neg = {k: v for k, v in items.items() if not int(k) & 128}
    fm.mine(pos, neg).description            # 'Integers with the 2^7 bit set'
    fm.judge("Integers with the 2^7 bit set", items)["200"].value   # True
"""

from __future__ import annotations

from typing import Any, Mapping

from genz_pyro.fm.offline.english import parse
from genz_pyro.fm.offline.miner import mine_predicate
from genz_pyro.fm.offline.predicates import evaluate
from genz_pyro.fm.offline.propose import propose_features
from genz_pyro.fm.offline.table import Table
from genz_pyro.fm.protocol import FoundationModel, Item, Judgment, MinedFeature

__all__ = ["OfflineModel", "OFFLINE_VERSION"]

OFFLINE_VERSION = "1"


def _check_items(items: Any, name: str) -> None:
    if not isinstance(items, Mapping):
        raise ValueError(f"{name}: expected an ordered mapping {{item_id: item}}, got {type(items).__name__}")


class OfflineModel(FoundationModel):
    """The offline, deterministic foundation model (predicate grammar; see the package docs).

    Attributes:
        usage: ``usage.calls`` counts every judge/mine/propose call (no tokens, no cost).
        op_calls: the same calls by operation, ``{"judge": .., "mine": .., "propose": ..}``.
    """

    name = "offline"

    def __init__(self) -> None:
        super().__init__()
        self.op_calls: dict[str, int] = {"judge": 0, "mine": 0, "propose": 0}

    def _count(self, op: str) -> None:
        self.usage.calls += 1
        self.op_calls[op] += 1

    def cache_identity(self) -> dict:
        """What changes this model's answers: provider, model and grammar version."""
        return {"provider": "offline", "model": "offline-grammar", "version": OFFLINE_VERSION}

    def judge_array(self, description: str, items: Mapping[str, Item]) -> Any:
        """Judge ``description`` on ``items``: a bool numpy array ``[N]`` in item order
        (the vectorised core of :meth:`ajudge`; does not count a call)."""
        _check_items(items, "items")
        table = Table(items)
        return evaluate(parse(description, table), table)

    async def ajudge(self, description: str, items: Mapping[str, Item]) -> dict[str, Judgment]:
        """Parse ``description`` and evaluate it on every item.

        Raises:
            ValueError: when the description is not in the controlled English
                (the message names it and points to the grammar).
        """
        self._count("judge")
        values = self.judge_array(description, items)
        return {k: Judgment(k, bool(b)) for k, b in zip(items.keys(), values)}

    async def amine(
        self,
        positives: Mapping[str, Item],
        negatives: Mapping[str, Item],
        *,
        avoid: tuple[str, ...] = (),
    ) -> MinedFeature:
        """The grammar predicate that best separates ``positives`` from ``negatives``,
        written as an English sentence, with its score on the exemplars as rationale."""
        _check_items(positives, "positives")
        _check_items(negatives, "negatives")
        self._count("mine")
        res = mine_predicate(positives, negatives, avoid=tuple(avoid))
        rationale = (
            f"Holds for {res.positives_hit}/{res.num_positives} positive and "
            f"{res.negatives_hit}/{res.num_negatives} negative exemplars (balanced accuracy "
            f"{res.balanced_accuracy:.3f}); the best of {res.num_candidates} grammar predicates."
        )
        return MinedFeature(res.description, rationale)

    async def apropose(self, task: str, examples: Mapping[str, Item], n: int) -> list[str]:
        """``n`` generic features from the examples' common values and typical thresholds
        (``task`` is not used: the offline model has no domain knowledge)."""
        _check_items(examples, "examples")
        self._count("propose")
        return [text for _, text in propose_features(examples, n)]
