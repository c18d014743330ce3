"""The single result type every grader returns, so callers never special-case a domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["ok", "no_answer", "timeout", "error"]


class Verdict(BaseModel):
    """Outcome of grading one response.

    ``correct`` is None when the grader could not decide (error / timeout), False when no
    answer could be extracted, so accuracy can count unknowns separately from wrong answers.
    """

    model_config = ConfigDict(frozen=True)

    correct: bool | None
    extracted: str | None
    status: Status
    reason: str = ""

    def to_dict(self) -> dict:
        """Plain dict for JSON lines (same as ``model_dump``)."""
        return self.model_dump()

    def to_tuple(self) -> tuple:
        """Compact form used on the worker pipe (cheaper to pickle than the model)."""
        return (self.correct, self.extracted, self.status, self.reason)

    @classmethod
    def from_tuple(cls, t: tuple) -> Verdict:
        return cls(correct=t[0], extracted=t[1], status=t[2], reason=t[3])


def ok(correct: bool, extracted: str, reason: str = "") -> Verdict:
    """An answer was extracted and compared."""
    return Verdict(correct=bool(correct), extracted=extracted, status="ok", reason=reason)


def no_answer(reason: str = "no answer found") -> Verdict:
    """Nothing could be extracted: counts as wrong."""
    return Verdict(correct=False, extracted=None, status="no_answer", reason=reason)


def error(reason: str, extracted: str | None = None) -> Verdict:
    """The grader itself failed: undecided."""
    return Verdict(correct=None, extracted=extracted, status="error", reason=reason)


def timeout(seconds: float) -> Verdict:
    """The grader ran past its wall-clock budget: undecided."""
    return Verdict(correct=None, extracted=None, status="timeout", reason=f"grader exceeded {seconds:g}s")
