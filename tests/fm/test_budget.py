"""Budget: the cap stops before it is exceeded, also under concurrency."""

from __future__ import annotations

import asyncio
import threading

import pytest

from genz_pyro.fm.budget import Budget
from genz_pyro.fm.errors import BudgetExceededError, FoundationModelError
from genz_pyro.fm.protocol import Usage


def test_call_cap_stops_before_the_call():
    b = Budget(max_calls=3)
    for _ in range(3):
        b.settle(b.reserve(calls=1), Usage(calls=1))
    with pytest.raises(BudgetExceededError, match="max_calls") as info:
        b.reserve(calls=1)
    assert isinstance(info.value, FoundationModelError)
    assert b.spent.calls == 3 and b.remaining["calls"] == 0


def test_token_cap_counts_input_plus_output():
    b = Budget(max_tokens=1000)
    r = b.reserve(input_tokens=400, output_tokens=200)
    assert b.remaining["tokens"] == 400
    with pytest.raises(BudgetExceededError, match="tokens"):
        b.reserve(input_tokens=300, output_tokens=101)  # 600 + 401 > 1000
    b.settle(r, Usage(calls=1, input_tokens=390, output_tokens=50))  # actual < reserved frees room
    assert b.remaining["tokens"] == 560
    b.reserve(input_tokens=300, output_tokens=260)  # exactly at the cap is allowed
    assert b.remaining["tokens"] == 0


def test_cost_cap_and_release():
    b = Budget(max_cost_usd=0.10)
    r1 = b.reserve(cost_usd=0.06)
    with pytest.raises(BudgetExceededError, match="cost_usd"):
        b.reserve(cost_usd=0.05)
    b.release(r1)  # never sent: costs nothing
    assert b.spent.cost_usd == 0 and b.outstanding == 0
    b.reserve(cost_usd=0.05)
    b.reserve(cost_usd=0.05)
    with pytest.raises(BudgetExceededError):
        b.reserve(cost_usd=0.001)


def test_bad_arguments_and_double_settle():
    with pytest.raises(ValueError, match="max_calls"):
        Budget(max_calls=-1)
    with pytest.raises(ValueError, match="max_tokens"):
        Budget(max_tokens=True)
    b = Budget()
    with pytest.raises(ValueError, match="input_tokens"):
        b.reserve(input_tokens=-5)
    r = b.reserve()
    b.settle(r, Usage(calls=1))
    with pytest.raises(ValueError, match="already settled"):
        b.settle(r, Usage(calls=1))
    assert b.remaining == {"calls": None, "tokens": None, "cost_usd": None}


def test_concurrent_asyncio_tasks_never_overshoot():
    """40 tasks race for a cap of 7 calls; reservations are held across an await
    (the 'request'), so a check-then-spend race would send more than 7."""
    b = Budget(max_calls=7, max_tokens=10_000)
    sent: list[int] = []

    async def task(i: int) -> str:
        try:
            r = b.reserve(calls=1, input_tokens=100, output_tokens=50)
        except BudgetExceededError:
            return "refused"
        await asyncio.sleep(0.001 * (i % 5))  # the request in flight
        sent.append(i)
        b.settle(r, Usage(calls=1, input_tokens=100, output_tokens=40))
        return "sent"

    async def main() -> list[str]:
        return await asyncio.gather(*(task(i) for i in range(40)))

    results = asyncio.run(main())
    assert results.count("sent") == 7 == len(sent)
    assert results.count("refused") == 33
    assert b.spent.calls == 7 and b.spent.input_tokens == 700 and b.spent.output_tokens == 280
    assert b.outstanding == 0


def test_threads_never_overshoot():
    b = Budget(max_cost_usd=1.0)
    sent = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            try:
                r = b.reserve(cost_usd=0.03)
            except BudgetExceededError:
                return
            with lock:
                sent.append(1)
            b.settle(r, Usage(calls=1, cost_usd=0.03))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 33  # floor(1.0 / 0.03)
    assert b.spent.cost_usd <= 1.0


# ------------------------------------------------ the real SDK backend at a local server
from genz_pyro.fm.cache import JudgmentCache  # noqa: E402
from genz_pyro.fm.cached import CachedModel  # noqa: E402
from genz_pyro.fm.openai_backend import OpenAIModel  # noqa: E402

try:  # tests/ is not a package: pytest puts tests/fm on sys.path (as conftest.py relies on)
    import servers
except ImportError:  # pragma: no cover
    from tests.fm import servers  # type: ignore[no-redef]
FakeProvider = servers.FakeProvider

ITEMS = {f"h{n}": f"house {n} with a {'garden' if n % 3 else 'pool'}" for n in range(40)}


@pytest.fixture
def server():
    with FakeProvider(seed=5) as s:
        yield s


@pytest.mark.parametrize("concurrency", [1, 4])
def test_call_cap_stops_the_backend_before_the_server(tmp_path, server, concurrency):
    budget = Budget(max_calls=3)
    backend = OpenAIModel("gpt-4.1-mini", base_url=server.url + "/v1", api_key="k", max_retries=0,
                          batch_size=5, max_concurrency=concurrency, budget=budget)
    cache = JudgmentCache(tmp_path / "c.sqlite")
    m = CachedModel(backend, cache, chunk_size=5)  # write every answered batch at once
    with pytest.raises(BudgetExceededError):
        m.judge("garden", ITEMS)
    assert len(server.model_calls()) == 3  # nothing past the cap was sent
    assert budget.spent.calls == 3 and budget.outstanding == 0
    assert cache.counts()["judgments"] == 15  # the 3 paid answers are kept
    # resume under a new budget: only the 5 remaining batches are sent
    backend.budget = Budget(max_calls=5)
    got = m.judge("garden", ITEMS)
    assert all(j.value == ("garden" in ITEMS[i]) for i, j in got.items()) and len(got) == 40
    assert len(server.model_calls()) == 8 and backend.budget.remaining["calls"] == 0


def test_token_and_dollar_caps_stop_before_the_call(server):
    probe = OpenAIModel("gpt-4.1-mini", base_url=server.url + "/v1", api_key="k", max_retries=0, batch_size=40)
    (est,) = probe.plan_judge("garden", ITEMS)
    # the backend reserves at least the estimated input plus its max_tokens: a cap below that refuses
    probe.budget = tight = Budget(max_tokens=est.input_tokens + probe.max_tokens - 1)
    with pytest.raises(BudgetExceededError, match="tokens"):
        probe.judge("garden", ITEMS)
    assert server.model_calls() == [] and tight.spent.calls == 0 and tight.outstanding == 0
    probe.budget = Budget(max_cost_usd=est.cost_usd * 0.99)
    with pytest.raises(BudgetExceededError, match="cost_usd"):
        probe.judge("garden", ITEMS)
    assert server.model_calls() == []
    probe.budget = ok = Budget(max_tokens=100_000, max_cost_usd=1.0)
    probe.judge("garden", ITEMS)
    assert len(server.model_calls()) == 1 and ok.spent.calls == 1 and ok.outstanding == 0
    assert ok.spent.input_tokens == probe.usage.input_tokens > 0 and ok.spent.cost_usd == probe.usage.cost_usd > 0
