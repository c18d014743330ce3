"""Verdict parsing: every shape a judge model is known to produce, and garbage that must stay invalid."""

from __future__ import annotations

import pytest

from experiments.stages.judging.parse import parse_verdict, to_bool

CLEAN = '{"correct_answer": "18", "model_answer": "18", "reasoning": "same number", "correct": "yes"}'


def test_clean_json() -> None:
    v = parse_verdict(CLEAN)
    assert v.ok and v.correct is True and v.how == "json"
    assert (v.correct_answer, v.model_answer, v.reasoning) == ("18", "18", "same number")


@pytest.mark.parametrize("text, expected", [
    ('```json\n{"correct": "no", "model_answer": "2"}\n```', False),
    ('```\n{"correct": "yes"}\n```', True),
    ('Here is my verdict:\n{"correct_answer": "5", "correct": "Yes"}\nHope this helps.', True),
    ("{'correct_answer': '5', 'model_answer': '6', 'correct': 'no'}", False),
    ('{"correct": true,}', True),
    ('{"correct": false, "reasoning": "off by one",}', False),
    ("{'correct': True, 'model_answer': None}", True),
    ('{"correct": "NO"}', False),
    ('{"correct": 1}', True),
    ('{"Correct": "yes"}', True),
    ('{"is_correct": "true"}', True),
    ('{"reasoning": "the model\'s answer {x} is wrong", "correct": "no"}', False),
    ('{"reasoning": "braces } inside a string", "correct": "yes"}', True),
    ('Thinking... {not json} then {"correct": "no"}', False),
    ("The answer matches.\ncorrect: yes", True),
    ('"correct": "no" (the model said 7)', False),
    ('{"correct_answer": "18", "model_answer": "18", "reasoning": "fine", "correct": "yes"', True),  # truncated
])
def test_tolerant_shapes(text: str, expected: bool) -> None:
    v = parse_verdict(text)
    assert v.ok, text
    assert v.correct is expected


def test_missing_optional_fields() -> None:
    v = parse_verdict('{"correct": "no"}')
    assert v.ok and v.correct is False
    assert v.model_answer is None and v.correct_answer is None and v.reasoning is None


def test_nested_values_are_text() -> None:
    v = parse_verdict('{"correct": "yes", "model_answer": ["A", "B"], "correct_answer": 18}')
    assert v.model_answer == '["A", "B"]' and v.correct_answer == "18"


@pytest.mark.parametrize("text", [
    "", None, "I think it is right.", "garbage {{{", '{"correct": "maybe"}', '{"correct_answer": "18"}',
    "correct: yes\ncorrect: no", "[1, 2, 3]", '{"correct_answer": "18", "model_answer": "1',
    "The correct answer is 18.",
])
def test_invalid(text: str | None) -> None:
    v = parse_verdict(text)
    assert not v.ok and v.status == "invalid_json" and v.correct is None


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("yes", True), ("Yes.", True), ("N", False), ("false", False), (1, True),
    (0, False), ("correct", True), ("incorrect", False), ("maybe", None), (2, None), (None, None),
])
def test_to_bool(value: object, expected: bool | None) -> None:
    assert to_bool(value) is expected
