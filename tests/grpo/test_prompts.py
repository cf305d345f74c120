"""`build_messages`: Qwen's structured chat format with an image placeholder."""

from __future__ import annotations

from realign_pipeline.prompts import DEFAULT_SYSTEM_PROMPT, PAPER_QUESTION, build_messages


def test_default_messages_have_system_image_and_question() -> None:
    messages = build_messages()
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == [{"type": "text", "text": DEFAULT_SYSTEM_PROMPT}]
    assert messages[1]["content"] == [{"type": "image"}, {"type": "text", "text": PAPER_QUESTION}]


def test_without_system_prompt_or_image() -> None:
    messages = build_messages("Describe the image.", None, with_image=False)
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "Describe the image."}]}
    ]


def test_messages_are_fresh_objects() -> None:
    first = build_messages()
    first[1]["content"].append({"type": "text", "text": "x"})
    assert len(build_messages()[1]["content"]) == 2


def test_system_prompt_asks_for_the_tag_format() -> None:
    for needle in ("<think>", "</think>", "<answer>", "</answer>", "real", "fake"):
        assert needle in DEFAULT_SYSTEM_PROMPT
