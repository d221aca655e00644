"""Soft judgments from top logprobs: token variants merged by their best log-probability."""

from __future__ import annotations

import math

import pytest

from genz_pyro.fm.logprobs import side_logprobs, yes_probability, yes_probability_from_body
from genz_pyro.fm.openai_backend import chat_completion


def tok(token, logprob, top):
    return {"token": token, "logprob": logprob, "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]}


def answer(top, chosen="no"):
    """The tokens of ``{"id":"a","answer":"<chosen>"}`` with ``top`` at the answer position."""
    lp = dict(top).get(chosen, -0.5)
    return [tok('{"', -0.01, []), tok("id", -0.1, []), tok('":"', -0.01, []), tok("a", -0.2, []),
            tok('","', -0.01, []), tok("answer", -0.3, []), tok('":"', -0.01, []), tok(chosen, lp, top),
            tok('"}', -0.01, [])]


def test_variants_take_the_best_logprob_of_each_side():
    top = [("no", -1.16), ("No", -1.54), ("yes", -1.75), ("Y", -3.43), ("Yes", -3.57), (" YES", -6.0)]
    # best per side: yes -1.75, no -1.16 (a dict overwritten in list order would keep "Yes" -3.57)
    expected = math.exp(-1.75) / (math.exp(-1.75) + math.exp(-1.16))
    assert yes_probability(answer(top)) == pytest.approx(expected, rel=1e-12)
    assert side_logprobs([{"token": t, "logprob": lp} for t, lp in top]) == (-1.75, -1.16)


def test_the_answer_token_may_carry_the_quote_and_the_text_may_be_trimmed():
    content = [tok("\n", -0.1, []), tok('{"answer": ', -0.1, []), tok('"yes', -0.2, [('"yes', -0.2), ('"No', -1.9)]),
               tok('"}', -0.01, [])]
    p = yes_probability(content, '{"answer": "yes"}')  # the server trimmed the leading newline
    assert p == pytest.approx(1 / (1 + math.exp(-1.7)), rel=1e-12)
    assert yes_probability(content, '{"answer": "no"}') is None  # tokens that do not spell the text


def test_one_side_missing_uses_the_smallest_listed_logprob_as_its_bound():
    p = yes_probability(answer([("yes", -0.1), ("Yes", -2.0), ("maybe", -7.0)], chosen="yes"))
    assert p == pytest.approx(1 / (1 + math.exp(-6.9)), rel=1e-12) and p < 1.0


def test_no_answer_or_no_side_gives_none():
    assert yes_probability(answer([("perhaps", -0.1), ("maybe", -0.5)], chosen="perhaps")) is None
    assert yes_probability([tok('{"id":"a"}', -0.1, [])]) is None
    assert yes_probability(None) is None and yes_probability_from_body({"choices": [{}]}) is None


def test_a_chat_body_gives_the_soft_probability_only_when_asked():
    content = answer([("yes", -0.2), ("no", -1.8)], chosen="yes")
    text = "".join(c["token"] for c in content)
    body = {"choices": [{"message": {"content": text}, "logprobs": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 9}}
    soft = chat_completion(body, soft=True)
    assert soft.text == text and soft.input_tokens == 10 and soft.output_tokens == 9 and not soft.truncated
    assert soft.yes_probability == pytest.approx(1 / (1 + math.exp(-1.6)), rel=1e-12)
    assert chat_completion(body).yes_probability is None
