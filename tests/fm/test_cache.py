"""JudgmentCache: round trip, key sensitivity, corruption, export/import, 4 writer processes."""

from __future__ import annotations

import gzip
import json
import logging
import multiprocessing
import sqlite3

import pytest

from genz_pyro.fm.cache import CACHE_ENV, JudgmentCache, check_identity, item_hash
from genz_pyro.fm.protocol import Judgment, Usage

IDENT = {"provider": "openai", "model": "gpt-x", "prompt_version": "judge_batch/1", "temperature": 0.0,
         "max_tokens": 512, "batch_size": 20}
ITEMS = {f"i{n}": f"a house with {n} rooms" for n in range(50)}


def truth(n: int) -> Judgment:
    return Judgment(f"i{n}", n % 3 == 0, round((n % 7) / 6, 4))


@pytest.fixture
def cache(tmp_path):
    with JudgmentCache(tmp_path / "c.sqlite") as c:
        yield c


def test_round_trip_in_caller_order(cache):
    js = {f"i{n}": truth(n) for n in range(50)}
    assert cache.put_judgments(IDENT, "has a garden", ITEMS, js, raw='{"yes":[...]}', usage=Usage(1, 100, 20)) == 50
    wanted = {k: ITEMS[k] for k in reversed(list(ITEMS))}
    wanted["new"] = "never judged"
    got = cache.get_judgments(IDENT, "has a garden", wanted)
    assert list(got) == [k for k in wanted if k != "new"]
    assert got == js  # value and probability survive exactly
    assert cache.counts() == {"judgments": 50, "answers": 0, "calls": 1, "contexts": 1}


def test_same_content_under_another_id_is_a_hit(cache):
    cache.put_judgments(IDENT, "d", {"a": "text"}, {"a": Judgment("a", True, 0.9)})
    assert cache.get_judgments(IDENT, "d", {"zz": "text"}) == {"zz": Judgment("zz", True, 0.9)}


@pytest.mark.parametrize(
    "change",
    [
        {"prompt_version": "judge_batch/2"},
        {"model": "gpt-y"},
        {"temperature": 0.7},
        {"provider": "anthropic"},
        {"batch_size": 10},
        {"max_tokens": 1024},
    ],
)
def test_changed_identity_is_a_miss(cache, change):
    cache.put_judgments(IDENT, "d", ITEMS, {f"i{n}": truth(n) for n in range(50)})
    assert len(cache.get_judgments(IDENT, "d", ITEMS)) == 50
    assert cache.get_judgments({**IDENT, **change}, "d", ITEMS) == {}


def test_changed_description_or_content_is_a_miss(cache):
    cache.put_judgments(IDENT, "d", ITEMS, {f"i{n}": truth(n) for n in range(50)})
    assert cache.get_judgments(IDENT, "d ", ITEMS) == {}
    assert cache.get_judgments(IDENT, "d", {"i0": "a house with 0 rooms!"}) == {}
    assert cache.get_judgments(IDENT, "d", {"i0": {"rooms": 0}}) == {}


def test_scan_and_in_lookups_agree(cache):
    items = {f"x{n}": {"n": n} for n in range(5000)}
    js = {k: Judgment(k, n % 2 == 1, None) for n, k in enumerate(items)}
    cache.put_judgments(IDENT, "odd", items, js)
    big = cache.get_judgments(IDENT, "odd", items)  # range-scan path (>= 2000 keys)
    small = cache.get_judgments(IDENT, "odd", dict(list(items.items())[:300]))  # IN (...) path
    assert big == js
    assert small == {k: js[k] for k in list(items)[:300]}


def test_corrupt_entry_is_a_logged_miss_and_is_repaired(cache, caplog):
    cache.put_judgments(IDENT, "d", ITEMS, {f"i{n}": truth(n) for n in range(50)})
    conn = sqlite3.connect(cache.path)
    conn.execute("UPDATE judgments SET value = 'garbage' WHERE item = ?", (item_hash(ITEMS["i3"]),))
    conn.execute("UPDATE judgments SET probability = 7.5 WHERE item = ?", (item_hash(ITEMS["i4"]),))
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING, logger="genz_pyro.fm.cache"):
        got = cache.get_judgments(IDENT, "d", ITEMS)
    assert set(ITEMS) - set(got) == {"i3", "i4"}
    assert cache.damage["entries"] == 2  # counted: one warning, with the fix
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "corrupt judgment entry" in warnings[0] and "move the file away" in warnings[0]
    cache.put_judgments(IDENT, "d", ITEMS, {"i3": truth(3), "i4": truth(4)})
    assert cache.get_judgments(IDENT, "d", ITEMS) == {f"i{n}": truth(n) for n in range(50)}


