"""Reward table: R_det and R_format on the reward-hacking cases seen in public GRPO projects."""

from __future__ import annotations

import pickle

import pytest

from realign_pipeline.grpo.rewards import DetectionReward, FormatReward, completion_text

GOOD_FAKE = "<think>periodic texture, no sensor noise</think><answer>fake</answer>"

# (completion, label, R_det, R_format)
CASES = [
    (GOOD_FAKE, 1, 1.0, 1.0),  # correct and well formed
    (GOOD_FAKE, 0, 0.0, 1.0),  # wrong label: format still rewarded
    ("<think>a</think><answer>real or fake</answer>", 0, 0.0, 1.0),  # hedging, no substring
    ("<think>a</think><answer>real or fake</answer>", 1, 0.0, 1.0),  # ... for either label
    ("<think>a</think><answer></answer>", 0, 0.0, 0.0),  # empty answer
    ("<think>a</think><answer>   </answer>", 0, 0.0, 0.0),  # blank answer
    ("<think>a</think><answer>real</answer><answer>fake</answer>", 0, 0.0, 0.0),  # two answers
    ("<think>a</think><answer>fake</answer><answer>fake</answer>", 1, 0.0, 0.0),  # repeated
    ("<think>it is <answer>real</answer></think>", 0, 0.0, 0.0),  # answer inside think
    ("<think>a</think><answer>real", 0, 0.0, 0.0),  # missing closing answer tag
    ("<think>a<answer>real</answer>", 0, 1.0, 0.0),  # missing closing think: answer only
    ("<think>a</think><answer>REAL</answer>", 0, 1.0, 1.0),  # upper-case answer: case-folded
    ("<THINK>a</THINK><ANSWER>real</ANSWER>", 0, 0.0, 0.0),  # upper-case tags are not tags
    ("  <think> a </think>\n\n<answer>\n real \n</answer>  \n", 0, 1.0, 1.0),  # extra whitespace
    ("<think>a</think><answer>real</answer> Trust me, it is fake.", 0, 1.0, 0.0),  # tail text
    ("<answer>real</answer>", 0, 1.0, 0.0),  # no reasoning
    ("<think></think><answer>real</answer>", 0, 1.0, 0.0),  # empty reasoning
    ("real", 0, 0.0, 0.0),  # bare word
    ("", 1, 0.0, 0.0),  # empty completion
]


@pytest.mark.parametrize(("completion", "label", "r_det", "r_fmt"), CASES)
def test_rewards_plain_completions(completion: str, label: int, r_det: float, r_fmt: float) -> None:
    assert DetectionReward()(prompts=["p"], completions=[completion], label=[label]) == [r_det]
    assert FormatReward()(prompts=["p"], completions=[completion]) == [r_fmt]


@pytest.mark.parametrize(("completion", "label", "r_det", "r_fmt"), CASES)
def test_rewards_conversational_completions(
    completion: str, label: int, r_det: float, r_fmt: float
) -> None:
    as_string = [{"role": "assistant", "content": completion}]
    as_parts = [{"role": "assistant", "content": [{"type": "text", "text": completion}]}]
    for conversational in (as_string, as_parts):
        assert DetectionReward()(completions=[conversational], label=[label]) == [r_det]
        assert FormatReward()(completions=[conversational]) == [r_fmt]


@pytest.mark.parametrize(
    "completion",
    [
        None,  # nothing decoded
        42,  # not text at all
        [],  # empty message list
        [{"role": "assistant", "content": None}],  # tool-call style turn without text
        [{"role": "assistant", "content": [{"type": "image"}]}],  # no text part
        ["<think>a</think><answer>real</answer>"],  # list of bare strings is not a message
    ],
)
def test_rewards_non_string_completions_score_zero(completion: object) -> None:
    assert DetectionReward()(completions=[completion], label=[0]) == [0.0]
    assert FormatReward()(completions=[completion]) == [0.0]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (0, 1.0),
        (1, 0.0),
        ("real", 1.0),
        ("REAL", 1.0),
        ("fake", 0.0),
        ("unknown", 0.0),
        (None, 0.0),
    ],
)
def test_detection_accepts_int_and_named_labels(label: object, expected: float) -> None:
    text = "<think>a</think><answer>real</answer>"
    assert DetectionReward()(completions=[text], label=[label]) == [expected]


def test_detection_logs_label_and_answer_columns() -> None:
    logged: dict[str, list] = {}
    rewards = DetectionReward()(
        completions=[GOOD_FAKE, "nonsense"],
        label=[1, 0],
        log_extra=lambda column, values: logged.__setitem__(column, values),
    )
    assert rewards == [1.0, 0.0]
    assert logged == {"label": ["fake", "real"], "answer": ["fake", None]}


def test_detection_rejects_misaligned_labels() -> None:
    with pytest.raises(ValueError, match="2 completions but 1 labels"):
        DetectionReward()(completions=["a", "b"], label=[0])


def test_rewards_pickle_and_keep_their_metric_names() -> None:
    for reward, name in ((DetectionReward(), "detection"), (FormatReward(), "format")):
        clone = pickle.loads(pickle.dumps(reward))  # noqa: S301 - our own object, in memory
        assert clone.__name__ == name
        assert clone(completions=[GOOD_FAKE], label=[1]) == [1.0]


def test_completion_text_joins_text_parts() -> None:
    message = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}]
    assert completion_text(message) == "ab"
