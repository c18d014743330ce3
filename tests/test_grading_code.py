"""Code grader: program extraction, assert tests, stdin/stdout cases, and the sandbox limits."""

import pytest

from experiments.grading import grade
from experiments.grading.code_runner import extract_program


def fence(code: str, lang: str = "python") -> str:
    return f"Here is my solution.\n```{lang}\n{code}\n```\nIt runs in O(n)."


ADD = "def add(a, b):\n    return a + b"
ADD_BAD = "def add(a, b):\n    return a - b"
SOL = (
    "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
    "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
    "                return [seen[target - x], i]\n            seen[x] = i\n"
)
SOL_TESTS = (
    "s = Solution()\nassert s.twoSum([2,7,11,15], 9) == [0, 1]\nassert s.twoSum([3,2,4], 6) == [1, 2]\n"
)
ADD_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(10, 5) == 15\n"
CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n"
DOUBLE = "n = int(input())\nprint(n * 2)"
SUM_LINE = "import sys\nnums = list(map(int, sys.stdin.read().split()))\nprint(sum(nums))"
IO = [{"input": "3\n", "output": "6\n"}, {"input": "21", "output": "42"}]
IO_SUM = [{"input": "1 2 3\n", "output": "6"}, {"input": "10\n-10\n", "output": "0"}]

