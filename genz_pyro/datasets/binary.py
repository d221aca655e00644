"""The binary experiment of the GenZ paper (section 5.1): strings "0".."511", target the number.

:func:`load_binary` returns ``2**bits`` items ``{"0": "0", "1": "1", ...}`` (the item
is the decimal string, the id is the same string), targets ``[N, 1]`` equal to the
number (float), no covariates, and **every item in the training split** (the paper
fits and reconstructs all 512 numbers; validation and test are empty).
``extras["bits"]`` is the ``[N, bits]`` 0/1 matrix of the true binary digits
(column ``k`` is the ``2^k`` bit), the ground truth that nine runs of Algorithm 1
with a linear link should rediscover, coarse to fine.
"""

from __future__ import annotations

import numpy as np

from genz_pyro.datasets.base import Dataset

__all__ = ["load_binary", "BINARY_TASK"]

BINARY_TASK = "Predict the integer value written in each string."


def load_binary(bits: int = 9, *, seed: int = 0) -> Dataset:
    """Items ``"0" .. str(2**bits - 1)`` with the number as target.

    Args:
        bits: number of binary digits (1..16); ``N = 2**bits`` items.
        seed: accepted for a uniform loader signature; the dataset has no randomness
            (all items are training items).

    Returns:
        a :class:`Dataset` named ``"binary"``: targets ``[N, 1]`` float64, train =
        ``arange(N)``, val and test empty, ``extras["bits"]`` ``[N, bits]`` int.

    Raises:
        ValueError: when ``bits`` is not an int in 1..16.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits: expected an int in 1..16, got {bits!r}")
    n = 2**bits
    values = np.arange(n)
    items = {str(i): str(i) for i in range(n)}
    return Dataset(
        name="binary",
        items=items,
        targets=values.astype(np.float64)[:, None],
        target_names=("value",),
        train=np.arange(n),
        val=np.zeros(0, dtype=int),
        test=np.zeros(0, dtype=int),
        task=BINARY_TASK,
        extras={"bits": ((values[:, None] >> np.arange(bits)[None, :]) & 1).astype(np.int64), "seed": seed},
    )
