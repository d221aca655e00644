"""The local GGUF backend with a real model (SmolLM2-135M-Instruct run by llama.cpp in process).

The model is nearly a constant judge, so these tests check everything but correctness:
answers parse (or are reported) and land on the right ids, probabilities are probabilities,
the cache makes a rerun free, the same seed gives the same answers, errors name the fix.
"""

from __future__ import annotations

import sys

import pytest
from local_helpers import MOVIES

from genz_pyro.fm import Budget, BudgetExceededError, CachedModel, JudgmentCache, make_model
from genz_pyro.fm.errors import ContextTooLongError, MalformedAnswerError, MissingDependencyError
from genz_pyro.fm.gguf_backend import BUNDLED_FILE, GGUFModel, bundled_model_path, file_sha256

DESC = "An animated movie"
POS = {k: MOVIES[k] for k in ("toy", "nemo")}
NEG = {k: MOVIES[k] for k in ("god", "list")}


def test_soft_judgments_align_with_items_and_are_probabilities(gguf):
    before = gguf.usage.copy()
    shuffled = {k: MOVIES[k] for k in ("jaws", "toy", "list", "god", "nemo")}
    out = gguf.judge(DESC, shuffled)
    assert list(out) == list(shuffled)  # the caller's order, every id once
    for i, j in out.items():
        assert j.item_id == i and isinstance(j.value, bool)
        assert j.probability is not None and 0.0 <= j.probability <= 1.0  # P(yes) from the logprobs
    assert gguf.usage.calls - before.calls == len(shuffled)  # one call per item (shape 1)
    assert gguf.usage.input_tokens > before.input_tokens and gguf.usage.cost_usd == 0.0


def test_a_rerun_makes_no_call_and_the_cache_keeps_the_soft_judgment(gguf, tmp_path):
    path = tmp_path / "cache.sqlite"
    first = CachedModel(gguf, JudgmentCache(path))
    got = first.judge(DESC, MOVIES)
    mined = first.mine(POS, NEG)
    calls = gguf.usage.calls
    again = CachedModel(gguf, JudgmentCache(path))  # a new process would open the file like this
    assert again.judge(DESC, MOVIES) == got
    assert again.mine(POS, NEG) == mined
    assert gguf.usage.calls == calls and again.usage.calls == 0
    assert again.usage.cache_hits == len(MOVIES) + 1


def test_the_cache_key_holds_the_model_file_hash(gguf):
    ident = gguf.cache_identity()
    assert ident["provider"] == "gguf" and ident["sha256"] == file_sha256(bundled_model_path())
    assert ident["model"] == BUNDLED_FILE and ident["soft"] is True
    assert str(bundled_model_path().parent) not in repr(ident)  # the path is not part of the key


def test_the_same_seed_gives_the_same_answers():
    a, b = GGUFModel(seed=7), GGUFModel(seed=7)
    few = {k: MOVIES[k] for k in ("toy", "god", "jaws")}
    try:
        assert a.judge(DESC, few) == b.judge(DESC, few)  # values and probabilities, exactly
    finally:
        a.close()
        b.close()


def test_mining_returns_a_short_description(gguf):
    mined = gguf.mine(POS, NEG, avoid=("Released before 2000",))
    assert 3 <= len(mined.description) <= 120 and mined.description == mined.description.strip()


def test_batched_judging_answers_every_id_in_one_call():
    model = GGUFModel(extraction_shape=2, batch_size=len(MOVIES), soft=False)
    try:
        out = model.judge(DESC, MOVIES)
        assert list(out) == list(MOVIES) and all(j.probability is None for j in out.values())
        assert model.usage.calls == 1  # the grammar's table names every id once: nothing to re-ask
    finally:
        model.close()


def test_a_truncated_answer_is_resent_then_reported():
    model = GGUFModel(max_tokens=4, max_malformed_retries=1)
    try:
        with pytest.raises(MalformedAnswerError, match="truncated at max_tokens=4"):
            model.mine(POS, NEG)
        assert model.usage.calls == 2  # the first answer and one re-send, both counted
    finally:
        model.close()


def test_a_prompt_longer_than_the_context_names_the_fix():
    model = GGUFModel(context=256)
    try:
        with pytest.raises(ContextTooLongError, match="larger context="):
            model.judge(DESC, {"long": {"title": "Toy Story", "plot": "toys " * 400}})
    finally:
        model.close()


def test_the_budget_caps_local_calls(tmp_path):
    model = GGUFModel(budget=Budget(max_calls=2))
    try:
        with pytest.raises(BudgetExceededError):
            model.judge(DESC, MOVIES)
        assert model.usage.calls <= 2 and model.budget.spent.calls <= 2
    finally:
        model.close()


def test_specs_and_bad_paths(tmp_path):
    m = make_model("gguf:")
    assert isinstance(m, GGUFModel) and m.path == bundled_model_path() and m.name == f"gguf:{BUNDLED_FILE}"
    assert make_model(f"gguf:{bundled_model_path()}").path == bundled_model_path()
    with pytest.raises(ValueError, match="no GGUF file"):
        make_model(f"gguf:{tmp_path / 'absent.gguf'}")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a GGUF file"):
        GGUFModel(fake)
    with pytest.raises(ValueError, match="extraction_shape=1"):
        GGUFModel(extraction_shape=2)  # soft judgments are per item


def test_missing_runtime_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    with pytest.raises(MissingDependencyError, match=r"genz-pyro\[local\]"):
        GGUFModel()
