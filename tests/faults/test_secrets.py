"""Secrets and files. A recognisable fake key (and fake AWS credentials) in the environment; every stage that
takes one runs with it (inference and judging over HTTP, delegation to an HTTP oracle, judging on Bedrock; guided
over HTTP in test_kill_guided); the servers receive it, and nothing under the run folders, in the CLI's output or
in the exports holds it. Run folders are 0700 and what a worker writes is user-only. A spec refuses a literal key,
naming `api_key_env`. Code-grading programs see no API key in their environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from experiments import api
from experiments.cli.main import main
from experiments.datasets.base import DatasetSpec
from experiments.runs.lineage import chain
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec, SpecError
from experiments.stages import parse_spec
from experiments.stages.evaluation.spec import EvaluationSpec
from experiments.stages.inference.spec import InferenceSpec
from tests.calibration_fixtures import reference_records, write_run
from tests.chat_server import ChatServer
from tests.faults.leaks import FAKE_KEY, KEY_ENV, assert_no_key
from tests.faults.proxy import FaultProxy
from tests.faults.scripted import any_reply

AWS_SECRET = "aws-faults-CANARY-SECRET-0b9c8d7e6f5a4b3c2d1e"
AWS_KEY_ID = "AKIAFAULTSCANARY0001"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """The fake keys in the environment (workers inherit it), a scripted server behind a recording proxy."""
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    server = ChatServer(reply=any_reply)
    proxy = FaultProxy(server.server.server_address[1])
    yield proxy
    proxy.close()
    server.close()


def http(proxy: FaultProxy) -> dict:
    return {"kind": "openai_compat", "options": {"base_url": proxy.base_url, "api_key_env": KEY_ENV}}


def test_keys_are_used_but_never_written(home: Path, keyed: FaultProxy, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("boto3")
    from tests.test_bedrock import MODEL, FakeConverse

    bedrock = FakeConverse()
    try:
        backend = BackendSpec(**http(keyed))
        chained = InferenceSpec(dataset=DatasetSpec(source="arith", limit=3), model="scripted", backend=backend,
                                sampling=SamplingSpec(max_tokens=8), chunk_size=2,
                                then=[{"stage": "judging", "model": "judge", "backend": http(keyed),
                                       "structured_output": False}])
        small, _ = reference_records()
        evaluation = write_run(home, "evaluation-20260101-000000-keys", "evaluation", EvaluationSpec(model="slm"),
                               small[343:349])
        delegation = api.launch({"stage": "delegation", "input_run": evaluation.run_id, "oracle_model": "big",
                                 "oracle_backend": http(keyed), "scope": "delegated", "grade_workers": 1}, home)
        pipeline = api.launch(chained, home)
        assert api.wait(pipeline, home, timeout=120) == "done"
        inference, judging = chain(pipeline, home)
        on_bedrock = api.launch({"stage": "judging", "input_run": inference.run_id, "model": MODEL,
                                 "structured_output": False, "backend": {"kind": "bedrock", "options": {
                                     "endpoint_url": bedrock.url, "region": "us-west-2"}}}, home)
        assert api.wait(delegation, home, timeout=120) == "done"
        assert api.wait(on_bedrock, home, timeout=120) == "done"
    finally:
        bedrock.close()
    assert {s.auth for s in keyed.seen} == {f"Bearer {FAKE_KEY}"} and len(keyed.seen) >= 3 + 3 + 4
    assert bedrock.auth and all(AWS_KEY_ID in a for a in bedrock.auth), "signed with the environment's keys"
    assert RunStore.open(delegation, home).manifest()["summary"]["oracle_answers"]["asked"] == 4

    exports = tmp_path / "exports"
    for run in (inference.run_id, judging.run_id, on_bedrock):
        assert main(["--home", str(home), "export", run, "--out", str(exports / f"{run}.json")]) == 0
        assert main(["--home", str(home), "show", run]) == 0
    assert main(["--home", str(home), "calibration-export", delegation, "--out", str(exports / "cal")]) == 0
    printed = capsys.readouterr()
    assert FAKE_KEY not in printed.out + printed.err and AWS_SECRET not in printed.out + printed.err
    scanned = assert_no_key(home, exports) + assert_no_key(home, exports, key=AWS_SECRET)
    assert scanned > 40

    runs = [RunStore.open(r, home) for r in (pipeline, inference.run_id, judging.run_id, delegation, on_bedrock)]
    for store in runs:  # run folders user-only; everything a worker wrote user-only too
        assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700, store.dir
        for path in store.dir.rglob("*"):
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))


@pytest.mark.parametrize("options", [{"api_key": FAKE_KEY}, {"api_key_env": FAKE_KEY},
                                     {"extra_body": {"headers": {"Authorization": f"Bearer {FAKE_KEY}"}}},
                                     {"base_url": "http://127.0.0.1:1/v1", "organization": FAKE_KEY}])
def test_a_literal_key_in_a_spec_is_refused_naming_api_key_env(options: dict, home: Path) -> None:
    spec = {"stage": "inference", "model": "m", "backend": {"kind": "openai_compat", "options": options}}
    with pytest.raises(SpecError, match="api_key_env") as refused:
        parse_spec(spec)
    assert FAKE_KEY not in str(refused.value), "the refusal does not echo the key"
    with pytest.raises(SpecError, match="api_key_env"):
        api.launch(spec, home)
    assert not any((home / "runs").glob("*")), "nothing was created, let alone written"


def test_code_grading_programs_get_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments.grading import GradeItem, GradingPool

    for name in (KEY_ENV, "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, FAKE_KEY)
    body = f"import os\ndef leaked():\n    return sorted(k for k, v in os.environ.items() if v == {FAKE_KEY!r})\n"
    program = f"```python\n{body}```"
    with GradingPool(workers=1, timeout=20) as pool:
        [verdict] = pool.grade_all([GradeItem("code", program, "assert leaked() == []")])
    assert verdict.status == "ok" and verdict.correct is True, verdict
    assert os.environ[KEY_ENV] == FAKE_KEY  # it was there to leak