def test_corrupt_answer_is_a_logged_miss(cache, caplog):
    req = {"positives": [["a", item_hash("x").hex()]], "negatives": [], "avoid": []}
    cache.put_answer(IDENT, "mine", req, {"description": "d", "rationale": "r"}, raw="{}", usage=Usage(1, 5, 5))
    assert cache.get_answer(IDENT, "mine", req) == {"description": "d", "rationale": "r"}
    assert cache.get_answer(IDENT, "propose", req) is None
    conn = sqlite3.connect(cache.path)
    conn.execute("UPDATE answers SET payload = '{not json'")
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING, logger="genz_pyro.fm.cache"):
        assert cache.get_answer(IDENT, "mine", req) is None
    assert any("corrupt mine answer" in r.getMessage() for r in caplog.records) and cache.damage["entries"] == 1


def test_other_operations_are_separate_namespaces(cache):
    cache.put_answer(IDENT, "describe_image", {"sha256": "ab"}, "a red house")
    assert cache.get_answer(IDENT, "describe_image", {"sha256": "ab"}) == "a red house"
    assert cache.get_answer(IDENT, "propose", {"sha256": "ab"}) is None
    with pytest.raises(ValueError, match="operation"):
        cache.get_answer(IDENT, "Describe Image", {"sha256": "ab"})