CASES = [
    # (response, context, correct, status, reason fragment)
    (fence(ADD), {"tests": ADD_TESTS}, True, "ok", "3 tests passed"),
    (fence(ADD_BAD), {"tests": ADD_TESTS}, False, "ok", "test 1 failed: assert add(1, 2) == 3"),
    (
        fence("def add(a, b):\n    return 3 if a == 1 else a + b + 1"),
        {"tests": ADD_TESTS},
        False,
        "ok",
        "test 2 failed: assert add(-1, 1) == 0",
    ),
    (fence(ADD, "py"), {"tests": ADD_TESTS}, True, "ok", ""),
    (fence(ADD, "Python3"), {"tests": ADD_TESTS}, True, "ok", ""),
    (fence(ADD, ""), {"tests": ADD_TESTS}, True, "ok", ""),
    (ADD, {"tests": ADD_TESTS}, True, "ok", ""),  # no fence: whole text is the program
    (fence(ADD_BAD) + "\nFixed version:\n" + fence(ADD), {"tests": ADD_TESTS}, True, "ok", ""),
    (fence(ADD) + "\nOops, actually:\n" + fence(ADD_BAD), {"tests": ADD_TESTS}, False, "ok", "test 1"),
    (fence(ADD), {"tests": CHECK, "entry_point": "add"}, True, "ok", ""),
    (fence(ADD_BAD), {"tests": CHECK, "entry_point": "add"}, False, "ok", "assert candidate(1, 2) == 3"),
    (fence(ADD), {"tests": CHECK + "check(add)\n", "entry_point": "add"}, True, "ok", ""),
    (fence(SOL), {"tests": SOL_TESTS}, True, "ok", ""),
    (
        fence(SOL.replace("[seen[target - x], i]", "[i, seen[target - x]]")),
        {"tests": SOL_TESTS},
        False,
        "ok",
        "twoSum([2,7,11,15], 9)",
    ),
    (
        fence("def add(a, b):\n    raise ValueError('nope')"),
        {"tests": ADD_TESTS},
        False,
        "ok",
        "raised ValueError",
    ),
    (
        fence("def add(a, b)\n    return a + b"),
        {"tests": ADD_TESTS},
        False,
        "ok",
        "failed to load: SyntaxError",
    ),
    (fence("import numpy_does_not_exist\n" + ADD), {"tests": ADD_TESTS}, False, "ok", "ModuleNotFoundError"),
    (fence("def mul(a, b):\n    return a * b"), {"tests": ADD_TESTS}, False, "ok", "NameError"),
    (fence("import sys\nsys.exit(0)\n" + ADD), {"tests": ADD_TESTS}, False, "ok", "NameError"),
    (fence("import os\nos._exit(0)"), {"tests": ADD_TESTS}, False, "ok", "without a result"),
    (
        fence("def add(a, b):\n    while True:\n        pass"),
        {"tests": ADD_TESTS, "time_limit": 1},
        False,
        "ok",
        "time limit",
    ),
    (fence("x = bytearray(4 * 1024 ** 3)\n" + ADD), {"tests": ADD_TESTS}, False, "ok", "MemoryError"),
    (
        fence("import socket\nsocket.create_connection(('example.com', 80))\n" + ADD),
        {"tests": ADD_TESTS},
        False,
        "ok",
        "network access is disabled",
    ),
    (
        fence("while True:\n    print('spam' * 1000)"),
        {"tests": ADD_TESTS, "time_limit": 2},
        False,
        "ok",
        "File too large",
    ),
    (fence("open('scratch.txt', 'w').write('ok')\n" + ADD), {"tests": ADD_TESTS}, True, "ok", ""),
    (
        fence("def f(n):\n    return n if n < 2 else f(n - 1) + 1\nadd = lambda a, b: a + b + 0 * f(3000)"),
        {"tests": ADD_TESTS},
        True,
        "ok",
        "",
    ),
    (fence(DOUBLE), {"test_cases": IO}, True, "ok", "2 tests passed"),
    (fence("n = int(input())\nprint(n * 3)"), {"test_cases": IO}, False, "ok", "test 1 failed"),
    (fence("n = int(input())\nprint(6 if n == 3 else 0)"), {"test_cases": IO}, False, "ok", "test 2 failed"),
    (fence(SUM_LINE), {"test_cases": IO_SUM}, True, "ok", ""),
    (
        fence(
            "import sys\ndata = sys.stdin.buffer.read().split()\nsys.stdout.write(str(sum(map(int, data))))"
        ),
        {"test_cases": IO_SUM},
        True,
        "ok",
        "",
    ),
    (
        fence("def main():\n    print(int(input()) * 2)\n\nif __name__ == '__main__':\n    main()"),
        {"test_cases": IO},
        True,
        "ok",
        "",
    ),
    (fence("print(int(input()) * 2)\nimport sys\nsys.exit(0)"), {"test_cases": IO}, True, "ok", ""),
    (fence("print(int(input()) * 2, end='   \\n\\n')"), {"test_cases": IO}, True, "ok", ""),
    (fence("print(0.1 + 0.2)"), {"test_cases": [{"input": "", "output": "0.3"}]}, True, "ok", ""),
    (fence("print('0.31')"), {"test_cases": [{"input": "", "output": "0.3"}]}, False, "ok", "expected"),
    (fence("x = int(input())\nprint(1 // (x - 3))"), {"test_cases": IO}, False, "ok", "ZeroDivisionError"),
    (fence("while True:\n    pass"), {"test_cases": IO, "time_limit": 1}, False, "ok", "time limit"),
    (fence("print(int(input()) * 2"), {"test_cases": IO}, False, "ok", "does not compile"),
    (fence(DOUBLE), {"test_cases": '[{"input": "5", "output": "10"}]'}, True, "ok", ""),
    ("", {"tests": ADD_TESTS}, False, "no_answer", ""),
    (fence(ADD), {}, None, "error", "no tests"),
]


@pytest.mark.parametrize("response,context,correct,status,reason", CASES)
def test_code(response: str, context: dict, correct: bool | None, status: str, reason: str) -> None:
    v = grade("code", response, "", **context)
    assert (v.correct, v.status) == (correct, status), v
    assert reason in v.reason, v


def test_gold_can_carry_the_tests() -> None:
    assert grade("code", fence(ADD), ADD_TESTS).correct is True


def test_extract_program_prefers_last_python_block() -> None:
    text = "```bash\npip install x\n```\n```python\nA = 1\n```\n```python\nA = 2\n```"
    assert extract_program(text).strip() == "A = 2"
    assert extract_program("```\nB = 1\n```").strip() == "B = 1"
    assert extract_program("C = 3").strip() == "C = 3"
