"""Prompt templates: each renders the instructions and context its domain's grader relies on."""

from __future__ import annotations

import pytest

from experiments.datasets import DatasetSpec, Example
from experiments.datasets.describe import resolve_template
from experiments.prompts import TEMPLATES, render_messages


def _ex(domain: str = "math", question: str = "What is 1+1?", **context: object) -> Example:
    return Example(example_id="t-000000", index=0, question=question, gold="2", domain=domain,
                   context=context)


def _user(ex: Example, template: str | None = None) -> str:
    messages = render_messages(ex, template)
    assert [m["role"] for m in messages] == ["user"]
    return messages[0]["content"]


def test_all_templates_exist() -> None:
    assert {"math", "gsm8k", "mc", "yesno", "code", "plain"} <= set(TEMPLATES)


def test_math_asks_for_a_box() -> None:
    text = _user(_ex("math"))
    assert text.startswith("What is 1+1?") and "\\boxed{}" in text


def test_gsm8k_asks_for_hashes() -> None:
    assert "#### <number>" in _user(_ex("gsm8k"))


def test_mc_lists_options_in_order() -> None:
    options = {"A": "one", "B": "two", "C": "three", "D": "four"}
    text = _user(_ex("mc", **{"options": options}))
    assert "A. one\nB. two\nC. three\nD. four" in text and "Answer: X" in text
    assert "A. red\nB. blue" in _user(_ex("mc", options=["red", "blue"]))


def test_yesno_includes_passage_and_one_question_mark() -> None:
    text = _user(_ex("yesno", "is water wet", passage="Water makes things wet."))
    assert text.startswith("Passage: Water makes things wet.") and "Question: is water wet?" in text
    assert "Answer: yes" in text and "Answer: no" in text
    assert "wet??" not in _user(_ex("yesno", "is water wet?"))


def test_code_and_plain() -> None:
    text = _user(_ex("code", "Reverse a string.", entry_point="reverse"))
    assert "```python" in text and "`reverse`" in text
    assert _user(_ex("math"), "plain") == "What is 1+1?"


def test_system_prompt_comes_first() -> None:
    messages = render_messages(_ex("math"), "math", "You are careful.")
    assert messages[0] == {"role": "system", "content": "You are careful."} and messages[1]["role"] == "user"


def test_unknown_template_and_defaults() -> None:
    with pytest.raises(ValueError):
        render_messages(_ex(), "nope")
    assert "\\boxed" in _user(_ex("unknown-domain", "Q"), "math") and _user(_ex("unknown-domain", "Q")) == "Q"
    assert resolve_template(DatasetSpec(source="gpqa-diamond")) == "mc"
    assert resolve_template(DatasetSpec(source="gsm8k", template="plain")) == "plain"
    assert resolve_template(DatasetSpec(source="x.csv", domain="yesno")) == "yesno"
