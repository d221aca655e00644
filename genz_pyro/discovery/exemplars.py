"""Exemplar sampling for the mining prompt (paper Fig. 2, section 2).

The posterior ``q`` of a decoupled feature splits the items into a positive and a
negative group (threshold at 0.5 or one Bernoulli sample per item). A few exemplars
of each group are shown to the foundation model, which describes what separates
them. When the feature already has judgments ``s`` (a feature being refined), the
exemplars mix items where the posterior and the judgment *agree* with items where
they *disagree*: the disagreeing ones show the model what its current wording gets
wrong (the paper's refinement trick, "fearless female characters in an action
movie" -> "strong female leads").

Everything is deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

__all__ = ["ExemplarConfig", "ExemplarSplit", "split_by_posterior", "sample_exemplars"]


@dataclass(frozen=True)
class ExemplarConfig:
    """How many exemplars to show and how to pick them.

    Attributes:
        num_positive: exemplars of the positive group (``q`` says ``z = 1``).
        num_negative: exemplars of the negative group.
        mode: ``"threshold"`` (``z = q > 0.5``) or ``"sample"`` (``z ~ Bernoulli(q)``).
        disagree_fraction: when current judgments are given, the share of each group
            drawn from items whose judgment disagrees with the group (the rest agree).
        confident: draw each group from its ``confident_pool`` share of most confident
            members (largest ``|q - 0.5|``) instead of from all members; ``1.0`` = all.
    """

    num_positive: int = 16
    num_negative: int = 16
    mode: str = "threshold"
    disagree_fraction: float = 0.5
    confident: float = 1.0

    def __post_init__(self) -> None:
        if self.num_positive < 1 or self.num_negative < 1:
            raise ValueError(
                f"ExemplarConfig: num_positive and num_negative must be >= 1, got "
                f"{self.num_positive} and {self.num_negative}"
            )
        if self.mode not in ("threshold", "sample"):
            raise ValueError(f"ExemplarConfig: mode must be 'threshold' or 'sample', got {self.mode!r}")
        if not 0.0 < self.confident <= 1.0:
            raise ValueError(f"ExemplarConfig: confident must be in (0, 1], got {self.confident}")
        if not 0.0 <= self.disagree_fraction <= 1.0:
            raise ValueError(
                f"ExemplarConfig: disagree_fraction must be in [0, 1], got {self.disagree_fraction}"
            )


@dataclass(frozen=True)
class ExemplarSplit:
    """The exemplars chosen for one mining call.

    Attributes:
        positive: row indices (into the arrays given to :func:`sample_exemplars`) of
            the positive exemplars, sorted.
        negative: row indices of the negative exemplars.
        num_positive_group: size of the whole positive group among the candidates.
        num_negative_group: size of the whole negative group among the candidates.
    """

    positive: np.ndarray
    negative: np.ndarray
    num_positive_group: int
    num_negative_group: int


def split_by_posterior(q: torch.Tensor | np.ndarray, *, mode: str = "threshold", seed: int = 0) -> np.ndarray:
    """Hard assignment ``z [n]`` (bool) from a posterior ``q [n]``.

    ``"threshold"``: ``q > 0.5``; ``"sample"``: one Bernoulli draw per item from a
    generator seeded with ``seed``.
    """
    qa = np.asarray(q.detach().cpu().numpy() if isinstance(q, torch.Tensor) else q, dtype=np.float64)
    if qa.ndim != 1:
        raise ValueError(f"q: expected a 1-d posterior of one feature, got shape {qa.shape}")
    if mode == "threshold":
        return qa > 0.5
    if mode == "sample":
        return np.random.default_rng(seed).random(qa.shape[0]) < qa
    raise ValueError(f"mode: must be 'threshold' or 'sample', got {mode!r}")


def _pick(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    if k <= 0 or pool.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(pool, size=min(k, pool.size), replace=False)).astype(np.int64)


def _group(
    members: np.ndarray, wrong: np.ndarray | None, k: int, disagree_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """``k`` members; with ``wrong`` given, about ``disagree_fraction * k`` of them from
    the members whose judgment disagrees (topped up from the other pool if short)."""
    if wrong is None:
        return _pick(members, k, rng)
    bad, good = members[wrong[members]], members[~wrong[members]]
    k_bad = min(int(round(disagree_fraction * k)), bad.size)
    k_good = min(k - k_bad, good.size)
    k_bad = min(k - k_good, bad.size)  # top up from the disagreeing pool if the agreeing one is short
    chosen = np.concatenate([_pick(bad, k_bad, rng), _pick(good, k_good, rng)])
    return np.sort(chosen)


def sample_exemplars(
    q: torch.Tensor | np.ndarray,
    *,
    config: ExemplarConfig = ExemplarConfig(),
    judgments: torch.Tensor | np.ndarray | None = None,
    candidates: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
) -> ExemplarSplit:
    """Choose positive and negative exemplars from a feature's posterior.

    Args:
        q: ``[n]`` posterior ``q(z = 1)`` of the feature being mined.
        config: group sizes and the split mode.
        judgments: optional ``[n]`` current 0/1 judgments of that feature; when given,
            each group mixes agreeing and disagreeing items (``config.disagree_fraction``).
        candidates: optional row indices the exemplars may come from (Algorithm 2's
            subgroup); default all ``n`` rows.
        seed: seeds the split (``mode="sample"``) and the draw.

    Returns:
        An :class:`ExemplarSplit` of row indices into ``q``.

    Raises:
        ValueError: when ``q`` is not 1-d, ``judgments`` has another length, or a
            group is empty (the posterior does not split the candidates: fit longer or
            use another subgroup).
    """
    ss = np.random.SeedSequence([int(seed), 0x5E1])
    split_seed, draw_seed = (int(s.generate_state(1)[0]) for s in ss.spawn(2))
    z = split_by_posterior(q, mode=config.mode, seed=split_seed)
    n = z.shape[0]
    rows = np.arange(n) if candidates is None else np.asarray(candidates, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"candidates: indices must lie in [0, {n}), got range [{rows.min()}, {rows.max()}]")
    wrong = None
    if judgments is not None:
        s = np.asarray(
            judgments.detach().cpu().numpy() if isinstance(judgments, torch.Tensor) else judgments, dtype=np.float64
        )
        if s.shape != (n,):
            raise ValueError(f"judgments: expected shape ({n},) like q, got {s.shape}")
        wrong = (s > 0.5) != z
    pos, neg = rows[z[rows]], rows[~z[rows]]
    if config.confident < 1.0:
        qa = np.asarray(q.detach().cpu().numpy() if isinstance(q, torch.Tensor) else q, dtype=np.float64)

        def top(members: np.ndarray, k: int) -> np.ndarray:
            keep = max(k, int(np.ceil(config.confident * members.size)))
            order = np.argsort(-np.abs(qa[members] - 0.5), kind="stable")
            return np.sort(members[order[:keep]])

        pos, neg = top(pos, config.num_positive), top(neg, config.num_negative)
    if pos.size == 0 or neg.size == 0:
        raise ValueError(
            f"q: the posterior puts all {rows.size} candidate items in one group "
            f"({pos.size} positive, {neg.size} negative); nothing to contrast: fit longer, "
            "use mode='sample' or another subgroup"
        )
    rng = np.random.default_rng(draw_seed)
    return ExemplarSplit(
        positive=_group(pos, wrong, config.num_positive, config.disagree_fraction, rng),
        negative=_group(neg, wrong, config.num_negative, config.disagree_fraction, rng),
        num_positive_group=int(pos.size),
        num_negative_group=int(neg.size),
    )
