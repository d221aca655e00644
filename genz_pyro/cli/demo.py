"""``genz demo``: the binary experiment (paper section 5.1) with the offline model."""

from __future__ import annotations

import argparse
import time

import numpy as np

from genz_pyro.cli.common import attach_progress

__all__ = ["cmd_demo"]


def cmd_demo(args: argparse.Namespace) -> int:
    """``genz demo``: the binary experiment (paper section 5.1) with the offline model."""
    from genz_pyro.datasets.binary import load_binary
    from genz_pyro.discovery import Discovery
    from genz_pyro.fm.offline import OfflineModel

    bits = int(args.bits)
    ds = load_binary(bits)
    t0 = time.perf_counter()
    disc = Discovery(ds, OfflineModel(), link="linear", seed=int(args.seed), run_dir=args.run_dir)
    bar = attach_progress(disc, bits, "algorithm 1", not args.no_progress)
    disc.run(algorithm=1, cycles=bits)
    bar.close()
    import torch

    res = disc.result
    y = ds.targets[disc.train, 0]
    # reconstruction: the link at the posterior of the latent features (exact when the
    # features are the nine bits); prediction: from the judgments alone (through eps)
    with torch.no_grad():
        recon = res.link(res.q, None)[:, 0].double().numpy() if res is not None else np.full(len(y), y.mean())
    err = np.abs(recon - y)
    pred_err = np.abs(disc.predict(disc.train)[:, 0] - y)
    print(f"GenZ binary experiment: {len(ds.items)} strings '0'..'{len(ds.items) - 1}', target = the number, "
          f"offline model, Algorithm 1 x {bits}")
    print(f"{len(disc.features)} discovered feature(s) (coarse to fine):")
    w = None if res is None else getattr(res.link, "feature_weight", None)
    for j, d in enumerate(disc.features):
        extra = ""
        if res is not None:
            extra = f"  eps {float(res.eps[j]):.3f}"
            if w is not None:
                extra += f"  weight {float(w.detach()[0, j]):+.2f}"
        print(f"  {j + 1}. {d}{extra}")
    print(f"reconstruction over {len(err)} items: max |error| {err.max():.3g}, mean |error| {err.mean():.3g}")
    print(f"prediction from the judgments alone: max |error| {pred_err.max():.3g} (eps floor "
          f"{float(res.eps.min()) if res is not None else float('nan'):.0e} on each bit)")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0
