"""An API key set in the environment appears in no cache file, export or log output."""

from __future__ import annotations

import gzip
import logging

import pytest

from genz_pyro.fm.anthropic_backend import AnthropicModel
from genz_pyro.fm.cache import JudgmentCache
from genz_pyro.fm.cached import CachedModel
from genz_pyro.fm.errors import ProviderError
from genz_pyro.fm.openai_backend import OpenAIModel

try:  # tests/ is not a package: pytest puts tests/fm on sys.path (as conftest.py relies on)
    import servers
except ImportError:  # pragma: no cover
    from tests.fm import servers  # type: ignore[no-redef]
FakeProvider = servers.FakeProvider
Fault = servers.Fault

OPENAI_KEY = "sk-proj-TESTKEY-openai-7f3a9c1e5b2d4f60a8e1"
ANTHROPIC_KEY = "sk-ant-api03-TESTKEY-anthropic-0c9e7a5b3d1f2e4a"
ITEMS = {f"h{n}": f"house {n} with a {'garden' if n % 2 else 'pool'}" for n in range(12)}


@pytest.fixture
def server():
    with FakeProvider(seed=7) as s:
        yield s


def test_env_key_is_sent_but_never_stored_or_logged(tmp_path, server, monkeypatch, caplog, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_LOG", "debug")  # the SDKs' own request logging, as verbose as it gets
    monkeypatch.setenv("ANTHROPIC_LOG", "debug")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cache = JudgmentCache(cache_dir / "c.sqlite")
    models = [
        CachedModel(OpenAIModel("gpt-4.1-mini", base_url=server.url + "/v1", batch_size=5, max_retries=1), cache),
        CachedModel(AnthropicModel("claude-haiku-4-5", base_url=server.url, batch_size=5, max_retries=1), cache),
    ]
    with caplog.at_level(logging.DEBUG):
        for m in models:
            m.judge("garden", ITEMS)
            m.mine({"h1": ITEMS["h1"]}, {"h2": ITEMS["h2"]})
            m.propose("predict the price", {"h1": ITEMS["h1"]}, 2)
            server.faults = [Fault("status", 500, message="upstream failed") for _ in range(100)]
            with pytest.raises(ProviderError) as info:
                m.judge("pool", ITEMS)  # an error path logs and formats messages too
            assert OPENAI_KEY not in str(info.value) and ANTHROPIC_KEY not in str(info.value)
            server.faults = []
    # the keys did reach the server (so this test would see them if they leaked)
    sent = " ".join(" ".join(r.headers.values()) for r in server.requests)
    assert OPENAI_KEY in sent and ANTHROPIC_KEY in sent
    assert cache.counts()["judgments"] == 24 and cache.counts()["answers"] == 4
    exports = [tmp_path / "dump.jsonl", tmp_path / "dump.jsonl.gz"]
    for e in exports:
        assert cache.export(e) > 0
    cache.close()
    blobs = {p.name: p.read_bytes() for p in cache_dir.iterdir()}  # db, -wal, -shm
    assert "c.sqlite" in blobs
    blobs["dump.jsonl"] = exports[0].read_bytes()
    blobs["dump.jsonl.gz (decompressed)"] = gzip.decompress(exports[1].read_bytes())
    out, err = capfd.readouterr()
    blobs["stdout+stderr"] = (out + err).encode()
    blobs["log records"] = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert len(caplog.records) > 0
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        for secret in (key, key[len("sk-ant-api03-"):]):  # also a tail of it
            leaks = [name for name, data in blobs.items() if secret.encode() in data]
            assert leaks == [], f"key found in {leaks}"


def test_identity_carrying_the_env_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    cache = JudgmentCache(tmp_path / "c.sqlite")
    with pytest.raises(ValueError, match="looks like an API key or equals a secret"):
        cache.put_judgments({"model": "m", "base_url": f"http://x/?key={OPENAI_KEY}"}, "d", {"a": 1}, {})
    assert cache.counts()["contexts"] == 0