def test_damaged_pages_are_a_logged_miss(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    items = {f"i{n}": f"item {n}" for n in range(3000)}
    with JudgmentCache(path) as c:
        c.put_judgments(IDENT, "d", items, {k: Judgment(k, True, 0.5) for k in items})
        c.put_judgments(IDENT, "e", items, {k: Judgment(k, False, None) for k in items})
        c._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as fh:  # overwrite three pages in the middle of context "d"
        fh.seek(4096 * 10)
        fh.write(bytes(range(256)) * 48)
    with JudgmentCache(path) as c, caplog.at_level(logging.WARNING, logger="genz_pyro.fm.cache"):
        for _ in range(20):  # every lookup that hits the damage is a miss, counted
            assert c.get_judgments(IDENT, "d", items) == {}
        assert len(c.get_judgments(IDENT, "e", items)) == 3000  # the intact context still serves
        assert c.integrity_check() != "ok"
        assert c.damage["reads"] == 20
        assert "20 reads failed" in c.damage_report() and "paid again" in c.damage_report()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings  # once, not 20 times
    assert "is damaged" in warnings[0] and "paid again" in warnings[0] and "move the file away" in warnings[0]


def test_garbage_file_is_refused_with_the_fix(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a readable genz cache"):
        JudgmentCache(p)


def test_location_from_argument_or_env_never_a_default(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    with pytest.raises(ValueError, match="GENZ_CACHE"):
        JudgmentCache()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env.sqlite"))
    with JudgmentCache() as c:
        assert c.path == str(tmp_path / "env.sqlite")
    assert (tmp_path / "env.sqlite").exists()
    with pytest.raises(ValueError, match="does not exist"):
        JudgmentCache(tmp_path / "no" / "such" / "dir.sqlite")


def test_wal_mode(cache):
    assert sqlite3.connect(cache.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_export_import_round_trip(cache, tmp_path, suffix, caplog):
    cache.put_judgments(IDENT, "d", ITEMS, {f"i{n}": truth(n) for n in range(50)}, raw="RAW", usage=Usage(1, 9, 3))
    req = {"task": "t", "examples": [], "n": 3}
    cache.put_answer(IDENT, "propose", req, ["a", "b", "c"])
    out = tmp_path / f"dump{suffix}"
    n = cache.export(out)
    assert n == 1 + 2 + 50 + 1  # call, contexts, judgments, answer
    with JudgmentCache(tmp_path / "other.sqlite") as other:
        assert other.import_(out) == n
        assert other.get_judgments(IDENT, "d", ITEMS) == {f"i{n}": truth(n) for n in range(50)}
        assert other.get_answer(IDENT, "propose", req) == ["a", "b", "c"]
        assert other.counts() == cache.counts()
        # importing twice changes nothing
        other.import_(out)
        assert other.counts() == cache.counts()
    # a damaged line is logged and skipped, the rest imported
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(out, "rt") as fh:
        lines = fh.read().splitlines()
    lines[5] = lines[5][:20]
    bad = tmp_path / f"bad{suffix}"
    with opener(bad, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    with JudgmentCache(tmp_path / "third.sqlite") as third, caplog.at_level(logging.WARNING):
        assert third.import_(bad) == n - 1
    assert any("line 6 skipped" in r.getMessage() for r in caplog.records)
    not_export = tmp_path / "x.jsonl"
    not_export.write_text(json.dumps({"format": "something else"}) + "\n")
    with JudgmentCache(":memory:") as mem, pytest.raises(ValueError, match="not a genz-pyro-cache/1 export"):
        mem.import_(not_export)


@pytest.mark.parametrize(
    "identity, field",
    [
        ({"model": "m", "api_key": "x"}, "api_key"),
        ({"model": "m", "client": {"default_headers": {"a": "b"}}}, "default_headers"),
        ({"model": "m", "Authorization": "Bearer x"}, "Authorization"),
        ({"model": "m", "x-api-key": "x"}, "x-api-key"),
        ({"model": "m", "openai_token": "x"}, "openai_token"),
    ],
)
def test_identity_with_a_key_field_is_refused(identity, field):
    with pytest.raises(ValueError, match=f"\\[{field!r}\\]: looks like a credential"):
        check_identity(identity)


def test_identity_with_a_key_value_is_refused(monkeypatch):
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "zz-very-secret-value-123")
    with pytest.raises(ValueError, match="looks like an API key") as info:
        check_identity({"model": "m", "base_url": "http://h/?k=zz-very-secret-value-123"})
    assert "zz-very-secret" not in str(info.value)
    with pytest.raises(ValueError, match="looks like an API key"):
        check_identity({"model": "m", "extra": ["sk-ant-abcdefghijklmnopqrstuvwxyz"]})
    check_identity({"model": "m", "max_tokens": 5, "temperature": 0.0})  # fine


# ----------------------------------------------------------- 4 writer processes
N_PROC, N_ITEMS, N_DESC = 4, 600, 3


def _writer(path: str, proc: int) -> int:
    """Each process writes its own items and a shared block, in many small transactions."""
    cache = JudgmentCache(path, timeout=60.0)
    for d in range(N_DESC):
        mine = {f"p{proc}_{n}": f"proc {proc} item {n}" for n in range(N_ITEMS)}
        shared = {f"s{n}": f"shared item {n}" for n in range(100)}
        items = list(mine.items())
        for start in range(0, len(items), 25):
            chunk = dict(items[start : start + 25])
            js = {k: Judgment(k, (len(v) + d) % 2 == 0, 0.5) for k, v in chunk.items()}
            cache.put_judgments(IDENT, f"desc {d}", chunk, js, raw=f"raw {proc} {d} {start}", usage=Usage(1, 10, 2))
        cache.put_judgments(IDENT, f"desc {d}", shared, {k: Judgment(k, True, 1.0) for k in shared})
        cache.put_answer(IDENT, "propose", {"task": f"t{proc}", "d": d}, [f"{proc}-{d}"])
    cache.close()
    return proc


def test_four_processes_write_one_cache(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    JudgmentCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(N_PROC) as pool:
        assert sorted(pool.starmap(_writer, [(path, p) for p in range(N_PROC)])) == list(range(N_PROC))
    with JudgmentCache(path) as c:
        assert c.integrity_check() == "ok"
        counts = c.counts()
        assert counts["judgments"] == N_DESC * (N_PROC * N_ITEMS + 100)
        assert counts["answers"] == N_PROC * N_DESC
        assert counts["calls"] == N_PROC * N_DESC * (N_ITEMS // 25)
        for p in range(N_PROC):
            for d in range(N_DESC):
                items = {f"p{p}_{n}": f"proc {p} item {n}" for n in range(N_ITEMS)}
                got = c.get_judgments(IDENT, f"desc {d}", items)
                assert got == {k: Judgment(k, (len(v) + d) % 2 == 0, 0.5) for k, v in items.items()}
                assert c.get_answer(IDENT, "propose", {"task": f"t{p}", "d": d}) == [f"{p}-{d}"]
