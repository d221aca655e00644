"""Judgments per second with a local GGUF model (llama.cpp in process, ``genz_pyro.fm.gguf_backend``).

One feature ("Integers with the 2^3 bit set") judged on N binary-number items, no cache, each
configuration on a freshly loaded model (load time reported apart):

* ``one``: one item per prompt, soft (P(yes) from the logprobs), one llama.cpp slot;
* ``batch B``: B items per prompt (the grammar makes the answer a table of every id), hard;
* ``slots P``: one item per prompt, soft, P slots decoded together (``n_parallel=P``,
  ``max_concurrency=P``);

each with 1 and 2 CPU threads (``--threads``). Then the quality experiment of issue 10 with
``--quality``: the offline model mines, the model judges, binary data (``--bits``), Algorithm 1.

Usage::

    .venv/bin/python bench/bench_local.py                 # N = 64, gguf: (the bundled SmolLM2-135M)
    .venv/bin/python bench/bench_local.py --model PATH.gguf --n 128
    .venv/bin/python bench/bench_local.py --quality --bits 7 --cycles 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from genz_pyro.fm.gguf_backend import GGUFModel  # noqa: E402

DESC = "Integers with the 2^3 bit set"


def run(path: str | None, n: int, threads: int, **kw: Any) -> dict[str, float]:
    items = {str(i): str(i) for i in range(n)}
    t0 = time.perf_counter()
    model = GGUFModel(path, n_threads=threads, **kw)
    model.server()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = model.judge(DESC, items)
    wall = time.perf_counter() - t0
    assert list(out) == list(items)
    calls, tokens = model.usage.calls, model.usage.input_tokens + model.usage.output_tokens
    model.close()
    return {"load_s": load, "wall_s": wall, "per_s": n / wall, "calls": calls, "tokens": tokens}


def speed(args: argparse.Namespace) -> None:
    configs: list[tuple[str, dict[str, Any]]] = [("one (soft)", {})]
    configs += [(f"batch {b} (hard)", {"extraction_shape": 2, "batch_size": b, "soft": False}) for b in args.batch]
    configs += [(f"slots {p} (soft)", {"n_parallel": p}) for p in args.slots]
    print("| configuration | threads | judgments/s | wall (s) | calls | tokens | load (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for threads in args.threads:
        for name, kw in configs:
            r = run(args.model, args.n, threads, **kw)
            print(f"| {name} | {threads} | {r['per_s']:.1f} | {r['wall_s']:.2f} | {r['calls']} | {r['tokens']} | "
                  f"{r['load_s']:.2f} |", flush=True)


def quality(args: argparse.Namespace) -> None:
    from genz_pyro import GenZData, fit
    from genz_pyro.datasets.binary import load_binary
    from genz_pyro.discovery import Discovery
    from genz_pyro.fm.mixed import judgment_column
    from genz_pyro.fm.offline import OfflineModel

    ds = load_binary(args.bits)
    n = len(ds.items)
    perm = np.random.default_rng(args.seed).permutation(n)
    ds = dataclasses.replace(ds, train=np.sort(perm[n // 4:]), test=np.sort(perm[: n // 4]))
    judge = GGUFModel(args.model)
    t0 = time.perf_counter()
    disc = Discovery(ds, OfflineModel(), judge_model=judge, metric="median_absolute_error", seed=args.seed)
    disc.run(1, args.cycles)
    wall = time.perf_counter() - t0
    y = ds.targets[:, 0]
    res = disc.result
    weights = [] if res is None else res.link.weight.detach()[0, : len(disc.features)].tolist()
    print(f"N = {n} ({len(ds.train)} train / {len(ds.test)} test), Algorithm 1 x {args.cycles}: {wall:.1f} s, "
          f"{judge.usage.calls} judge calls")
    for j, d in enumerate(disc.features):
        print(f"  {d!r}: eps {float(res.eps[j]):.3f}, weight {weights[j]:+.2f}")
    mean_err = float(np.median(np.abs(y[ds.test] - y[ds.train].mean())))
    print(f"test median abs error {disc.metrics()['test']:.3f}; training mean {mean_err:.3f}; sd(y) {y.std():.2f}")
    if disc.features:
        off = OfflineModel()
        s = np.stack([judgment_column(off.judge(d, ds.items), list(ds.items), soft=False) for d in disc.features], 1)
        r = fit(GenZData.create(s[ds.train], ds.targets[ds.train]), engine="cavi", seed=0)
        print(f"the same features judged by the offline model: eps {[round(float(e), 4) for e in r.eps]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="GGUF file (default: the bundled SmolLM2-135M)")
    p.add_argument("--n", type=int, default=64, help="items judged per configuration")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, nargs="+", default=[8, 16])
    p.add_argument("--slots", type=int, nargs="+", default=[2, 4])
    p.add_argument("--quality", action="store_true", help="run the quality experiment instead")
    p.add_argument("--bits", type=int, default=7)
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; load average {os.getloadavg()[0]:.1f}")
    quality(args) if args.quality else speed(args)


if __name__ == "__main__":
    main()
