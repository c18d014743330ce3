"""The command line as a newcomer meets it: every option documented, stage flags generated from the specs, the
grouped `--help`, old names still working, the README's command list equal to `--help`, text output for people.
No model runs here: parsing, spec building and fabricated run folders only."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import threading
import time
from pathlib import Path

import pytest

from experiments.cli.commands import GROUPS, RENAMED, canonical, command_rows, walk
from experiments.cli.main import build_parser, main, parse
from experiments.stages import STAGES, parse_spec
from experiments.stages.form import describe_stage, leaves

ROOT = Path(__file__).resolve().parent.parent


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_every_option_and_argument_has_help_text() -> None:
    missing = []
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS or not action.help.strip():
                missing.append(f"confconsole {' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help text:\n" + "\n".join(missing)


def test_every_spec_field_has_a_description() -> None:
    """Flags and the Launch form both show these: each field is described once, in its spec."""
    bare = [f"{stage}.{d.key}" for stage in STAGES for d in leaves(describe_stage(stage)) if not d.help]
    assert not bare, bare


def test_stage_commands_cover_their_spec() -> None:
    """Each stage command offers a flag (or a positional) for every field of its spec but those it says it
    leaves out, and no default is declared twice: flags default to "not given"."""
    commands = {"inference": ("infer",), "grading": ("grade",), "judging": ("judge",), "tagging": ("tag",),
                "evaluation": ("evaluate",), "delegation": ("delegate",), "guided": ("guided", "run"),
                "sft": ("sft",), "curation": ("curate",)}
    parsers = dict(walk(build_parser()))
    for stage, path in commands.items():
        spec_args = parsers[path].get_default("spec_args")
        covered = {".".join(p) for p in spec_args.fields.values()}
        left_out = {d.key for d in leaves(describe_stage(stage))} - covered
        assert left_out <= {"group", "input_run", "runs", "files"}, (stage, left_out)
        for action in parsers[path]._actions:
            if action.dest.startswith("spec:"):
                assert action.default is argparse.SUPPRESS, (stage, action.dest)


def test_grouped_help_lists_every_command_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: confconsole") and "main(argv)" not in text and "registry" not in text
    for title in GROUPS.values():
        assert f"\n{title}:\n" in text
    rows = list(command_rows(build_parser()))
    names = [name for _, name, _ in rows]
    assert len(names) == len(set(names)) and all(help_text for _, _, help_text in rows)
    for old in RENAMED:
        assert not re.search(rf"^  {re.escape(old)}\s", text, re.M), f"old name {old} listed as a command"
    assert "examples:" in text and "Old names still work" in text


def readme_commands() -> set[str]:
    """Commands named in the README's "Headless commands" section: each line of its bash blocks that starts with
    `confconsole`, and each `| alternative` on such a line (`runs [--json] | show RUN`)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Headless commands", 1)[1].split("\n## ", 1)[0]
    listed = {name.split(" (")[0] for _, name, _ in command_rows(build_parser())}
    found = set()
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if not line.startswith("confconsole"):
                continue
            for part in line.split("#", 1)[0].split(" | "):
                if part.strip() == "confconsole":
                    continue  # the console itself
                words = re.match(r"\s*(?:confconsole\s+)?([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?", part)
                if words:
                    two = f"{words.group(1)} {words.group(2)}"
                    found.add(two if two in listed else words.group(1))
    return found


def test_readme_command_list_matches_help() -> None:
    listed = {name.split(" (")[0] for _, name, _ in command_rows(build_parser())}
    named = readme_commands()
    assert named - listed == set(), f"README names commands --help does not list: {named - listed}"
    assert listed - named == set(), f"--help lists commands the README does not name: {listed - named}"


@pytest.mark.parametrize("old, new", [
    (["guide", "--prompt", "hi"], ["guided", "prompt", "--prompt", "hi"]),
    (["--home", "/h", "guided-stats", "R"], ["--home", "/h", "guided", "stats", "R"]),
    (["guided-export", "R"], ["export", "--format", "guided", "R"]),
    (["calibration-export", "R", "--out", "d"], ["export", "--format", "calibration", "R", "--out", "d"]),
    (["passrates", "R1", "R2"], ["curate", "passrates", "R1", "R2"]),
    (["filter", "--weak", "A", "--strong", "B"], ["curate", "filter", "--weak", "A", "--strong", "B"]),
    (["guided", "--limit", "3"], ["guided", "run", "--limit", "3"]),
    (["guided", "prompt", "--prompt", "x"], ["guided", "prompt", "--prompt", "x"]),
])
def test_old_names_are_rewritten(old: list[str], new: list[str]) -> None:
    argv, note = canonical(old, {"guided": {"run", "prompt", "stats"}})
    assert argv == new
    assert bool(note) == (old != new) and (not note or "works for a while" in note)


def test_old_commands_still_parse() -> None:
    for argv in (["guide", "--prompt", "x"], ["passrates", "R"], ["critique", "M"], ["sample", "a.parquet"],
                 ["grade-file", "in.jsonl", "out.jsonl"], ["sft-data", "T", "--out", "x.jsonl"],
                 ["calibration-export", "R", "--out", "d", "--formats", "csv"], ["guided", "--base", "b"]):
        with contextlib.redirect_stderr(io.StringIO()):
            _, args = parse(argv)
        assert getattr(args, "func", None) is not None, argv


