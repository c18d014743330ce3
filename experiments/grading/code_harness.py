"""Runs inside the sandbox child (``python -I code_harness.py SPEC RESULT``); stdlib only.

Kept as a separate script so the candidate never shares an interpreter with the grader.
Network blocking here is best-effort (monkeypatched ``socket``); real isolation needs a container.
"""

import ast
import io
import json
import signal
import sys
import traceback


class _CaseTimeout(BaseException):
    """BaseException so a candidate's ``except Exception`` cannot swallow it."""


def _block_network() -> None:
    import socket

    def denied(*_a, **_k):
        raise OSError("network access is disabled while grading")

    class NoSocket(socket.socket):
        def __init__(self, *_a, **_k):
            denied()

    socket.socket = NoSocket
    for name in ("create_connection", "getaddrinfo", "socketpair", "fromfd", "create_server"):
        setattr(socket, name, denied)


def _on_alarm(_sig, _frame):
    raise _CaseTimeout()


def _short(s: object, n: int = 160) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 3] + "..."


def _where(exc: BaseException, filename: str, source: str) -> str:
    """Source line of the innermost frame in ``filename`` (the failing test line)."""
    lines = source.splitlines()
    found = ""
    for fr in traceback.extract_tb(exc.__traceback__):
        if fr.filename == filename and fr.lineno and fr.lineno <= len(lines):
            found = lines[fr.lineno - 1].strip()
    return found


def _describe(exc: BaseException) -> str:
    msg = str(exc)
    return type(exc).__name__ + (f": {_short(msg, 120)}" if msg else "")


def run_asserts(spec: dict) -> dict:
    """Program then test statements one at a time, so the first failing one can be named."""
    program, tests = spec["program"], spec["tests"]
    ns: dict = {"__name__": "solution"}
    try:
        exec(compile(program, "<solution>", "exec"), ns)
    except SystemExit:
        pass
    except BaseException as e:  # noqa: B036 - candidate code may raise anything
        return {"passed": False, "reason": f"solution failed to load: {_describe(e)}"}
    ns["__name__"] = "__main__"
    try:
        tree = ast.parse(tests, "<tests>")
    except SyntaxError as e:
        return {"passed": False, "reason": f"tests do not parse: {e}"}
    count = 0
    stmts = list(tree.body)
    entry = spec.get("entry_point")
    calls_check = sum(
        1 for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "check"
    )
    if entry and not calls_check and any(isinstance(s, ast.FunctionDef) and s.name == "check" for s in stmts):
        stmts.append(ast.parse(f"check({entry})").body[0])
    for stmt in stmts:
        code = compile(ast.Module(body=[stmt], type_ignores=[]), "<tests>", "exec")
        is_test = not isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
        count += is_test
        try:
            exec(code, ns)
        except SystemExit:
            continue
        except BaseException as e:  # noqa: B036
            seg = ast.get_source_segment(tests, stmt) or ast.unparse(stmt)
            line = _where(e, "<tests>", tests) or seg.splitlines()[0]
            kind = "failed" if isinstance(e, AssertionError) else f"raised {_describe(e)}"
            return {"passed": False, "reason": f"test {count} {kind}: {_short(line)}"}
    return {"passed": True, "reason": f"{count} tests passed"}


def _same_output(got: str, want: str) -> bool:
    a, b = got.split(), want.split()
    if a == b:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        try:
            if abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(y))):
                return False
        except ValueError:
            return False
    return True


def run_io(spec: dict) -> dict:
    """stdin/stdout cases: run the program once per case in a fresh namespace."""
    try:
        code = compile(spec["program"], "<solution>", "exec")
    except SyntaxError as e:
        return {"passed": False, "reason": f"solution does not compile: {e}"}
    real_in, real_out = sys.stdin, sys.stdout
    per_case = float(spec.get("case_time_limit") or 0)
    for i, case in enumerate(spec["cases"], 1):
        inp, want = str(case.get("input", "")), str(case.get("output", ""))
        buf = io.BytesIO()
        out_w = io.TextIOWrapper(buf, encoding="utf-8", write_through=True)
        sys.stdin = io.TextIOWrapper(io.BytesIO(inp.encode()), encoding="utf-8")
        sys.stdout = out_w
        err = None
        try:
            if per_case > 0:
                signal.setitimer(signal.ITIMER_REAL, per_case)
            exec(code, {"__name__": "__main__"})
        except SystemExit:
            pass
        except _CaseTimeout:
            err = "time limit exceeded"
        except BaseException as e:  # noqa: B036
            err = f"raised {_describe(e)}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                out_w.flush()
                out_w.detach()  # keep ``buf`` open when the wrapper is collected
            except Exception:
                pass
            sys.stdin, sys.stdout = real_in, real_out
        got = buf.getvalue().decode("utf-8", "replace")
        if err:
            return {"passed": False, "reason": f"test {i} {err} (input {_short(inp, 60)!r})"}
        if not _same_output(got, want):
            return {
                "passed": False,
                "reason": f"test {i} failed: input {_short(inp, 60)!r} expected {_short(want, 60)!r} "
                f"got {_short(got, 60)!r}",
            }
    return {"passed": True, "reason": f"{len(spec['cases'])} tests passed"}


def main() -> None:
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    signal.signal(signal.SIGALRM, _on_alarm)
    _block_network()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    result = run_io(spec) if spec.get("mode") == "io" else run_asserts(spec)
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
        f.flush()


if __name__ == "__main__":
    main()
