"""Turning raw column values into questions, golds and JSON-safe context.

Every gold normaliser raises `MissingAnswer` when the row has an answer field but no usable gold in it
(a MATH solution without `\\boxed{}`, an MC answer that is neither a letter nor an option's text), so the
loader can report the row as `missing_answer` instead of grading against garbage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class MissingAnswer(ValueError):
    """The row's answer field is present but holds no extractable gold."""


class BadQuestion(ValueError):
    """The question value cannot be turned into prompt text."""


class WrongType(ValueError):
    """A field holds a value of the wrong type (a list as the question, a dict as a math answer): `wrong_type`."""


class NanValue(ValueError):
    """A field holds NaN or an infinity (a float NaN from JSON or Parquet, a literal "NaN" cell): `nan_value`."""


TEXT_GOLD_DOMAINS = ("gsm8k", "numeric", "arith", "math", "mc", "yesno")  # graded against text; `code` golds hold tests


def _kind(value: Any) -> str:
    return {"list": "a list", "dict": "an object", "bool": "a bool"}.get(type(value).__name__, type(value).__name__)


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def is_nan_text(value: Any) -> bool:
    """A cell that says NaN (how pandas writes a missing float to CSV)."""
    return isinstance(value, str) and value.strip().lower() in ("nan", "-nan")


def check_answer(value: Any, domain: str) -> Any:
    """The answer value if its type suits the domain's gold; WrongType / NanValue otherwise.

    A one-element list is unwrapped (verl stores some ground truths that way); a bool is a yes/no answer only.
    """
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if is_nan(value) or is_nan_text(value):
        raise NanValue(f"is {value!r}, not a number or text")
    if domain not in TEXT_GOLD_DOMAINS:
        return value
    if isinstance(value, bool) and domain != "yesno":
        raise WrongType(f"is a bool ({value}), expected a string or a number")
    if isinstance(value, (dict, list)):
        raise WrongType(f"is {_kind(value)}, expected a string or a number")
    return value


def to_plain(value: Any) -> Any:
    """Numpy / pandas values (what parquet rows hold) as plain Python, so context is JSON-serialisable."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and numpy scalars
        return to_plain(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or value == [] or value == {}


def question_text(value: Any) -> str:
    """Prompt text from a string, a number, or chat messages (verl's `prompt`: the last user turn).

    Anything else is the wrong type (a list of strings, an object without `content`, a bool); NaN is `nan_value`.
    """
    if isinstance(value, str) and not is_nan_text(value):
        return value.strip()
    if isinstance(value, bool):
        raise WrongType(f"is a bool ({value}), expected text")
    if is_nan_text(value):
        raise NanValue(f"is {value!r}, expected text")
    if is_nan(value):
        raise NanValue(f"is {value!r}, expected text")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, Mapping):
        if "content" in value:
            return question_text(value["content"])
        raise WrongType(f"is an object with keys {sorted(value)[:5]}, expected text or a chat message")
    if isinstance(value, list) and value and all(isinstance(m, Mapping) for m in value):
        users = [m for m in value if m.get("role") == "user"] or value
        return question_text(users[-1].get("content"))
    if isinstance(value, list):
        raise WrongType("is a list" + (" of strings" if all(isinstance(v, str) for v in value) else "")
                        + ", expected text or chat messages")
    raise WrongType(f"is {_kind(value)}, expected text")


def _braced(text: str, start: int) -> str | None:
    """Content of the brace group opening at `start`, nested braces included; None if unbalanced."""
    depth = 0
    for pos in range(start, len(text)):
        char = text[pos]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : pos]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces handled."""
    best: tuple[int, str] | None = None
    for marker in ("\\boxed", "\\fbox"):
        pos = text.rfind(marker)
        while pos != -1:
            brace = pos + len(marker)
            while brace < len(text) and text[brace] == " ":
                brace += 1
            if brace < len(text) and text[brace] == "{":
                content = _braced(text, brace)
                if content is not None:
                    if best is None or pos > best[0]:
                        best = (pos, content.strip())
                    break
            pos = text.rfind(marker, 0, pos)
    return best[1] if best else None


def _scalar_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list) and len(value) == 1:
        return _scalar_text(value[0])
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def gsm8k_gold(answer: Any) -> str:
    """GSM8K answers end in `#### N`; the gold is N without thousands separators."""
    text = str(answer)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    gold = text.strip().replace(",", "")
    if not gold:
        raise MissingAnswer("the answer has nothing after '####'")
    return gold


def math_gold(answer: Any) -> str:
    """A short answer as is; a worked solution (or `\\boxed{}` answer) -> the last boxed content."""
    text = _scalar_text(answer)
    if "\\boxed" in text or "\\fbox" in text:
        boxed = last_boxed(text)
        if not boxed:
            raise MissingAnswer("the \\boxed{} in the answer is empty or unbalanced")
        return boxed
    if not text:
        raise MissingAnswer("the answer is empty")
    return text


def solution_gold(solution: Any) -> str:
    boxed = last_boxed(str(solution))
    if not boxed:
        raise MissingAnswer("the solution has no \\boxed{...} answer")
    return boxed


def normalize_options(options: Any) -> dict[str, str]:
    """Options as an ordered {letter: text}, from a dict, a list, or a JSON string of either."""
    if isinstance(options, str) and options.strip()[:1] in ("[", "{"):
        try:
            options = json.loads(options)
        except json.JSONDecodeError:
            return {}
    options = to_plain(options)
    if isinstance(options, Mapping):
        return {str(k).strip().upper(): str(v).strip() for k, v in options.items() if not is_empty(v)}
    if isinstance(options, list):
        return {chr(ord("A") + i): str(v).strip() for i, v in enumerate(options)}
    return {}


def mc_gold(answer: Any, options: Mapping[str, str]) -> str:
    """The gold letter from a letter, a 0-based index, or the correct option's text."""
    if isinstance(answer, bool):
        raise MissingAnswer(f"answer {answer!r} is not a letter")
    if isinstance(answer, int) and options and 0 <= answer < len(options):
        return list(options)[answer]
    text = _scalar_text(answer).strip().strip("().").strip()
    if len(text) == 1 and text.isalpha() and (not options or text.upper() in options):
        return text.upper()
    for letter, option in options.items():
        if option.strip().lower() == text.lower() and text:
            return letter
    raise MissingAnswer(f"answer {text[:60]!r} is neither an option letter nor an option's text")


_YESNO = {"yes": "yes", "true": "yes", "1": "yes", "no": "no", "false": "no", "0": "no"}


def yesno_gold(answer: Any) -> str:
    word = _YESNO.get(str(answer).strip().strip(".").lower())
    if word is None:
        raise MissingAnswer(f"answer {str(answer)[:40]!r} is not yes/no/true/false")
    return word


def domain_gold(domain: str, answer: Any, context: Mapping[str, Any]) -> str:
    """The gold in the form the domain's grader expects."""
    if domain in ("gsm8k", "numeric", "arith"):
        return gsm8k_gold(_scalar_text(answer))
    if domain == "math":
        return math_gold(answer)
    if domain == "mc":
        return mc_gold(answer, normalize_options(context.get("options")))
    if domain == "yesno":
        return yesno_gold(answer)
    text = _scalar_text(answer)
    if not text:
        raise MissingAnswer("the answer is empty")
    return text
