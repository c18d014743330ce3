"""SFT through the worker layer, killed -9 at five seeded training steps in one run (counted as `loss` events; a
tiny random-weight Llama), resumed after each from its last checkpoint: the loss curve of an uninterrupted run,
no more steps trained twice than the manifest's bound (the steps since the last checkpoint) per kill, live metric
events, the summary and a bad row recorded. The first attempt is launched from the CLI."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from experiments.cli.main import main
from experiments.runs.events import MetricEvent, ProgressEvent
from experiments.runs.state import EventTail
from experiments.runs.store import RunStore
from experiments.stages.sft.spec import SFTSpec
from tests.faults.killer import reference_run, report, run_with_kills
from tests.sft_models import sft_tiny_llama

SEED = 1906
ARGS = ["--max-steps", "8", "--save-steps", "2", "--batch-size", "2", "--max-length", "48", "--lr", "0.01",
        "--val-fraction", "0.25", "--device", "cpu"]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, embedded_model: str) -> Path:
    return sft_tiny_llama(tmp_path_factory.mktemp("sft-tiny"), embedded_model)


def write_data(path: Path) -> Path:
    rows = [{"prompt": f"{a}+{a}?", "completion": f"{2 * a} <CN_MATH>" if a % 3 else f"{a} <UN_MATH>"}
            for a in range(12)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + json.dumps({"prompt": "orphan"}) + "\n")
    return path


def test_sft_survives_five_kills(fault_home: Path, tiny_model: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = write_data(tmp_path / "sft.jsonl")
    spec = SFTSpec(data_file=str(data), model=str(tiny_model), max_steps=8, save_steps=2, batch_size=2,
                   max_length=48, lr=0.01, val_fraction=0.25, device="cpu")
    reference = reference_run(spec, fault_home)

    def from_the_cli() -> str:
        capsys.readouterr()
        assert main(["--home", str(fault_home), "sft", "--data", str(data), "--model", str(tiny_model), *ARGS,
                     "--detach"]) == 0
        return capsys.readouterr().out.split("launched ")[1].split()[0]

    def steps_to_go(step: int, run_id: str) -> int:
        """Kill points are training steps (the loss event of step N): work redone after a kill is the steps
        since the last checkpoint, so a count of events would drift; a step number does not."""
        from backends.lora_trainer import last_complete_checkpoint

        done = last_complete_checkpoint(RunStore.open(run_id, fault_home).dir / "checkpoints") if run_id else None
        return step - (int(done.rsplit("-", 1)[1]) if done else 0)

    steps = sorted(random.Random(SEED).sample(range(1, 9), 5))  # of 8; a kill at step 8 lands while finishing
    run = run_with_kills(spec, fault_home, steps, SEED, launch=from_the_cli, kind="metric:loss",
                         to_go=steps_to_go)
    assert run.landed >= 5, run.kills
    faulted = RunStore.open(run.run_id, fault_home)
    want = {r["step"]: r for r in reference.records()}
    got = {r["step"]: r for r in faulted.records()}
    assert sorted(got) == sorted(want) == list(range(1, 9)), "the curve has every step, once"
    for step, row in want.items():
        assert got[step]["loss"] == pytest.approx(row["loss"], rel=1e-4), step
        assert got[step].get("val_loss") == pytest.approx(row.get("val_loss"), rel=1e-4), step

    events = EventTail(faulted.events_path).poll()
    logs = " ".join(getattr(e, "message", "") for e in events)
    assert "from scratch" in logs and "resuming from" in logs and "checkpoint-" in logs
    metrics = [e for e in events if isinstance(e, MetricEvent)]
    assert {"loss", "val_loss", "lr", "steps_per_s", "eta_s"} <= {m.name for m in metrics}
    assert all(m.step is not None for m in metrics)
    assert any(isinstance(e, ProgressEvent) and e.unit == "steps" and e.done == e.total == 8 for e in events)
    bound = faulted.manifest()["steps_in_flight"]
    trained = Counter(m.step for m in metrics if m.name == "loss")
    recomputed = sum(trained.values()) - len(trained)
    assert set(trained) == set(range(1, 9)) and recomputed <= run.landed * bound, (trained, bound)

    summary = faulted.manifest()["summary"]
    assert summary["base_model"] == str(tiny_model) and summary["tokens"] == ["<CN_MATH>", "<UN_MATH>"]
    assert summary["adapter_path"] == str(faulted.outputs_dir / "adapter") and summary["steps"] == 8
    assert summary["final_loss"] == pytest.approx(want[8]["loss"], rel=1e-4)
    assert summary["final_val_loss"] == pytest.approx(want[8]["val_loss"], rel=1e-4)
    assert (faulted.outputs_dir / "adapter" / "adapter_model.safetensors").stat().st_size < 50_000
    assert [e["reason"] for e in faulted.errors()] == ["bad_sft_row"]
    report("sft", run, len(want), len(set(want) - set(got)), recomputed_steps=recomputed, bound_per_kill=bound)
