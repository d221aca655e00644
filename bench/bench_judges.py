"""Fit time of the several-judges model (``fit_judges``) against the one-judge ``fit``.

Simulated linear data with three judges (error rates 0.02, 0.15, 0.45, per judge and feature),
one thread. For each size: ``fit`` on the best judge's answers alone (SEM and CAVI), then
``fit_judges`` on all three (SEM and CAVI): wall time, sweeps, the largest rate error and the
accuracy of the posterior mode of ``z``.

    .venv/bin/python bench/bench_judges.py [--sizes 1000,8,8 20000,20,16]
"""

from __future__ import annotations

import argparse
import time

import torch

from genz_pyro.infer import fit
from genz_pyro.infer.judges import fit_judges
from genz_pyro.infer.simulate import simulate_judges

RATES = [0.02, 0.15, 0.45]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["1000,8,8", "20000,20,16"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| (N, K, D) | model | engine | time s | sweeps | max rate error | z accuracy |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        n, k, d = (int(v) for v in size.split(","))
        sim = simulate_judges(n, k, d, false_yes=RATES, sigma=1.0, seed=0)
        truth = torch.tensor(RATES, dtype=torch.float64).expand(k, 3)
        for engine in ("sem", "cavi"):
            t0 = time.perf_counter()
            one = fit(sim.data.judge(0), engine=engine)
            dt = time.perf_counter() - t0
            acc = float(((one.q > 0.5).float() == sim.z).float().mean())
            err = float((one.eps.double() - 0.02).abs().max())
            print(f"| ({n}, {k}, {d}) | one judge (0.02) | {engine} | {dt:.2f} | {one.num_sweeps} | {err:.3f} | {acc:.4f} |")
            t0 = time.perf_counter()
            res = fit_judges(sim.data, engine=engine)
            dt = time.perf_counter() - t0
            acc = float(((res.q > 0.5).float() == sim.z).float().mean())
            err = max(float((res.false_yes - truth).abs().max()), float((res.false_no - truth).abs().max()))
            print(f"| ({n}, {k}, {d}) | three judges | {engine} | {dt:.2f} | {res.num_sweeps} | {err:.3f} | {acc:.4f} |")


if __name__ == "__main__":
    main()
