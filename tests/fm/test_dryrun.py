"""Dry run: the estimate's call count equals the real job's, counted at a local server."""

from __future__ import annotations

import math

import pytest

from genz_pyro.fm.anthropic_backend import AnthropicModel
from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.cached import CachedModel
from genz_pyro.fm.dryrun import JobEstimate, estimate_job
from genz_pyro.fm.openai_backend import OpenAIModel

try:  # tests/ is not a package: pytest puts tests/fm on sys.path (as conftest.py relies on)
    import servers
except ImportError:  # pragma: no cover
    from tests.fm import servers  # type: ignore[no-redef]
FakeProvider = servers.FakeProvider

WORDS = ["garden", "pool", "garage", "attic", "porch", "cellar"]
ITEMS = {f"h{n}": f"house {n}: a {WORDS[n % 6]} and a {WORDS[(n * 5 + 1) % 6]}" for n in range(45)}
DESCRIPTIONS = ["garden", "pool", "attic", "cellar"]


def make(provider: str, server: FakeProvider, **kw):
    if provider == "openai":
        return OpenAIModel("gpt-4.1-mini", base_url=server.url + "/v1", api_key="test-key", max_retries=0, **kw)
    return AnthropicModel("claude-haiku-4-5", base_url=server.url, api_key="test-key", max_retries=0, **kw)


@pytest.fixture
def server():
    with FakeProvider(seed=1) as s:
        yield s


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("shape, batch, n", [(2, 7, 45), (1, 1, 16)])
def test_estimate_equals_real_calls_with_a_partly_warm_cache(tmp_path, server, provider, shape, batch, n):
    items = dict(list(ITEMS.items())[:n])
    half = n // 2
    cache = JudgmentCache(tmp_path / "c.sqlite")
    model = CachedModel(make(provider, server, extraction_shape=shape, batch_size=batch, max_concurrency=4), cache)
    # warm part of the job: the first half of the items for "garden", all of "pool"
    model.judge("garden", dict(list(items.items())[:half]))
    model.judge("pool", items)
    before = len(server.model_calls())
    est = estimate_job(model, DESCRIPTIONS, items)
    assert len(server.model_calls()) == before  # a dry run sends nothing
    assert est.cached == half + n and est.to_judge == (n - half) + 2 * n
    if shape == 2:
        assert est.calls == math.ceil((n - half) / 7) + 2 * math.ceil(n / 7)
    else:
        assert est.calls == (n - half) + 2 * n
    for d in DESCRIPTIONS:
        model.judge(d, items)
    sent = server.model_calls()[before:]
    assert len(sent) == est.calls
    # the token estimate is in the right range of what the server billed
    billed_in = model.usage.input_tokens * len(sent) / max(model.usage.calls, 1)
    assert 0.5 < est.input_tokens / billed_in < 2.0
    # now everything is cached: the estimate is zero calls
    again = estimate_job(model, DESCRIPTIONS, items)
    assert again.calls == 0 and again.cached == 4 * n and again.cost_usd == 0.0


def test_bare_backend_and_explicit_cache(tmp_path, server):
    backend = make("openai", server, batch_size=10)
    est = estimate_job(backend, DESCRIPTIONS, ITEMS)
    assert est.calls == 4 * 5 and est.cached == 0 and est.cost_usd > 0
    assert isinstance(est, JobEstimate)
    cache = JudgmentCache(tmp_path / "c.sqlite")
    CachedModel(backend, cache).judge("garden", ITEMS)
    est2 = estimate_job(backend, DESCRIPTIONS, ITEMS, cache=cache)
    assert est2.calls == 3 * 5 and est2.cached == 45
    assert len(server.model_calls()) == 5


def test_unplannable_model_and_bad_descriptions(server):
    from genz_pyro.fm.protocol import FoundationModel

    class Local(FoundationModel):
        async def ajudge(self, description, items):
            return {}

        async def amine(self, positives, negatives, *, avoid=()):
            raise NotImplementedError

        async def apropose(self, task, examples, n):
            return []

    with pytest.raises(ValueError, match="has no plan_judge"):
        estimate_job(Local(), ["d"], ITEMS)
    with pytest.raises(ValueError, match="descriptions"):
        estimate_job(make("openai", server), "garden", ITEMS)  # type: ignore[arg-type]
