"""What every console screen shares: worker failures as notifications, run actions, palette commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui_app.screens.dialogs import ConfirmScreen

if TYPE_CHECKING:
    from tui_app.app import ConfConsoleApp

PaletteCommand = tuple[str, str, Callable[[], object]]
CANCELLABLE = ("running", "queued", "interrupted")  # cancelling an interrupted run marks it cancelled


def contextual(key: str, action: str, description: str, **kwargs: Any) -> list[Binding]:
    """A key that applies to some runs only: in the footer while it applies (`unavailable` says None); pressed
    when it does not, the second binding says why in one line (no key is ever silent)."""
    return [Binding(key, action, description, **kwargs),
            Binding(key, f"explain('{action}')", description, show=False)]


class ConsoleScreen(Screen):
    """Base screen. Workers started here are thread workers with `exit_on_error=False`: a failure (a run that
    cannot be resumed, an unreadable file) becomes an error notification, handled in one place below.

    Every key answers: a `contextual` key that does not apply says why (`unavailable`) instead of doing nothing."""

    def unavailable(self, action: str) -> str | None:
        """None when `action` applies here and now; else one line saying why not and what would work."""
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "explain":
            return True
        return self.unavailable(action) is None

    def action_explain(self, action: str) -> None:
        self.notify(self.unavailable(action) or f"{action} is available again: press the key once more.",
                    severity="warning", timeout=6)

    @property
    def console(self) -> ConfConsoleApp:
        return self.app  # type: ignore[return-value]

    def palette_commands(self) -> list[PaletteCommand]:
        """Command-palette entries for this screen (the app adds them to its system commands)."""
        return []

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(str(error) or type(error).__name__, title=f"{event.worker.name} failed",
                        severity="error", timeout=10)

    def after_job(self) -> None:
        """Called (UI thread) after cancel/resume went through; screens refresh themselves here."""

    # -- run actions shared by the Runs and Run screens ---------------------------------------------------
    def cancel_run(self, run_id: str | None, status: str) -> None:
        if not run_id:
            self.notify("No run selected.", severity="warning")
            return
        if status not in CANCELLABLE:
            self.notify(f"{run_id} is {status}: nothing to cancel.", severity="warning")
            return
        message = f"Cancel run {run_id}?\n\nIts workers get SIGTERM; the chunk in flight is dropped. " \
                  "Resume it later with r."
        self.app.push_screen(ConfirmScreen(message, yes="Cancel run"),
                             lambda ok: self._job("cancel", run_id) if ok else None)

    def resume_run(self, run_id: str | None, status: str, force: bool = False) -> None:
        if not run_id:
            self.notify("No run selected.", severity="warning")
            return
        if status == "done" and not force:  # resuming would re-finalize it and launch its next stage again
            self.notify(f"{run_id} is done; R recomputes it from scratch.", severity="warning")
            return
        if not force:
            self._job("resume", run_id)
            return
        message = f"Force-resume run {run_id}?\n\nThis deletes its finished chunks and bad-item list, " \
                  "then recomputes everything."
        self.app.push_screen(ConfirmScreen(message, yes="Force resume"),
                             lambda ok: self._job("force-resume", run_id) if ok else None)

    @work(thread=True, exit_on_error=False, name="run action", group="jobs")
    def _job(self, action: str, run_id: str) -> None:
        from experiments import api

        home = self.console.home
        self.app.call_from_thread(self.notify, f"{action}: {run_id}…", timeout=3)
        if action == "cancel":
            api.cancel(run_id, home)
            done = f"cancelled {run_id}"
        else:
            api.resume(run_id, home, force=action == "force-resume")
            done = f"{'force-' if action == 'force-resume' else ''}resumed {run_id}"
        self.app.call_from_thread(self.notify, done, title=action)
        if self.is_attached:
            self.app.call_from_thread(self.after_job)


class PollingScreen(ConsoleScreen):
    """A screen over one run's files: `read()` runs in a thread worker on the app's poll interval (one read at a
    time; a slow disk skips ticks), then `apply(*result)` on the UI thread while the screen is still shown."""

    _poller: Worker | None = None

    def start_polling(self) -> None:
        self.poll()
        if self.console.poll_interval:
            self.set_interval(self.console.poll_interval, self.poll)

    def poll(self) -> None:
        if self._poller is not None and self._poller.is_running:
            return
        self._poller = self._read()

    @work(thread=True, exit_on_error=False, name="read run", group="run-poll")
    def _read(self) -> None:
        result = self.read()
        self.app.call_from_thread(self._apply_read, result)

    def _apply_read(self, result: tuple[Any, ...]) -> None:
        if self.is_attached:  # popped while a worker was reading
            self.apply(*result)

    def read(self) -> tuple[Any, ...]:
        """File reads (worker thread); the tuple is handed to `apply`."""
        return ()

    def apply(self, *result: Any) -> None:
        """Render what `read` returned (UI thread)."""
