"""Benchmark of the inference engines on simulated linear-link data.

For each (N, K, D) and engine, a fresh subprocess simulates the data (seed 0, W ~ N(0, 1),
sigma = 1, eps ~ U(0.05, 0.3), judgments Bernoulli(0.5)), fits it and reports wall time,
sweeps, time per sweep, peak resident memory (``ru_maxrss`` of that subprocess: torch
allocations are invisible to tracemalloc) and the error of eps. The floor is a plain numpy
least-squares fit of W on ``[S, 1]`` in the same kind of subprocess.

    .venv/bin/python bench/bench_inference.py            # the three sizes of issue 2
    .venv/bin/python bench/bench_inference.py --quick    # small sizes, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CONFIGS = [(512, 30, 32), (20_000, 100, 32), (200_000, 100, 32)]
QUICK = [(512, 30, 32), (2_000, 30, 32)]
ENGINES = ["lstsq", "moments", "sem", "cavi", "em", "svi"]


def _worker(n: int, k: int, d: int, engine: str, max_sweeps: int) -> dict:
    import numpy as np
    import torch

    from genz_pyro.infer import fit
    from genz_pyro.infer.simulate import simulate_linear

    sim = simulate_linear(n, k, d, sigma=1.0, weight_scale=1.0, seed=0)
    out: dict = {"n": n, "k": k, "d": d, "engine": engine, "threads": torch.get_num_threads()}
    if engine == "lstsq":
        x = np.c_[sim.data.judgments.numpy().astype(np.float64), np.ones(n)]
        y = sim.data.targets.numpy().astype(np.float64)
        reps = 3
        t0 = time.perf_counter()
        for _ in range(reps):
            np.linalg.lstsq(x, y, rcond=None)
        out.update(time=(time.perf_counter() - t0) / reps, sweeps=1)
    else:
        opts: dict = {}
        if engine == "svi" and n > 20_000:
            opts["subsample_size"] = 20_000
        t0 = time.perf_counter()
        res = fit(sim.data, engine=engine, max_sweeps=max_sweeps, **opts)
        wall = time.perf_counter() - t0
        err = (res.eps.double() - sim.eps.double()).abs()
        out.update(
            time=wall,
            sweeps=res.num_sweeps,
            converged=res.converged,
            bound_per_item=res.bound / n,
            eps_err_max=float(err.max()),
            eps_err_mean=float(err.mean()),
            eps_bias=float((res.eps.double() - sim.eps.double()).mean()),
            z_acc=float(((res.q > 0.5).float() == sim.z).float().mean()),
        )
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run(n: int, k: int, d: int, engine: str, max_sweeps: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", f"{n},{k},{d}", "--engine", engine, "--max-sweeps", str(max_sweeps)]
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"n": n, "k": k, "d": d, "engine": engine, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"n": n, "k": k, "d": d, "engine": engine, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES))
    ap.add_argument("--max-sweeps", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per (config, engine) subprocess")
    ap.add_argument("--configs", default=None, help="e.g. '512,30,32;20000,100,32'")
    ap.add_argument("--json", default=None, help="write all rows to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--engine", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        n, k, d = (int(v) for v in args.worker.split(","))
        print(json.dumps(_worker(n, k, d, args.engine, args.max_sweeps)))
        return
    if args.configs:
        configs = [tuple(int(v) for v in c.split(",")) for c in args.configs.split(";")]
    else:
        configs = QUICK if args.quick else CONFIGS
    engines = args.engines.split(",")
    rows = []
    print("| N | K | D | engine | time s | sweeps | s/sweep | x lstsq per sweep | x lstsq total | peak MB | eps err mean/max | z acc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, k, d in configs:
        floor = None
        for engine in (["lstsq"] if "lstsq" not in engines else []) + engines:
            r = _run(n, k, d, engine, args.max_sweeps, args.timeout)
            rows.append(r)
            if "error" in r:
                print(f"| {n} | {k} | {d} | {engine} | error: {r['error']} |")
                continue
            if engine == "lstsq":
                floor = r["time"]
            per = r["time"] / max(1, r["sweeps"])
            ratio = f"{per / floor:.1f}" if floor else "-"
            total = f"{r['time'] / floor:.0f}" if floor else "-"
            eps = f"{r['eps_err_mean']:.3f}/{r['eps_err_max']:.3f}" if "eps_err_max" in r else "-"
            zacc = f"{r['z_acc']:.3f}" if "z_acc" in r else "-"
            conv = "" if r.get("converged", True) else " (cap)"
            print(
                f"| {n} | {k} | {d} | {engine} | {r['time']:.3f} | {r['sweeps']}{conv} | {per:.4f} | {ratio} | "
                f"{total} | {r['maxrss_mb']:.0f} | {eps} | {zacc} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
