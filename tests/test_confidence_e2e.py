"""End to end on this machine: tag a demo run (embedded model on arith: a mix of right and wrong) -> SFT the
embedded model (LoRA, a few minutes) -> evaluate with the adapter -> delegate to a local vLLM server -> the
tables in the TUI (Pilot) and the CLI. Skipped until the `sft` stage is registered (it lands from its branch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.demo import demo_spec
from experiments.runs.lineage import chain
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages import STAGES, parse_spec
from experiments.stages.evaluation.spec import EvaluationSpec

pytestmark = [pytest.mark.slow, pytest.mark.vllm,
              pytest.mark.skipif("sft" not in STAGES, reason="the sft stage is not registered on this branch yet")]

SFT_STEPS = 60  # a few minutes on 2 CPU cores


def finished(run_id: str, home: Path, timeout: float) -> RunStore:
    store = RunStore.open(run_id, home)
    status = api.wait(run_id, home, timeout=timeout)
    assert status == "done", (status, store.manifest().get("error"), store.log_path.read_text()[-3000:])
    return store


def tagged_demo(home: Path) -> RunStore:
    run_id = api.launch(demo_spec(limit=24, max_tokens=48, batch_size=8), home)
    finished(run_id, home, 900)
    tagging = chain(run_id, home)[-1]
    tokens = tagging.manifest()["summary"]["tokens"]
    assert tokens.get("<CN_MATH>") and tokens.get("<UN_MATH>"), f"no mix of right and wrong: {tokens}"
    return tagging


async def calibration_tables(home: Path, run_id: str) -> dict[str, list[Any]]:
    from textual.widgets import DataTable

    from tests.tui_fixtures import settle, wait_for
    from tui_app.app import make_app
    from tui_app.screens.calibration import CalibrationScreen

    app = make_app(home=home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        app.push_screen(CalibrationScreen(RunStore.open(run_id, home)))
        await wait_for(pilot, lambda: isinstance(app.screen, CalibrationScreen) and app.screen.view is not None,
                       timeout=30)
        await settle(pilot)
        return {t.id[len("table-"):]: [t.get_row_at(i) for i in range(t.row_count)]
                for t in app.screen.query(DataTable)}


@pytest.mark.timeout(3600)
async def test_tag_sft_evaluate_delegate_tables(home: Path, vllm_server: Any, embedded_model: str,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments.cli.main import main

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # workers: one torch thread each (see tests/test_evaluation.py)

    tagging = tagged_demo(home)
    # a higher learning rate than the reference's 5e-5: a few minutes of CPU must teach the new tokens
    sft_spec = parse_spec({"stage": "sft", "input_runs": [tagging.run_id], "model": "smollm2-135m", "epochs": 10,
                           "max_steps": SFT_STEPS, "lr": 1e-3, "batch_size": 4, "max_length": 256})
    sft = finished(api.launch(sft_spec, home), home, 1800)
    assert Path(sft.manifest()["summary"]["adapter_path"]).is_dir()

    # the adapter named by its sft run
    spec = EvaluationSpec(dataset=DatasetSpec(source="arith", limit=12, offset=24), adapter=sft.run_id,
                          backend=BackendSpec(options={"batch_size": 6}), sampling=SamplingSpec(max_tokens=48),
                          chunk_size=6)
    evaluation = finished(api.launch(spec, home), home, 600)
    summary = evaluation.manifest()["summary"]
    with_token = summary["tokens"]["confident"] + summary["tokens"]["uncertain"]
    with capsys.disabled():  # the note's figure: the share of answers that now end with a token
        print(f"\nafter {SFT_STEPS} SFT steps, {with_token}/{summary['n']} answers end with a confidence token; "
              f"tokens {summary['tokens']}, accuracy {summary['accuracy']:.2f}, calibration accuracy "
              f"{summary['calibration_accuracy']:.2f}, AUROC {summary['auroc']}, ECE {summary['ece']}")
    assert with_token > 0, "the trained model never wrote a confidence token"
    assert summary["scored"] == summary["n"]  # P(confident) for every answer (scoring pass with the adapter)

    assert main(["--home", str(home), "delegate", evaluation.run_id, "--oracle-model", vllm_server.model,
                 "--base-url", vllm_server.base_url, "--max-tokens", "48", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Hand-off breakdown" in printed and "final answers" in printed and "Performance" in printed
    delegation = RunStore.open("delegation-", home)
    report = delegation.manifest()["summary"]
    assert report["handoff"][-1]["total"] == summary["n"]
    assert report["oracle_answers"]["asked"] == summary["n"]  # scope "all": every question, once

    tables = await calibration_tables(home, delegation.run_id)
    assert {"accuracy_by_domain", "tokens", "metrics", "reliability", "performance", "handoff", "sweep"} <= set(tables)
    assert tables["handoff"][-1][:4] == ["overall", "final answers", str(report["handoff"][-1]["correct"]),
                                         str(summary["n"])]
