"""What `confconsole demo --loop` prints at the end: the held-out figures of the confidence loop, the delegation
table and each step's wall time, read from the pipeline's step runs."""

from __future__ import annotations

import os
from typing import Any

from experiments.runs.lineage import step_stores
from experiments.runs.store import RunStore
from experiments.textsafe import inert


def step_seconds(manifest: dict[str, Any]) -> float | None:
    """A finished run's wall time (last start to finish; a resumed run counts its last attempt)."""
    if manifest.get("started") and manifest.get("finished"):
        return float(manifest["finished"]) - float(manifest["started"])
    return None


def loop_figures(pipeline: RunStore, home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The numbers the issue asks of the loop: held-out token coverage, calibration vs the majority baseline,
    AUROC, ECE, the delegation rows and step timings."""
    steps = {name: store for name, store in step_stores(pipeline, home) if store is not None}
    evaluation = (steps.get("eval") or _by_stage(steps, "evaluation"))
    delegation = (steps.get("delegate") or _by_stage(steps, "delegation"))
    summary = evaluation.manifest().get("summary", {}) if evaluation else {}
    chosen_on = summary.get("threshold_source")
    calib = steps.get("calib") or _open(chosen_on, home)
    tokens = summary.get("tokens") or {}
    n = summary.get("n") or 0
    with_token = int(tokens.get("confident", 0)) + int(tokens.get("uncertain", 0))
    return {
        "n": n, "with_token": with_token, "token_share": with_token / n if n else None, "tokens": tokens,
        "accuracy": summary.get("accuracy"), "calibration_accuracy": summary.get("calibration_accuracy"),
        "majority_baseline": summary.get("majority_baseline"), "auroc": summary.get("auroc"),
        "threshold": summary.get("threshold"), "threshold_source": chosen_on,
        "threshold_overlap": summary.get("threshold_overlap"),
        "threshold_rows": rows_of(calib) if calib else "", "tokens_at_threshold": summary.get("tokens_at_threshold"),
        "calibration_accuracy_at_threshold": summary.get("calibration_accuracy_at_threshold"),
        "ece": summary.get("ece"), "brier": summary.get("brier"),
        "performance": (delegation.manifest().get("summary", {}) if delegation else {}).get("performance", []),
        "timings": {name: step_seconds(store.manifest()) for name, store in steps.items()},
        "evaluation_run": evaluation.run_id if evaluation else "", "delegation_run": delegation.run_id if delegation
        else "",
    }


def rows_of(store: RunStore) -> str:
    """`arith rows 240-399`: the dataset rows a run read, from its spec."""
    import tomllib

    dataset = tomllib.loads(store.spec_text()).get("dataset") or {}
    offset, limit = int(dataset.get("offset") or 0), dataset.get("limit")
    rows = f"{offset}-{offset + int(limit) - 1}" if limit else f"{offset}-"
    return f"{dataset.get('source', '?')} rows {rows}"


def _open(run_id: str | None, home: str | os.PathLike[str] | None) -> RunStore | None:
    try:
        return RunStore.open(run_id, home) if run_id and run_id != "spec" else None
    except FileNotFoundError:
        return None


def _by_stage(steps: dict[str, RunStore], stage: str) -> RunStore | None:
    return next((s for s in steps.values() if s.manifest().get("stage") == stage), None)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def loop_text(figures: dict[str, Any]) -> str:
    n = figures["n"]
    baseline = f"(majority-token baseline {_pct(figures['majority_baseline'])})"
    lines = [
        f"\nheld-out answers: {n} (questions the SFT never saw)",
        f"confidence token present: {figures['with_token']}/{n} ({_pct(figures['token_share'])}) "
        f"{figures['tokens']}",
        f"accuracy of the small model: {_pct(figures['accuracy'])}",
        f"calibration accuracy of the written tokens: {_pct(figures['calibration_accuracy'])} {baseline}",
    ]
    if figures.get("threshold") is not None:
        where = figures.get("threshold_rows") or figures.get("threshold_source") or "the spec"
        apart = ", none of them held out" if figures.get("threshold_overlap") == 0 else ""
        lines.append(f"calibration accuracy at P(confident) >= {figures['threshold']:.3f} (t chosen on {where}"
                     f"{apart}): {_pct(figures['calibration_accuracy_at_threshold'])} {baseline} "
                     f"{figures['tokens_at_threshold']}")
    lines.append(f"AUROC of P(confident): {_num(figures['auroc'])} · ECE {_num(figures['ece'])} · "
                 f"Brier {_num(figures['brier'])}")
    rows = figures["performance"]
    if rows:
        lines += ["", "delegation (uncertain answers to the big model):"]
        lines.append(f"  {'variant':<48} {'accuracy':>9} {'delegated':>10} {'cost USD':>10}")
        for row in rows:
            cost = row.get("cost")
            lines.append(f"  {str(row.get('system', ''))[:48]:<48} {_pct(row.get('accuracy')):>9} "
                         f"{_pct(row.get('rate')):>10} "
                         f"{'-' if cost is None else f'{cost:.4f}':>10}")
    times = ", ".join(f"{name} {secs:.1f}s" for name, secs in figures["timings"].items() if secs is not None)
    lines += ["", f"step times: {times}"]
    return "\n".join(lines)


def print_loop_result(run_id: str, home: str | os.PathLike[str] | None = None) -> None:
    pipeline = RunStore.open(run_id, home)
    figures = loop_figures(pipeline, home)
    print(inert(loop_text(figures)))
    print(f"\nreport: confconsole report {run_id} --out report.html · browse: confconsole --home "
          f"{pipeline.dir.parent.parent}")


def step_times_line(stores: list[RunStore], total_s: float | None = None) -> str:
    """`confconsole demo`'s last line: each step's wall time (inference split into model load and generation)."""
    from experiments.runs.state import load_state

    parts = []
    for store in stores:
        manifest = store.manifest()
        seconds = step_seconds(manifest)
        if seconds is None:
            continue
        text = f"{manifest.get('stage', 'run')} {seconds:.1f}s"
        if manifest.get("stage") == "inference":
            state = load_state(store.events_path)
            load, tps = state.latest_metric("model_load_s"), state.latest_metric("tokens_per_s")
            tokens = state.latest_metric("generated_tokens")
            inner = [f"model load {load:.1f}s"] if load is not None else []
            if tps and tokens:
                inner.append(f"generation {tokens / tps:.1f}s, {int(tokens)} tokens at {tps:.1f} tokens/s")
            text += f" ({', '.join(inner)})" if inner else ""
        parts.append(text)
    line = "time per step: " + ", ".join(parts)
    return line + (f"; demo {total_s:.1f}s in all" if total_s is not None else "")
