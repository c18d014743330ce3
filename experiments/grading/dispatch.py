"""One entry point for every domain, so callers (pool workers, scripts) never branch on domain."""

from __future__ import annotations

from collections.abc import Callable

from experiments.grading.verdict import Verdict, error

Grader = Callable[..., Verdict]


def _math(response: str, gold: str, **ctx: object) -> Verdict:
    from experiments.grading.math_grader import grade_math

    return grade_math(response, gold, **ctx)


def _numeric(response: str, gold: str, **ctx: object) -> Verdict:
    from experiments.grading.numeric import grade_numeric

    return grade_numeric(response, gold, **ctx)


def _mc(response: str, gold: str, **ctx: object) -> Verdict:
    from experiments.grading.multiple_choice import grade_mc

    return grade_mc(response, gold, **ctx)


def _yesno(response: str, gold: str, **ctx: object) -> Verdict:
    from experiments.grading.yesno import grade_yesno

    return grade_yesno(response, gold, **ctx)


def _code(response: str, gold: str, **ctx: object) -> Verdict:
    from experiments.grading.code_runner import grade_code

    return grade_code(response, gold, **ctx)


# Lazy wrappers: importing the package must not pull in sympy / math-verify.
DOMAINS: dict[str, Grader] = {
    "math": _math,
    "gsm8k": _numeric,
    "numeric": _numeric,
    "arith": _numeric,
    "mc": _mc,
    "yesno": _yesno,
    "code": _code,
}


def grade(domain: str, response: str, gold: str, **context: object) -> Verdict:
    """Grade one response in-process (no timeout). Unknown domain -> ValueError; grader bugs -> error."""
    fn = DOMAINS.get(domain)
    if fn is None:
        raise ValueError(f"unknown grading domain {domain!r}; known: {', '.join(sorted(DOMAINS))}")
    if response is None:
        return error("response is missing")
    try:
        return fn(str(response), gold, **context)
    except RecursionError:
        return error("grader hit the recursion limit")
    except Exception as e:  # a grader bug must not stop a whole grading run
        return error(f"{type(e).__name__}: {str(e)[:200]}")
