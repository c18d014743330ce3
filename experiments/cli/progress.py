"""Headless progress: follow a run's events and show a rich progress bar (rate, ETA), or plain lines off a tty."""

from __future__ import annotations

import sys
import time
from typing import Any

from experiments.runs.state import EventTail, RunState, format_eta
from experiments.runs.store import RunStore
from experiments.textsafe import inert

PLAIN_INTERVAL = 5.0


def follow(store: RunStore, quiet: bool = False, poll: float = 0.2, label: str = "") -> RunState:
    """Block until the run leaves running/queued, showing its progress; returns the final state. Off a terminal a
    progress line is printed only when the count changes (at most every PLAIN_INTERVAL seconds, and once at the
    end), so a log never repeats `0/20` while a model loads."""
    state = RunState()
    tail = EventTail(store.events_path)
    tty = sys.stdout.isatty() and not quiet
    if tty:
        return _follow_rich(store, state, tail, poll)
    prefix = f"   {label or store.run_id}"
    last_print, shown = 0.0, None

    def show(force: bool = False) -> None:
        nonlocal last_print, shown
        counts = (state.done, state.total)
        now = time.monotonic()
        if quiet or not state.total or counts == shown or (not force and now - last_print < PLAIN_INTERVAL):
            return
        last_print, shown = now, counts
        print(f"{prefix} {_progress_line(state)}", flush=True)

    while True:
        for event in tail.poll():
            state.consume(event)
            if event.type in ("log", "item_error", "status") and not quiet:
                print(f"{prefix} {inert(_describe(event))}", flush=True)
        show()
        if store.effective_status() not in ("running", "queued"):
            for event in tail.poll():
                state.consume(event)
            show(force=True)
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
    line = f"{state.done}/{state.total} {state.unit} ({pct})"
    if state.rate:
        line += f" · {state.rate:.2f} {state.unit}/s"
    if state.done < (state.total or 0):
        line += f" · ETA {format_eta(state.eta_seconds)}"
    return line


def _describe(event: Any) -> str:
    if event.type == "log":
        return f"{event.level}: {event.message.strip()}"
    if event.type == "item_error":
        return f"bad item {event.item_id}: {event.reason} {event.detail}".strip()
    if event.type == "status":
        return f"status {event.status} {event.message}".strip()
    return event.type
