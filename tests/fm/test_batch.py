"""Provider batch APIs against the local server: submit, poll, collect; resume in a new
process after the submitting process was killed between submit and collect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ANTHROPIC_TEST_KEY, OPENAI_TEST_KEY
from servers import parse_items

from genz_pyro.fm.batch import BatchJob
from genz_pyro.fm.budget import Budget
from genz_pyro.fm.errors import BudgetExceededError

PROVIDERS = ["anthropic", "openai"]
ITEMS = {f"b{k}": ("red " if k % 3 == 0 else "blue ") + f"thing {k}" for k in range(11)}
TRUTH = {i: t.startswith("red") for i, t in ITEMS.items()}
REPO = Path(__file__).resolve().parents[2]


def _batch_creates(fake):
    return [r for r in fake.requests if r.method == "POST" and r.path in ("/v1/messages/batches", "/v1/batches")]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_submit_poll_collect(make, fake, provider, tmp_path):
    fake.batch_polls = 3
    fake.omit = {"b4": 1}  # one id missing from the batch answers: asked again online
    model = make(provider, batch_size=4)
    job = BatchJob(model, tmp_path / "job.json", poll_interval=0.01)
    batch_id = job.submit("red", ITEMS)
    state = json.loads((tmp_path / "job.json").read_text())
    assert state["batch_id"] == batch_id and state["status"] == "submitted"
    assert [r["item_ids"] for r in state["requests"].values()] == [
        [f"b{k}" for k in range(s, min(s + 4, 11))] for s in range(0, 11, 4)
    ]
    assert job.poll() == "in_progress"
    out = job.collect("red", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    assert len(_batch_creates(fake)) == 1
    online = fake.model_calls()
    assert len(online) == 1 and [i for i, _ in parse_items(online[0].body["messages"][-1]["content"])] == ["b4"]
    assert json.loads((tmp_path / "job.json").read_text())["status"] == "collected"
    assert model.usage.calls == 3 + 1
    if provider == "openai":
        upload = next(r for r in fake.requests if r.path == "/v1/files")
        lines = [json.loads(x) for x in upload.body["file"].decode().splitlines()]
        assert [x["custom_id"] for x in lines] == ["r0", "r1", "r2"]
        assert {x["url"] for x in lines} == {"/v1/chat/completions"} and upload.body["purpose"] == b"batch"
        assert lines[0]["body"]["response_format"]["json_schema"]["name"] == "record_judgments"
    else:
        create = _batch_creates(fake)[0].body
        assert [r["custom_id"] for r in create["requests"]] == ["r0", "r1", "r2"]
        assert create["requests"][0]["params"]["tools"][0]["name"] == "record_judgments"
    text = (tmp_path / "job.json").read_text()
    assert ANTHROPIC_TEST_KEY not in text and OPENAI_TEST_KEY not in text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_failed_batch_requests_are_asked_online(make, fake, provider, tmp_path, caplog):
    fake.batch_fail = {"r1"}
    out = BatchJob(make(provider, batch_size=4), tmp_path / "job.json", poll_interval=0.01).run("red", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    online = fake.model_calls()
    assert len(online) == 1
    assert [i for i, _ in parse_items(online[0].body["messages"][-1]["content"])] == ["b4", "b5", "b6", "b7"]
    assert "r1" in caplog.text


def test_state_of_another_job_is_refused(make, fake, tmp_path):
    job = BatchJob(make("anthropic"), tmp_path / "job.json", poll_interval=0.01)
    job.submit("red", ITEMS)
    assert job.submit("red", ITEMS) == job.load_state()["batch_id"]  # same job: no resubmission
    assert len(_batch_creates(fake)) == 1
    with pytest.raises(ValueError, match="another job"):
        job.submit("blue", ITEMS)


def test_budget_is_checked_before_submission(make, fake, tmp_path):
    model = make("openai", batch_size=4, budget=Budget(max_calls=2))
    with pytest.raises(BudgetExceededError):
        BatchJob(model, tmp_path / "job.json").submit("red", ITEMS)
    assert fake.requests == [] and not (tmp_path / "job.json").exists()


_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from genz_pyro.fm.batch import BatchJob
    from genz_pyro.fm.registry import make_model

    items = json.loads(sys.argv[2])
    model = make_model({spec!r}, api_key="sk-test-key-0123456789", batch_size=4, timeout=5.0)
    job = BatchJob(model, {state!r}, poll_interval=0.02)
    print("SUBMITTED", job.submit("red", items), flush=True)
    time.sleep(120)  # killed here, between submit and collect
    print("NOT KILLED", flush=True)
    """
)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_resume_in_a_new_process_after_a_kill(make, fake, provider, tmp_path):
    fake.batch_polls = 2
    state = tmp_path / "job.json"
    script = tmp_path / "worker.py"
    spec = f"anthropic:claude-sonnet-4-6@{fake.url}" if provider == "anthropic" else f"openai:gpt-4.1@{fake.url}/v1"
    script.write_text(_SCRIPT.format(spec=spec, state=str(state)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, str(script), "submit", json.dumps(ITEMS)], stdout=subprocess.PIPE,
                          text=True, env=env) as first:
        try:
            line = first.stdout.readline()  # type: ignore[union-attr]
            assert line.startswith("SUBMITTED")
            batch_id = line.split()[1]
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert json.loads(state.read_text())["batch_id"] == batch_id
    polls_before = sum(r.method == "GET" for r in fake.requests)
    assert polls_before == 0  # killed before any poll

    # this test process is the new process: it resumes from the state file alone
    out = BatchJob(make(provider, batch_size=4), state, poll_interval=0.02).run("red", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    assert len(_batch_creates(fake)) == 1  # resumed, not resubmitted
    assert fake.model_calls() == []  # every answer came from the batch
    assert json.loads(state.read_text())["status"] == "collected"
    assert sum(r.method == "GET" for r in fake.requests) >= fake.batch_polls


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cached_judgments_are_not_submitted_again(make, fake, provider, tmp_path):
    """Items an online run already judged (same model, description, content) are served from
    the cache: the batch holds only the others, and a fully cached job submits nothing."""
    from genz_pyro.fm.cache import JudgmentCache
    from genz_pyro.fm.cached import CachedModel

    cache = JudgmentCache(tmp_path / "cache.sqlite")
    first = {i: ITEMS[i] for i in ("b0", "b1", "b2", "b3", "b9")}
    CachedModel(make(provider, batch_size=4), cache).judge("red", first)
    fake.requests.clear()
    model = make(provider, batch_size=4)
    job = BatchJob(model, tmp_path / "job.json", poll_interval=0.01, cache=cache)
    out = job.run("red", ITEMS)
    assert {i: j.value for i, j in out.items()} == TRUTH
    state = json.loads((tmp_path / "job.json").read_text())
    assert sorted(state["cached_ids"]) == sorted(first)
    submitted = [i for r in state["requests"].values() for i in r["item_ids"]]
    assert sorted(submitted) == sorted(set(ITEMS) - set(first))
    assert len(_batch_creates(fake)) == 1 and not fake.model_calls()
    if provider == "openai":
        upload = next(r for r in fake.requests if r.path == "/v1/files")
        sent = [i for x in upload.body["file"].decode().splitlines()
                for i, _ in parse_items(json.loads(x)["body"]["messages"][-1]["content"])]
    else:
        sent = [i for r in _batch_creates(fake)[0].body["requests"]
                for i, _ in parse_items(r["params"]["messages"][-1]["content"])]
    assert sorted(sent) == sorted(submitted)
    # now every judgment is cached: a new job of the same items sends nothing at all
    fake.requests.clear()
    again = BatchJob(make(provider, batch_size=4), tmp_path / "job2.json", poll_interval=0.01, cache=cache)
    assert {i: j.value for i, j in again.run("red", ITEMS).items()} == TRUTH
    assert fake.requests == [] and json.loads((tmp_path / "job2.json").read_text())["status"] == "collected"
