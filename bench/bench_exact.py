"""Exact-EM engine: cost per iteration and the discovery binary experiment (clean and with
the flip wrapper at 0.1) with ``engine="exact"`` against CAVI, on one and two torch threads.

Run: ``.venv/bin/python bench/bench_exact.py``. Prints markdown rows for BENCHMARKS.md.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from genz_pyro.datasets.binary import load_binary
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.fm.flip import FlipModel
from genz_pyro.fm.offline import OfflineModel
from genz_pyro.infer import fit
from genz_pyro.infer.simulate import simulate_linear


def per_iteration(n: int, k: int, d: int, engine: str, sweeps: int = 20) -> float:
    """Seconds per iteration (E + M) over ``sweeps`` iterations (tol 0: no early stop)."""
    sim = simulate_linear(n, k, d, sigma=0.3, seed=0)
    fit(sim.data, engine=engine, max_sweeps=2, tol=0.0)  # warm-up
    t = time.perf_counter()
    res = fit(sim.data, engine=engine, max_sweeps=sweeps, tol=0.0)
    return (time.perf_counter() - t) / res.num_sweeps


def binary_run(engine: str, flips: bool) -> tuple[float, float, np.ndarray]:
    """(wall s, fit s, eps [9]) of nine runs of Algorithm 1 on the numbers 0..511."""
    ds = load_binary(9)
    fm = FlipModel(OfflineModel(), rate=0.1, seed=3) if flips else OfflineModel()
    t = time.perf_counter()
    d = Discovery(ds, fm, link="linear", engine=engine, seed=0, exemplars=ExemplarConfig(16, 16))
    d.run(algorithm=1, cycles=9)
    wall = time.perf_counter() - t
    return wall, sum(r.time["fit"] for r in d.history), d.result.eps.double().numpy()


def main() -> None:
    print(f"machine: {platform.machine()}, torch {torch.__version__}")
    print("| threads | (N, K, D) | exact s / iteration | CAVI s / sweep |")
    print("| ---: | --- | ---: | ---: |")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for n, k, d in ((512, 9, 1), (2000, 10, 8), (2000, 12, 8)):
            ex, cv = per_iteration(n, k, d, "exact"), per_iteration(n, k, d, "cavi")
            print(f"| {threads} | ({n}, {k}, {d}) | {ex * 1e3:.1f} ms | {cv * 1e3:.1f} ms |")
    print()
    print("| threads | binary run | engine | wall s | fit s | eps min..max |")
    print("| ---: | --- | --- | ---: | ---: | --- |")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for flips in (False, True):
            for engine in ("exact", "cavi"):
                wall, fit_s, eps = binary_run(engine, flips)
                name = "flip 0.1" if flips else "clean"
                print(f"| {threads} | {name} | {engine} | {wall:.2f} | {fit_s:.2f} | {eps.min():.3f}..{eps.max():.3f} |")


if __name__ == "__main__":
    main()
