"""Launch: a form for any registered stage, generated from its spec; validates as you type, shows the spec.toml.

Fields, checks and TOML all come from `experiments.stages.form` (the stage's own spec model and the checks of
`api.launch`), so a stage added to the registry gets its form here with no UI code. "Clone with edits" starts
from an existing run's spec.toml. Launching runs `api.launch` in a thread worker, then opens the Run screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Header, Label, Select, Static

from experiments.stages import STAGES
from experiments.stages.form import FormState, describe_stage, evaluate, initial_values
from tui_app.screens.base import ConsoleScreen, PaletteCommand
from tui_app.widgets.spec_form import SpecForm

# Fields that name one earlier run -> the run-id prefix they accept ("" for any stage).
RUN_FIELDS = {"input_run": "", "oracle_run": "", "adapter": "sft-", "threshold_from": "evaluation-"}


class LaunchScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+s", "launch", "Launch", priority=True),
    ]

    def __init__(self, stage: str | None = None, data: dict[str, Any] | None = None,
                 source_run: str | None = None) -> None:
        super().__init__()
        self.stage = stage or next(iter(STAGES))
        self.data = data or {}
        self.source_run = source_run
        self.state: FormState | None = None
        self.launching = False
        self._pending = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="launch-bar"):
            yield Label("stage", id="stage-label")
            yield Select([(f"{s.name}: {s.help}", s.name) for s in STAGES.values()], value=self.stage,
                         allow_blank=False, id="stage-picker")
            yield Button("Launch (ctrl+s)", variant="primary", id="launch-button")
        with Horizontal(id="launch-body"):
            yield Vertical(id="form-holder")
            with Vertical(id="preview-pane"):
                yield Static("spec.toml", classes="pane-title")
                yield Static("", id="form-status", markup=False)
                with VerticalScroll(id="toml-scroll"):
                    yield Static("", id="toml", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = f"clone of {self.source_run}" if self.source_run else "new run"
        self.query_one("#launch-button", Button).can_focus = False  # ctrl+s launches; tab stays in the form
        await self.build_form(self.stage, self.data, report_unknown=True)
        self.focus_first_field()

    def focus_first_field(self) -> None:
        """Focus lands on the first field that needs input (a problem the form reports), else the first field;
        shift+tab goes back to the stage picker."""
        widget = self.form.first_needing_input(self.state.errors if self.state else {})
        if widget is not None:
            widget.focus()

    # -- the form -------------------------------------------------------------------------------------------
    @property
    def form(self) -> SpecForm:
        return self.query_one(SpecForm)

    async def build_form(self, stage: str, data: dict[str, Any], report_unknown: bool = False) -> None:
        """(Re)build the form for `stage`, prefilled from `data` where it has the field."""
        self.stage = stage
        descriptors = describe_stage(stage)
        values, unknown = initial_values(descriptors, data)
        if unknown and report_unknown:
            self.notify(f"left out keys the {stage} spec no longer has: {', '.join(unknown)}", severity="warning")
        holder = self.query_one("#form-holder")
        await holder.remove_children()
        await holder.mount(SpecForm(descriptors, values, suggestions=self._run_suggestions()))
        self.revalidate()

    def _run_suggestions(self) -> dict[str, list[str]]:
        """Completions for the fields that name one run, newest first: any run, or only the stage the field
        reads (a run id starts with its stage)."""
        runs = self.console.runs_dir
        ids = sorted((p.name for p in runs.iterdir() if p.is_dir()), reverse=True) if runs.is_dir() else []
        return {field: [i for i in ids if i.startswith(prefix)] for field, prefix in RUN_FIELDS.items()}

    @on(Select.Changed, "#stage-picker")
    async def _stage_picked(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.stage:
            carried = self.state.data if self.state else {}  # title, model, ... carry over where they fit
            await self.build_form(event.value, carried)
            self.focus_first_field()

    @on(SpecForm.Changed)
    def _form_changed(self, event: SpecForm.Changed) -> None:
        """Edits that arrive together (a form being built posts one per field) are validated once."""
        event.stop()
        if not self._pending:
            self._pending = True
            self.call_after_refresh(self.revalidate)

    def revalidate(self) -> None:
        self._pending = False
        forms = self.query(SpecForm)
        if not forms:
            return
        form = forms.first()
        state = evaluate(self.stage, form.values(), form.descriptors, self.console.home)
        self.state = state
        form.show_errors(state.errors)
        self.query_one("#toml", Static).update(state.toml or "(the spec is not valid yet)")
        self.query_one("#form-status", Static).update(status_text(state))

    # -- launching ------------------------------------------------------------------------------------------
    def action_launch(self) -> None:
        self.revalidate()
        state = self.state
        if state is None or not state.ok or state.spec is None:
            self.notify(state.message if state else "the form is not ready", title="cannot launch",
                        severity="error")
            return
        if self.launching:
            return
        self.launching = True
        self.notify(f"launching {self.stage}…", timeout=3)
        self._launch(state.spec)

    @on(Button.Pressed, "#launch-button")
    def _launch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_launch()

    @work(thread=True, exit_on_error=False, name="launch run", group="jobs")
    def _launch(self, spec: Any) -> None:
        from experiments import api

        try:
            run_id = api.launch(spec, self.console.home)
        finally:
            self.launching = False
        self.app.call_from_thread(self.launched, run_id)

    def launched(self, run_id: str) -> None:
        from experiments.runs.store import RunStore
        from tui_app.screens.run import RunScreen

        self.notify(f"launched {run_id}", title="launch")
        if self.is_current:
            self.app.switch_screen(RunScreen(RunStore.open(run_id, self.console.home)))

    def action_back(self) -> None:
        self.app.pop_screen()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            ("Launch this run", "Validate the form and start the run", self.action_launch),
            *[(f"Form for {name}", f"Switch the launch form to the {name} stage",
               lambda n=name: self._pick(n)) for name in STAGES],
        ]

    def _pick(self, stage: str) -> None:
        self.query_one("#stage-picker", Select).value = stage


def status_text(state: FormState) -> Text:
    """Above the TOML: ready, or each problem on its own line (field: message)."""
    text = Text()
    if state.ok:
        text.append("✓ valid: ctrl+s launches it", style="green")
    else:
        for key, message in state.errors.items():
            text.append(f"✗ {key or 'spec'}: {message}\n", style="red")
    if state.warning:
        text.append(f"\n⚠ {state.warning}", style="yellow")
    return text
