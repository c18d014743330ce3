"""Every core CLI command through `experiments.cli.main` (and the console script's hand-off), on one small demo
chain shared by the module: the embedded model answers 2 arith questions; other runs use a local chat server."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from experiments.cli.main import main
from experiments.runs.store import RunStore
from tests.chat_server import ChatServer

pytestmark = pytest.mark.slow

VERDICT = json.dumps({"correct_answer": "13", "model_answer": "13", "reasoning": "same number", "correct": True})


@dataclass
class Demo:
    home: Path
    output: str
    runs: dict[str, RunStore]  # stage -> run
    server: ChatServer


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, embedded_model: str) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("cli") / "home"
    server = ChatServer(content=VERDICT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONFCONSOLE_HOME", str(home))  # `main --home` sets it for the process: keep it scoped
        code, output, err = cli("--home", str(home), "demo", "--limit", "2", "--max-tokens", "4",
                                "--chunk-size", "1", "--batch-size", "2")
        assert code == 0, output + err
        runs = {s.manifest()["stage"]: s for s in RunStore.list(home)}
        yield Demo(home, output, runs, server)
    server.close()


@pytest.fixture
def h(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CONFCONSOLE_HOME", str(demo.home))
    return str(demo.home)


def test_demo_runs_the_chain_and_says_where_to_look_next(demo: Demo) -> None:
    assert set(demo.runs) == {"pipeline", "inference", "grading", "tagging"}
    assert all(s.effective_status() == "done" for s in demo.runs.values())
    assert "== step inference: inference run" in demo.output and "== step tagging: tagging run" in demo.output
    steps = demo.runs["pipeline"].manifest()["steps"]
    assert [steps[name]["run_id"] for name in ("inference", "grading", "tagging")] == \
           [demo.runs[stage].run_id for stage in ("inference", "grading", "tagging")]
    assert "accuracy" in demo.output.lower() and "next: browse these runs" in demo.output
    assert "confidence tokens: <" in demo.output  # the mix the README promises
    assert len(demo.runs["tagging"].records()) == 2
    line = next(x for x in demo.output.splitlines() if x.startswith("time per step: "))
    for part in ("inference ", "model load ", "generation ", "grading ", "tagging ", "in all"):
        assert part in line, line
    assert {r["domain"] for r in demo.runs["grading"].records()} == {"arith"}  # its own name, graded as numbers
    assert " arith " in demo.output and "gsm8k" not in demo.output  # the accuracy table names it truly


def test_runs_and_show(demo: Demo, h: str) -> None:
    code, out, _ = cli("--home", h, "runs")
    assert code == 0 and all(s.run_id in out for s in demo.runs.values())
    code, out, _ = cli("runs", "--json", "--home", h)
    assert code == 0 and {r["status"] for r in json.loads(out)} == {"done"}
    run = demo.runs["tagging"].run_id
    code, out, _ = cli("--home", h, "show", run)
    assert code == 0 and re.search(rf"^run\s+{run}$", out, re.M) and re.search(r"^status\s+done$", out, re.M)
    code, out, _ = cli("--home", h, "show", run, "--json")
    assert code == 0 and json.loads(out)["manifest"]["id"] == run
    code, _, err = cli("--home", h, "show", "no-such-run")
    assert code == 2 and "no run 'no-such-run'" in err


def test_resume_of_a_finished_pipeline_makes_no_new_run(demo: Demo, h: str) -> None:
    store = demo.runs["pipeline"]
    before = {s.run_id for s in RunStore.list(Path(h))}
    code, out, _ = cli("--home", h, "resume", store.run_id, "--quiet")
    assert code == 0 and f"resumed {store.run_id}" in out
    manifest = store.manifest()
    assert manifest["status"] == "done" and manifest["resumed"] == 1
    assert {s.run_id for s in RunStore.list(Path(h))} == before  # every step found done by its manifest
    assert all(s["status"] == "done" for s in manifest["steps"].values())
    assert len(demo.runs["inference"].records()) == 2


def test_export_grade_tag_and_sft_data(demo: Demo, h: str, tmp_path: Path) -> None:
    code, out, _ = cli("--home", h, "export", demo.runs["grading"].run_id, "--out", str(tmp_path / "pred.json"))
    assert code == 0 and len(json.loads((tmp_path / "pred.json").read_text())) == 2
    code, out, _ = cli("--home", h, "grade", demo.runs["inference"].run_id, "--quiet")
    assert code == 0 and "launched grading-" in out and "done:" in out
    graded = next(s for s in RunStore.list(Path(h)) if s.manifest()["stage"] == "grading")
    code, out, _ = cli("--home", h, "tag", graded.run_id, "--style", "pipe", "--quiet")
    assert code == 0 and "tokens: " in out and "|" in out
    sft = tmp_path / "sft.jsonl"
    code, out, _ = cli("--home", h, "sft-data", demo.runs["tagging"].run_id, "--out", str(sft))
    assert code == 0 and len(sft.read_text().splitlines()) == 2 and json.loads(out)


def test_judge_then_agreement(demo: Demo, h: str) -> None:
    graded = demo.runs["grading"].run_id
    code, out, err = cli("--home", h, "judge", graded, "--base-url", demo.server.base_url, "--model", "m",
                         "--quiet", "--no-structured")
    assert code == 0, out + err
    assert "judge verdicts:" in out
    judged = next(s for s in RunStore.list(Path(h)) if s.manifest()["stage"] == "judging")
    assert all(r["judge_correct"] is True for r in judged.records())
    code, out, _ = cli("--home", h, "agreement", judged.run_id, "--json")
    assert code == 0 and json.loads(out)["n"] == 2


def spec_file(tmp_path: Path, server: ChatServer, limit: int) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(f'stage = "inference"\nmodel = "m"\nchunk_size = 1\n'
                    f'[dataset]\nsource = "arith"\nlimit = {limit}\n'
                    f'[backend]\nkind = "openai_compat"\noptions = {{ base_url = "{server.base_url}" }}\n')
    return path


def test_run_infer_and_cancel(demo: Demo, h: str, tmp_path: Path) -> None:
    code, out, _ = cli("--home", h, "run", str(spec_file(tmp_path, demo.server, 2)), "--quiet")
    assert code == 0 and "launched inference-" in out and "done: 2 records" in out
    code, out, _ = cli("--home", h, "infer", "--backend", "openai_compat", "--base-url", demo.server.base_url,
                       "--model", "m", "--limit", "3", "--quiet")
    assert code == 0 and "done: 3 records" in out
    slow = ChatServer(delay=2.0)
    try:
        code, out, _ = cli("--home", h, "run", str(spec_file(tmp_path, slow, 40)), "--detach")
        run_id = out.split()[-1]
        code, out, _ = cli("--home", h, "cancel", run_id)
        assert code == 0 and f"cancelled {run_id}" in out
        assert RunStore.open(run_id, h).effective_status() == "cancelled"
    finally:
        slow.close()


def test_datasets_and_grade_file(h: str, tmp_path: Path) -> None:
    code, out, _ = cli("datasets", "arith", "--limit", "1")
    assert code == 0 and "arith-test-000000" in out
    answers = tmp_path / "in.jsonl"
    answers.write_text(json.dumps({"domain": "gsm8k", "response": "#### 13", "gold": "13"}) + "\n"
                       + json.dumps({"domain": "gsm8k", "response": "#### 12", "gold": "13"}) + "\n")
    code, out, _ = cli("grade-file", str(answers), str(tmp_path / "out.jsonl"), "--workers", "1")
    assert code == 0 and "correct: 1/2" in out


def test_serve_stop_with_a_dead_pid() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    code, out, _ = cli("serve", "--stop", str(gone.pid))
    assert code == 0 and f"server {gone.pid} was not running" in out


def test_console_script_hands_commands_to_the_headless_cli(demo: Demo, h: str) -> None:
    from tui_app.entry import main as entry_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert entry_main(["--home", h, "runs"]) == 0
    assert demo.runs["inference"].run_id in out.getvalue()
