"""Benchmark the offline foundation model: mining, judging and proposing wall times.

* mining on integer exemplars (2 x 20 of 0..511) and on planted records (10 fields,
  2 x 20 and 2 x 50 exemplars), median of repeated calls;
* judging one description on N = 10 000 items: integers, records (numeric, list and
  text descriptions), and through ``FlipModel``;
* proposing 50 zero-shot features from 1 000 records.

Usage::

    .venv/bin/python bench/bench_offline.py
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genz_pyro.datasets.planted import make_planted  # noqa: E402
from genz_pyro.fm.flip import FlipModel  # noqa: E402
from genz_pyro.fm.offline import OfflineModel  # noqa: E402


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    import torch

    print(f"machine: {platform.machine()}, python {platform.python_version()}, torch {torch.__version__}")
    fm = OfflineModel()
    rng = np.random.default_rng(0)

    ints = {str(i): str(i) for i in range(512)}
    nums = np.arange(512)
    pos = {str(i): str(i) for i in rng.choice(nums[(nums & 32) > 0], 20, replace=False)}
    neg = {str(i): str(i) for i in rng.choice(nums[(nums & 32) == 0], 20, replace=False)}
    print(f"mine ints 2x20:              {_median_ms(lambda: fm.mine(pos, neg), 20):7.1f} ms")

    ds = make_planted(1000, seed=0)
    z = ds.extras["hidden"]["judgments"]
    ids = ds.ids
    for n in (20, 50):
        ms = []
        for k in range(z.shape[1]):
            p = {ids[i]: ds.items[ids[i]] for i in rng.choice(np.flatnonzero(z[:, k] == 1), n, replace=False)}
            q = {ids[i]: ds.items[ids[i]] for i in rng.choice(np.flatnonzero(z[:, k] == 0), n, replace=False)}
            ms.append(_median_ms(lambda: fm.mine(p, q), 5))
        print(f"mine records 2x{n} (10 fields): {statistics.median(ms):7.1f} ms (median over 6 predicates)")

    big_ints = {str(i): str(i) for i in range(10_000)}
    big_rec = {f"x{i}": ds.items[ids[i % 1000]] for i in range(10_000)}
    cases = [
        ("judge 10k ints (bit)", "Integers with the 2^7 bit set", big_ints, fm),
        ("judge 10k records (threshold)", "Has 4 or more bedrooms", big_rec, fm),
        ("judge 10k records (list)", "Amenities includes pool", big_rec, fm),
        ("judge 10k records (phrase)", 'Description mentions "ocean view"', big_rec, fm),
        ("judge 10k ints via FlipModel", "Integers with the 2^7 bit set", big_ints, FlipModel(OfflineModel(), 0.1)),
    ]
    for label, desc, items, model in cases:
        print(f"{label + ':':30s} {_median_ms(lambda: model.judge(desc, items), 5):7.1f} ms")
    print(f"propose 50 from 1000 records: {_median_ms(lambda: fm.propose(ds.task, ds.items, 50), 5):7.1f} ms")
    del ints


if __name__ == "__main__":
    main()
