"""Fit time of the default engine at (20 000, 100, 32) under three thread settings.

Each setting runs in a fresh subprocess (OpenMP reads its environment once, when torch
loads): one thread, torch's default threads with OpenMP's default (spinning) wait policy, and
the default threads with ``OMP_WAIT_POLICY=PASSIVE`` (what ``import genz_pyro`` sets). Run it
on an idle machine and again while another process holds a core.

    .venv/bin/python bench/bench_threads.py
"""

from __future__ import annotations

import os
import subprocess
import sys

_WORKER = """
import time, torch
from genz_pyro.infer import fit
from genz_pyro.infer.simulate import simulate_linear
sim = simulate_linear(20000, 100, 32, sigma=1.0, seed=0)
fit(simulate_linear(2000, 10, 8, seed=0).data, engine="moments")  # warm-up
t0 = time.perf_counter()
res = fit(sim.data)
print(torch.get_num_threads(), res.engine, f"{time.perf_counter() - t0:.2f}")
"""

SETTINGS = {
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
    "default threads, OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "default threads, OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
}


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print("| setting | threads | engine | fit time s |\n| --- | ---: | --- | ---: |")
    for label, extra in SETTINGS.items():
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        env.update(extra)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        out = subprocess.run([sys.executable, "-c", _WORKER], capture_output=True, text=True, env=env, check=True)
        threads, engine, secs = out.stdout.split()[-3:]
        print(f"| {label} | {threads} | {engine} | {secs} |", flush=True)


if __name__ == "__main__":
    main()
