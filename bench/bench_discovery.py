"""Benchmark of the discovery loop with the offline foundation model.

Measures, for the binary experiment (items "0".."511", nine runs of Algorithm 1,
linear link) and for a planted-feature run (N = 1000, six hidden predicates,
Algorithm 4), the wall time split into statistical fitting and foundation-model
time, the number of foundation-model calls by operation, and the statistical
overhead per added feature.

Usage::

    .venv/bin/python bench/bench_discovery.py            # both experiments
    .venv/bin/python bench/bench_discovery.py --quick    # binary only

Targets (issue 4): binary experiment under 10 s; statistical overhead per added
feature under 1 s at N = 512.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from genz_pyro.datasets.binary import load_binary
from genz_pyro.datasets.planted import make_planted, oracle_r2
from genz_pyro.discovery import Discovery, ExemplarConfig
from genz_pyro.fm.offline import OfflineModel


def _summary(name: str, d: Discovery, wall: float, model: OfflineModel) -> dict:
    recs = list(d.history)
    fit = sum(r.time["fit"] for r in recs)
    fm = sum(r.time["fm"] for r in recs)
    adds = [r for r in recs if r.action == "add"]
    calls = getattr(model, "op_calls", None)
    return {
        "name": name,
        "steps": len(recs),
        "adds": len(adds),
        "wall": wall,
        "fit": fit,
        "fm": fm,
        "other": wall - fit - fm,
        "fit_per_add": float(np.mean([r.time["fit"] for r in adds])) if adds else float("nan"),
        "fit_per_add_max": float(np.max([r.time["fit"] for r in adds])) if adds else float("nan"),
        "calls": dict(calls) if calls is not None else {"total": model.usage.calls},
    }


def bench_binary(seed: int = 0) -> dict:
    """Nine runs of Algorithm 1 on the 512 binary strings."""
    ds = load_binary(9)
    fm = OfflineModel()
    d = Discovery(ds, fm, link="linear", seed=seed, exemplars=ExemplarConfig(16, 16))
    t0 = time.perf_counter()
    d.run(algorithm=1, cycles=9)
    out = _summary("binary (N=512, 9 x Alg 1)", d, time.perf_counter() - t0, fm)
    bits = ds.extras["bits"]
    out["bits_found"] = sum(
        any(np.array_equal(d.judgments[:, j], bits[:, b]) or np.array_equal(d.judgments[:, j], 1 - bits[:, b])
            for j in range(d.judgments.shape[1]))
        for b in range(9)
    )
    return out


def bench_planted(seed: int = 0, cycles: int = 2) -> dict:
    """Algorithm 4 (cycles x (5 adds with Alg 2 + 2 removals)) on planted records."""
    ds = make_planted(1000, seed=seed)
    fm = OfflineModel()
    d = Discovery(ds, fm, link="linear", seed=0, exemplars=ExemplarConfig(20, 20, confident=0.3),
                  fit_options={"tol": 1e-4})
    t0 = time.perf_counter()
    d.run(algorithm=4, cycles=cycles, n_add=5, n_remove=2)
    out = _summary(f"planted (N=1000, Alg 4, {cycles} cycles)", d, time.perf_counter() - t0, fm)
    hidden = np.asarray(ds.extras["hidden"]["judgments"])
    found = set()
    for j in range(d.judgments.shape[1]):
        for k in range(hidden.shape[1]):
            a = float((d.judgments[:, j] == hidden[:, k]).mean())
            if max(a, 1 - a) >= 0.95:
                found.add(k)
    out["hidden_found"] = len(found)
    out["test_r2"] = d.metrics()["test"]
    out["oracle_r2"] = oracle_r2(ds)
    rem = [r.time["fit"] for r in d.history if r.action == "remove"]
    out["fit_per_remove"] = float(np.mean(rem)) if rem else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="binary experiment only")
    parser.add_argument("--repeats", type=int, default=1, help="repeat the binary experiment")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    rows = [bench_binary(seed=i) for i in range(args.repeats)]
    if not args.quick:
        rows.append(bench_planted())
    print("| run | steps | wall s | fit s | FM s | other s | fit s / add (mean, max) | FM calls | quality |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |")
    for r in rows:
        if "bits_found" in r:
            quality = f"{r['bits_found']}/9 bits"
        else:
            quality = (f"{r['hidden_found']}/6 hidden, test R2 {r['test_r2']:.3f} (oracle {r['oracle_r2']:.3f}), "
                       f"fit s / removal {r['fit_per_remove']:.2f}")
        calls = ", ".join(f"{k} {v}" for k, v in r["calls"].items())
        print(f"| {r['name']} | {r['steps']} | {r['wall']:.2f} | {r['fit']:.2f} | {r['fm']:.2f} | {r['other']:.2f} | "
              f"{r['fit_per_add']:.2f}, {r['fit_per_add_max']:.2f} | {calls} | {quality} |")


if __name__ == "__main__":
    main()
