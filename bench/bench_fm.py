"""Benchmark the foundation-model layer against a local fake provider (no network, no key).

Judges N items x K features through a real SDK backend (OpenAI by default, Anthropic with
``--provider anthropic``; ``base_url`` at a server on 127.0.0.1 speaking the provider's
wire format, run in its own process so client and server do not share a GIL), wrapped in
a :class:`CachedModel`:

* cold runs at concurrency 1 and 16: calls counted at the server, wall time, and the
  batched-extraction bound ``calls per feature <= ceil(N / B)``;
* the dry-run estimate of the same job (must equal the calls made);
* a warm run on the same cache file (new process state): zero server requests, and
  judgments/s served (target >= 100 000 /s), plus the raw ``JudgmentCache`` lookup rate.

Usage::

    .venv/bin/python bench/bench_fm.py            # 10 000 items x 10 features
    .venv/bin/python bench/bench_fm.py --quick    # 500 items x 2 features (smoke run)
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genz_pyro.fm.cache import JudgmentCache  # noqa: E402
from genz_pyro.fm.cached import CachedModel  # noqa: E402
from genz_pyro.fm.dryrun import estimate_job  # noqa: E402
from genz_pyro.fm.anthropic_backend import AnthropicModel  # noqa: E402
from genz_pyro.fm.llm import LLMBackend  # noqa: E402
from genz_pyro.fm.openai_backend import OpenAIModel  # noqa: E402

WORDS = ["garden", "pool", "garage", "attic", "porch", "cellar", "balcony", "fireplace", "sauna", "view",
         "terrace", "loft"]


def _serve(conn: Any) -> None:
    """Child process: run the fake provider until told to stop; answer request counts."""
    sys.path.insert(0, str(ROOT / "tests" / "fm"))
    import servers  # the backends' test server (tests/fm/servers.py)

    # servers.py sets TCP_NODELAY and a listen backlog of 128 (see its docstring)
    FakeProvider = servers.FakeProvider

    with FakeProvider(seed=0) as server:
        server.shuffle = True
        conn.send(server.url)
        while True:
            cmd = conn.recv()
            if cmd == "count":
                conn.send(len(server.model_calls()))
            else:
                break


def make_items(n: int) -> dict[str, str]:
    return {
        f"h{i}": f"listing {i}: a house with a {WORDS[i % 12]}, a {WORDS[(i * 7 + 3) % 12]} and "
        f"{1 + i % 6} bedrooms near {['the station', 'a park', 'the sea'][i % 3]}"
        for i in range(n)
    }


def make_backend(provider: str, url: str, **kw: Any) -> LLMBackend:
    """The real SDK backend of ``provider`` pointed at the local server."""
    if provider == "anthropic":
        return AnthropicModel("claude-haiku-4-5", base_url=url, api_key="bench", **kw)
    return OpenAIModel("gpt-4.1-mini", base_url=url + "/v1", api_key="bench", **kw)


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    items = make_items(args.items)
    features = WORDS[: args.features]
    rows: list[tuple[str, str]] = []
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    url = parent.recv()

    def server_calls() -> int:
        parent.send("count")
        return int(parent.recv())

    tmp = Path(tempfile.mkdtemp(prefix="genz-bench-"))
    bound = math.ceil(args.items / args.batch_size)
    try:
        for conc in args.concurrency:
            cache_path = tmp / f"cold-{conc}.sqlite"
            backend = make_backend(args.provider, url, batch_size=args.batch_size, max_concurrency=conc,
                                   max_retries=2)
            model = CachedModel(backend, JudgmentCache(cache_path))
            est = estimate_job(model, features, items)
            before = server_calls()
            t0 = time.perf_counter()
            for f in features:
                got = model.judge(f, items)
                assert len(got) == len(items)
            wall = time.perf_counter() - t0
            calls = server_calls() - before
            per_feature = calls / len(features)
            rows.append((f"cold, batched B={args.batch_size}, concurrency {conc}: calls made (server count)",
                         f"{calls} ({per_feature:.0f}/feature; bound ceil(N/B) = {bound}; dry-run said {est.calls})"))
            rows.append((f"cold, batched B={args.batch_size}, concurrency {conc}: wall time",
                         f"{wall:.1f} s ({calls / wall:.0f} calls/s, {len(items) * len(features) / wall:.0f} "
                         "judgments/s)"))
            if per_feature > bound or calls != est.calls:
                raise SystemExit(f"FAILED: {calls} calls, bound {bound}/feature, dry-run {est.calls}")

        # warm: a fresh backend and a fresh connection to the last cache file
        backend = make_backend(args.provider, url, batch_size=args.batch_size,
                               max_concurrency=args.concurrency[-1])
        warm_cache = JudgmentCache(cache_path)
        model = CachedModel(backend, warm_cache)
        before = server_calls()
        best = math.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for f in features:
                model.judge(f, items)
            best = min(best, time.perf_counter() - t0)
        warm_calls = server_calls() - before
        n = len(items) * len(features)
        rows.append(("warm cache, CachedModel.judge: server requests", str(warm_calls)))
        rows.append(("warm cache, CachedModel.judge: throughput",
                     f"{n / best:,.0f} judgments/s ({n} judgments in {best:.3f} s, best of {args.repeats})"))
        if warm_calls:
            raise SystemExit("FAILED: the warm cache sent requests")
        ident = model.cache_identity()
        best = math.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for f in features:
                warm_cache.get_judgments(ident, f, items)
            best = min(best, time.perf_counter() - t0)
        rows.append(("warm cache, JudgmentCache.get_judgments: throughput", f"{n / best:,.0f} judgments/s"))
        size = sum(p.stat().st_size for p in tmp.glob(f"{cache_path.name}*"))
        rows.append(("cache file size", f"{size / 1e6:.1f} MB for {n} judgments"))
    finally:
        parent.send("stop")
        proc.join(timeout=10)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 500 items x 2 features")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--provider", choices=("openai", "anthropic"), default="openai",
                    help="which real SDK backend talks to the local server")
    args = ap.parse_args(argv)
    if args.quick:
        args.items, args.features, args.repeats = 500, 2, 1
    if not 1 <= args.features <= len(WORDS):
        ap.error(f"--features must be in 1..{len(WORDS)}")
    rows = run(args)
    print(f"# bench_fm: {args.items} items x {args.features} features, {args.provider} SDK -> 127.0.0.1 fake provider")
    print(f"# python {platform.python_version()}, {multiprocessing.cpu_count()} cores")
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
