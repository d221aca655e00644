"""Benchmark of the classic-SVI engine (``genz_pyro.infer.svi.fit_svi``) on simulated data.

Each configuration runs in a fresh subprocess (peak memory = its ``ru_maxrss``): simulate
(``simulate_linear``, seed 0, W ~ N(0, 1), eps ~ U(0.05, 0.3)), fit, report wall time,
sweeps (passes over the data), steps, eps error, W correlation, z accuracy, final bound.

    .venv/bin/python bench/bench_svi.py                  # the default table (docs/svi.md)
    .venv/bin/python bench/bench_svi.py --configs "2000,10,8,0.3,full,300"
        # N,K,D,sigma,batch ('auto', 'full' or B),max_sweeps[,local_sweeps]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT = [
    "2000,10,8,0.3,auto,300",
    "2000,10,8,0.3,500,40",
    "512,30,32,1.0,auto,300",
    "2000,40,32,1.0,auto,300",
    "20000,100,32,1.0,auto,200",
    "200000,100,32,1.0,auto,200",
]


def _worker(spec: str) -> dict:
    import torch

    from genz_pyro.infer.simulate import simulate_linear
    from genz_pyro.infer.svi import fit_svi

    parts = spec.split(",")
    n, k, d = (int(v) for v in parts[:3])
    sigma = float(parts[3])
    batch = {"auto": None, "full": n}.get(parts[4]) if parts[4] in ("auto", "full") else int(parts[4])
    max_sweeps = int(parts[5])
    opts = {"local_sweeps": int(parts[6])} if len(parts) > 6 else {}
    sim = simulate_linear(n, k, d, sigma=sigma, seed=0)
    t0 = time.perf_counter()
    r = fit_svi(sim.data, subsample_size=batch, max_sweeps=max_sweeps, **opts)
    wall = time.perf_counter() - t0
    w = r.link.feature_weight.detach()
    corr = float(torch.corrcoef(torch.stack([w.flatten(), sim.weight.flatten()]))[0, 1])
    err = (r.eps - sim.eps).abs()
    return {
        "spec": spec,
        "time": wall,
        "sweeps": r.num_sweeps,
        "steps": r.info["steps"],
        "converged": r.converged,
        "eps_err_mean": float(err.mean()),
        "eps_err_max": float(err.max()),
        "w_corr": corr,
        "z_acc": float(((r.q > 0.5).float() == sim.z).float().mean()),
        "bound_per_item": r.bound / n,
        "threads": torch.get_num_threads(),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=";".join(DEFAULT), help="';'-separated N,K,D,sigma,batch,max_sweeps[,local]")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker)))
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print("| N | K | D | sigma | batch | max sweeps | local sweeps | time s | sweeps | steps | eps err mean/max "
          "| W corr | z acc | bound/item | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.configs.split(";"):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", spec]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
            r = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
            err = None if r else (proc.stderr.strip().splitlines() or ["?"])[-1]
        except subprocess.TimeoutExpired:
            r, err = None, f"timeout after {args.timeout:.0f} s"
        p = spec.split(",")
        local = p[6] if len(p) > 6 else "auto"
        if r is None:
            print(f"| {' | '.join(p[:6])} | {local} | error: {err} |", flush=True)
            continue
        conv = "" if r["converged"] else " (cap)"
        print(f"| {' | '.join(p[:6])} | {local} | {r['time']:.1f} | {r['sweeps']}{conv} | {r['steps']} | "
              f"{r['eps_err_mean']:.3f}/{r['eps_err_max']:.3f} | {r['w_corr']:.4f} | {r['z_acc']:.3f} | "
              f"{r['bound_per_item']:.3f} | {r['maxrss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
