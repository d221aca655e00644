"""The dataset container every loader returns and the discovery loop consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from genz_pyro.fm.protocol import Item

__all__ = ["Dataset", "split_indices"]


def split_indices(
    n: int, *, test_fraction: float = 0.2, val_fraction: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into (train, validation, test) index arrays.

    The test set is ``round(test_fraction * n)`` items; the validation set is carved
    from what remains (``round(val_fraction * n_train_before)``). Each array is sorted.
    """
    if not 0 <= test_fraction < 1 or not 0 <= val_fraction < 1:
        raise ValueError("split_indices: test_fraction and val_fraction must be in [0, 1)")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    test, rest = perm[:n_test], perm[n_test:]
    n_val = int(round(val_fraction * len(rest)))
    val, train = rest[:n_val], rest[n_val:]
    return np.sort(train), np.sort(val), np.sort(test)


@dataclass
class Dataset:
    """Items, targets, optional covariates and a seeded split.

    Attributes:
        name: short name (``"houses"``, ``"movies"``, ``"binary"``, ...).
        items: ordered ``{item_id: item}``; item ``i`` of the mapping is row ``i``.
        targets: ``[N, D]`` float array.
        covariates: ``[N, C]`` float array or ``None`` (no intercept column: links add their own).
        covariate_names: ``C`` names.
        target_names: ``D`` names.
        train, val, test: index arrays into the rows (val may be empty).
        task: one-sentence task description (for the zero-shot baseline's prompt).
        extras: loader-specific extras (e.g. the full movie embeddings, the ratings matrix).
    """

    name: str
    items: Mapping[str, Item]
    targets: np.ndarray
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    target_names: tuple[str, ...] = ()
    train: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    task: str = ""
    extras: dict = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Item ids in row order."""
        return list(self.items.keys())

    def __len__(self) -> int:
        return len(self.items)