def built(*argv: str) -> object:
    _, args = parse(list(argv))
    data = args.spec_args.build(args)
    return parse_spec(data)


def test_flags_build_the_spec_with_its_own_defaults() -> None:
    spec = built("infer", "--dataset", "arith", "--limit", "3", "--n", "2", "--base-url", "http://127.0.0.1:9/v1",
                 "--backend", "openai_compat", "--grade", "--columns", "question=q", "--gpus", "0", "1")
    assert (spec.dataset.source, spec.dataset.limit, spec.sampling.n) == ("arith", 3, 2)
    assert spec.backend.options == {"base_url": "http://127.0.0.1:9/v1"} and spec.gpus == [0, 1]
    assert spec.dataset.columns == {"question": "q"} and spec.then == [{"stage": "grading"}]
    assert spec.sampling.max_tokens == type(spec.sampling)().max_tokens  # untouched: the spec's default
    judge = built("judge", "R", "--base-url", "http://127.0.0.1:9/v1", "--workers", "3", "--no-structured",
                  "--price", "1", "2")
    assert judge.backend.kind == "openai_compat"  # one flag in a section keeps the spec's default for it
    assert (judge.num_workers, judge.structured_output, judge.prices) == (3, False, {"smollm2-135m": [1.0, 2.0]})
    delegate = built("delegate", "E", "--oracle-model", "big", "--price=big=1,2", "--max-tokens", "64", "--local")
    assert delegate.prices == {"big": [1.0, 2.0]} and delegate.oracle_sampling.max_tokens == 64
    assert (delegate.oracle_backend.kind, delegate.oracle_backend.server) == ("openai_compat", "local")
    curate = built("curate", "filter", "--weak", "A", "--strong", "B", "--low-thresh", "0.2")
    assert (curate.action, curate.weak_runs, curate.low_thresh) == ("filter", ["A"], 0.2)


def test_a_bad_value_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli("infer", "--limit", "0", "--detach")
    assert code == 2 and "dataset.limit" in err and "greater than or equal to 1" in err
    with pytest.raises(SystemExit):
        main(["infer", "--temperature", "warm"])
    assert "invalid float value: 'warm'" in capsys.readouterr().err


def test_show_and_runs_print_text_for_people(tmp_path: Path) -> None:
    from tests.tui_fixtures import make_home

    home = str(make_home(tmp_path / "home"))
    code, out, _ = cli("--home", home, "show", "grading-20260528-202740-bbbb")
    assert code == 0 and not any(line.lstrip().startswith("{") for line in out.splitlines())
    assert re.search(r"^statuses\s+no_answer 2 · ok 4$", out.replace("  statuses", "statuses"), re.M)
    assert re.search(r"smollm2-135m\s+gsm8k\s+6\s+6\s+2\s+33\.3%", out)
    code, out, _ = cli("--home", home, "show", "inference-20260528-202640-aaaa")
    assert "read by" in out and "grading-20260528-202740-bbbb" in out
    code, out, _ = cli("--home", home, "show", "grading-20260528-202740-bbbb", "--json")
    assert json.loads(out)["manifest"]["summary"]["records"] == 6
    code, out, _ = cli("--home", home, "runs")
    header, rule, *rows = out.splitlines()
    assert header.split()[:4] == ["id", "stage", "status", "progress"] and len(rows) == 5
    start = header.index("stage")
    assert all(row[start:].split()[0] in ("inference", "grading", "tagging") for row in rows)  # aligned columns


def test_progress_prints_a_line_only_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli import progress
    from experiments.runs.emit import Emitter
    from experiments.runs.store import RunStore

    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)
    store = RunStore.create('stage = "inference"\n', "inference", tmp_path, run_id="inference-x")
    store.update_manifest(status="running", pids=[])
    emit = Emitter(store.events_path, store.run_id)

    def work() -> None:
        for done in (0, 0, 0, 8, 8, 16, 16, 20):
            emit.progress(done, 20, unit="samples", force=True)
            time.sleep(0.25)
        store.update_manifest(status="done")

    writer = threading.Thread(target=work)
    writer.start()
    progress.follow(store, poll=0.05, label="inference")
    writer.join()
    lines = [line for line in capsys.readouterr().out.splitlines() if "/20 samples" in line]
    counts = [re.search(r"(\d+)/20", line).group(1) for line in lines]
    assert counts == sorted(set(counts), key=counts.index) and counts[-1] == "20", lines


def test_tab_completion_answers_from_the_parser() -> None:
    """argcomplete through the console script: commands and generated flags complete."""
    import os
    import subprocess
    import sys

    def complete(line: str) -> str:
        env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": " ", "COMP_LINE": line,
               "COMP_POINT": str(len(line)), "PYTHONPATH": str(ROOT)}
        script = f'"{sys.executable}" -m tui_app.entry 8>&1 9>/dev/null'  # argcomplete answers on fd 8
        done = subprocess.run(["bash", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        return done.stdout

    assert complete("confconsole gu").split() == ["guided"]
    assert "--max-tokens" in complete("confconsole infer --max-t").split()
    code, out, _ = cli("completion", "bash")
    assert code == 0 and "confconsole" in out
