"""The researcher route (GenZModel.model + MeanFieldGuide + TraceGraph_ELBO) against fit_svi.

Simulated data (``simulate_linear``, seed 0, sigma = 1); the TraceGraph run starts like
fit_svi (linear link at least squares, q at the judgments through the prior) and reports
z accuracy and mean eps error at a few step counts.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_svi_tracegraph.py [--size 512,30,32] [--steps 300,1000]
"""

from __future__ import annotations

import argparse
import time

import pyro
import torch

from genz_pyro.guides import MeanFieldGuide
from genz_pyro.infer.simulate import simulate_linear
from genz_pyro.infer.svi import fit_svi, least_squares_init
from genz_pyro.models import GenZModel, LinearLink


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="512,30,32")
    ap.add_argument("--steps", default="300,1000")
    ap.add_argument("--particles", type=int, default=8)
    args = ap.parse_args(argv)
    n, k, d = (int(v) for v in args.size.split(","))
    checkpoints = sorted(int(v) for v in args.steps.split(","))
    sim = simulate_linear(n, k, d, sigma=1.0, seed=0)
    data = sim.data

    def acc(q: torch.Tensor) -> float:
        return float(((q > 0.5).float() == sim.z).float().mean())

    t0 = time.perf_counter()
    r = fit_svi(data)
    print(f"fit_svi: {time.perf_counter() - t0:.1f} s, {r.num_sweeps} steps, z acc {acc(r.q):.3f}, "
          f"eps err {float((r.eps - sim.eps).abs().mean()):.3f}", flush=True)

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    link = LinearLink(k, d)
    gm = GenZModel(link, num_features=k, target_dim=d, sigma2=least_squares_init(data, link))
    guide = MeanFieldGuide(n, k, init_logits=data.prior_logits(gm.eps_init))
    elbo = pyro.infer.TraceGraph_ELBO(num_particles=args.particles, vectorize_particles=True, max_plate_nesting=2)
    svi = pyro.infer.SVI(gm.model, guide, pyro.optim.Adam({"lr": 0.05}), elbo)
    t0 = time.perf_counter()
    for step in range(1, checkpoints[-1] + 1):
        svi.step(data)
        if step in checkpoints:
            eps_err = float((pyro.param("eps").detach() - sim.eps).abs().mean())
            print(f"TraceGraph_ELBO: {step} steps, {time.perf_counter() - t0:.1f} s, z acc {acc(guide.probs):.3f}, "
                  f"eps err {eps_err:.3f}", flush=True)


if __name__ == "__main__":
    main()
