"""Headless progress: follow a run's events and show a rich progress bar (rate, ETA), or plain lines off a tty."""

from __future__ import annotations

import sys
import time
from typing import Any

from experiments.runs.state import EventTail, RunState, format_eta
from experiments.runs.store import RunStore
from experiments.textsafe import inert

PLAIN_INTERVAL = 5.0


def follow(store: RunStore, quiet: bool = False, poll: float = 0.2) -> RunState:
    """Block until the run leaves running/queued, showing its progress; returns the final state."""
    state = RunState()
    tail = EventTail(store.events_path)
    tty = sys.stdout.isatty() and not quiet
    if tty:
        return _follow_rich(store, state, tail, poll)
    last_print = 0.0
    while True:
        for event in tail.poll():
            state.consume(event)
            if event.type in ("log", "item_error", "status") and not quiet:
                print(f"[{store.run_id}] {inert(_describe(event))}", flush=True)
        now = time.monotonic()
        if not quiet and now - last_print >= PLAIN_INTERVAL and state.total:
            last_print = now
            print(f"[{store.run_id}] {_progress_line(state)}", flush=True)
        if store.effective_status() not in ("running", "queued"):
            for event in tail.poll():
                state.consume(event)
            if not quiet and state.total:
                print(f"[{store.run_id}] {_progress_line(state)}", flush=True)
            return state
        time.sleep(poll)


def _follow_rich(store: RunStore, state: RunState, tail: EventTail, poll: float) -> RunState:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(store.manifest().get("stage", "run"), total=None, rate="")
        while True:
            for event in tail.poll():
                state.consume(event)
                if event.type in ("log", "item_error"):
                    progress.console.print(f"  {inert(_describe(event))}", markup=False, highlight=False)
            rate = f"{state.rate:.2f} {state.unit}/s" if state.rate else ""
            progress.update(task, completed=state.done, total=state.total, rate=rate)
            if store.effective_status() not in ("running", "queued"):
                for event in tail.poll():
                    state.consume(event)
                progress.update(task, completed=state.done, total=state.total)
                return state
            time.sleep(poll)


def _progress_line(state: RunState) -> str:
    pct = f"{state.fraction:.0%}" if state.fraction is not None else "?"
    rate = f"{state.rate:.2f} {state.unit}/s" if state.rate else "-"
    return f"{state.done}/{state.total} {state.unit} ({pct}) rate {rate} eta {format_eta(state.eta_seconds)}"


def _describe(event: Any) -> str:
    if event.type == "log":
        return f"{event.level}: {event.message.strip()}"
    if event.type == "item_error":
        return f"bad item {event.item_id}: {event.reason} {event.detail}".strip()
    if event.type == "status":
        return f"status {event.status} {event.message}".strip()
    return event.type
