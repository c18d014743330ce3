"""API faults against a real local server through a fault-injecting proxy: 429 bursts with Retry-After, 500s, a
reply delayed past the timeout, a truncated body, a body that is not JSON, a dropped connection, the server
killed and restarted mid-run, a judge that answers prose. One pipeline (inference -> judging) over them: it
completes, every retry is counted per reason (events, manifest, Run screen), nothing is lost, and the permanent
faults (a 400, a 503 that outlasts the retries, a judge that never answers JSON) end their item with its reason,
not the run."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.runs.lineage import chain
from experiments.runs.state import load_state
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec
from experiments.views.runs import run_info
from tests.faults.proxy import PASS, Fault, FaultProxy
from tests.faults.scripted import arith_reply
from tests.faults.upstream import Upstream

ALWAYS_400 = "Tom has 17 apples"  # arith-test-000002: the server refuses it (permanent, not retried)
ALWAYS_503 = "8 boxes with 6 pens"  # arith-test-000003: unavailable every time (retries run out)
NEVER_JSON = "Anna had 20 stickers"  # arith-test-000000: its judge answers prose, re-asked, still prose
BY_NUMBER = {2: Fault("status", 429, {"Retry-After": "0.2"}), 3: Fault("status", 429, {"Retry-After": "0.2"}),
             4: Fault("status", 429, {"Retry-After": "0.2"}), 5: Fault("status", 500),
             6: Fault("delay", seconds=1.6), 7: Fault("truncate"), 8: Fault("cut_json"), 9: Fault("drop")}
SERVER_DOWN_AT = 11  # this request finds the server killed; it is started again on its port at once
OPTIONS = {"concurrency": 2, "timeout": 1.0, "max_retries": 6, "backoff_base": 0.05, "backoff_max": 0.4}


def prose(reply: dict[str, Any]) -> dict[str, Any]:
    reply["choices"][0]["message"]["content"] = "The answer looks right to me."
    return reply


class Script:
    """What the proxy does to a request: by its question (the permanent faults, the judge's), else by the number
    of the ordinary request it is (numbered apart, so which faults land does not depend on timing)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.judge_fault_done = False
        self.ordinary = 0
        self.lock = threading.Lock()

    def __call__(self, n: int, body: dict[str, Any]) -> Fault:
        user = next((m["content"] for m in body.get("messages", []) if m["role"] == "user"), "")
        if "reference answer" in user.lower():  # the judge
            if NEVER_JSON in user:
                return Fault("rewrite", rewrite=prose)
            with self.lock:
                first, self.judge_fault_done = not self.judge_fault_done, True
            return Fault("rewrite", rewrite=prose) if first else PASS  # prose once: re-asked, then fine
        if ALWAYS_400 in user:
            return Fault("status", 400)
        if ALWAYS_503 in user:
            return Fault("status", 503)
        with self.lock:
            self.ordinary += 1
            number = self.ordinary
        if number == SERVER_DOWN_AT:
            self.upstream.kill()
            threading.Thread(target=self.upstream.start, daemon=True).start()
            return PASS  # finds no server: the proxy hangs up, as the dead server would
        return BY_NUMBER.get(number, PASS)


@pytest.fixture
def proxied():  # noqa: ANN201
    upstream = Upstream()
    script = Script(upstream)
    proxy = FaultProxy(upstream.port, script)
    yield proxy, upstream
    proxy.close()
    upstream.close()


def test_api_faults_are_retried_counted_and_bounded(home: Path, proxied: tuple[FaultProxy, Upstream]) -> None:
    proxy, upstream = proxied
    backend = BackendSpec(kind="openai_compat", options={"base_url": proxy.base_url, **OPTIONS})
    spec = InferenceSpec(dataset=DatasetSpec(source="arith", limit=8), model="scripted", chunk_size=2,
                         sampling=SamplingSpec(max_tokens=8), backend=backend,
                         then=[{"stage": "judging", "model": "judge", "backend": backend.model_dump(),
                                "num_workers": 2, "parse_retries": 1, "structured_output": False}])
    pipeline = api.launch(spec, home)
    assert api.wait(pipeline, home, timeout=120) == "done", RunStore.open(pipeline, home).manifest().get("error")
    inference, judging = chain(pipeline, home)
    assert upstream.starts == 2, "the server was killed and started again mid-run"
    faults = proxy.faults()
    assert {"status 429", "status 500", "delay", "truncate", "cut_json", "drop", "rewrite"} <= set(faults)

    # inference: nothing lost, nothing mangled; the two permanent faults end their items, with their reasons
    records = inference.records()
    assert [r["example_id"][-1] for r in records] == ["0", "1", "4", "5", "6", "7"]
    assert all(r["response"] == arith_reply(r["prompt"]) for r in records)
    reasons = {e["item_id"]: (e["reason"], e["detail"]) for e in inference.errors()}
    assert set(reasons) == {"arith-test-000002", "arith-test-000003"}
    assert reasons["arith-test-000002"][0] == "generation_error" and "HTTP 400" in reasons["arith-test-000002"][1]
    assert "HTTP 503" in reasons["arith-test-000003"][1] and "gave up after 7 attempts" in reasons[
        "arith-test-000003"][1]

    # every retry counted per reason: in the manifest (all attempts), as events, in the Run screen's header
    retries = inference.manifest()["retries"]
    assert retries["http_429"] >= 3 and retries["http_500"] >= 1 and retries["http_503"] == 6
    assert retries["timeout"] >= 1 and retries["bad_body"] >= 1 and retries["connection"] >= 3, retries
    assert inference.manifest()["counts"]["retries"] == sum(retries.values())
    state = load_state(inference.events_path)
    assert state.latest_metric("http_retries") == sum(retries.values())
    warnings = [e.message for e in state.logs if e.level == "warning" and e.message.startswith("retrying")]
    assert any("http_429" in w for w in warnings) and any("connection" in w for w in warnings)
    header = dict(run_info(inference.manifest(), inference.effective_status()))
    assert header["retries"].startswith(f"{sum(retries.values())} (") and "http_503 6" in header["retries"]

    # judging: prose once is re-asked; prose twice is an invalid verdict with its reason, and the run goes on
    judged = {r["example_id"]: r for r in judging.records()}
    assert len(judged) == 6 and judging.effective_status() == "done"
    assert judged["arith-test-000000"]["judge_status"] == "invalid_json"
    assert [e["reason"] for e in judging.errors()] == ["invalid_verdict"]
    ok = [r for r in judged.values() if r["judge_status"] == "ok"]
    assert len(ok) == 5 and sorted(r["judge_attempts"] for r in ok) == [1, 1, 1, 1, 2]
