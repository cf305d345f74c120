"""`parse_completion`: the one definition of a valid think/answer completion."""

from __future__ import annotations

import pytest

from realign_pipeline.reasoning import parse_completion

OK = "<think>smooth textures, no sensor noise</think><answer>fake</answer>"

CASES = [
    # (completion, think, answer, format_ok)
    (OK, "smooth textures, no sensor noise", "fake", True),  # the canonical form
    ("\n <think> a </think>\n<answer> Real \n</answer>\n", "a", "real", True),  # spaces, case
    ("<think>a</think><answer>REAL</answer>", "a", "real", True),  # answer case-folded
    ("<think>a</think><answer>real or fake</answer>", "a", None, True),  # hedged answer
    ("<think>a</think><answer></answer>", "a", None, False),  # empty answer
    ("<think>a</think><answer>real</answer><answer>fake</answer>", "a", None, False),  # two
    ("<think>a <answer>real</answer></think>", None, None, False),  # answer inside think
    ("<think>a</think><answer>real", "a", None, False),  # unclosed answer
    ("<think>a<answer>real</answer>", None, "real", False),  # unclosed think: no format
    ("<answer>fake</answer>", None, "fake", False),  # no reasoning
    ("<think></think><answer>fake</answer>", "", "fake", False),  # empty reasoning
    ("<think>a</think><answer>fake</answer> because", "a", "fake", False),  # trailing text
    ("Sure! <think>a</think><answer>fake</answer>", "a", "fake", False),  # leading text
    ("<answer>fake</answer><think>a</think>", "a", "fake", False),  # wrong order
    ("<THINK>a</THINK><ANSWER>fake</ANSWER>", None, None, False),  # tags are case-sensitive
    ("<think>a</think><answer>fake.</answer>", "a", None, True),  # punctuation: not exact
    ("<think>a</think><think>b</think><answer>real</answer>", None, "real", False),  # 2 thinks
    ("real", None, None, False),  # bare word
    ("", None, None, False),  # empty completion
]


@pytest.mark.parametrize(("text", "think", "answer", "format_ok"), CASES)
def test_parse_completion_table(text: str, think, answer, format_ok: bool) -> None:
    parsed = parse_completion(text)
    assert (parsed.think, parsed.answer, parsed.format_ok) == (think, answer, format_ok)


@pytest.mark.parametrize("value", [None, 3, ["<answer>real</answer>"], b"<answer>real</answer>"])
def test_parse_completion_non_string_is_empty(value: object) -> None:
    parsed = parse_completion(value)
    assert (parsed.think, parsed.answer, parsed.format_ok) == (None, None, False)
