"""Modal dialogs: a yes/no confirmation and the `?` help listing the bindings of the screen below."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (y, or the Yes button) or False (n, escape, the No button)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
        Binding("question_mark", "keys", "Keys", show=False),
    ]

    def __init__(self, message: str, yes: str = "Yes") -> None:
        super().__init__()
        self.message = message
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.message, id="confirm-message", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_keys(self) -> None:
        self.notify(f"y: {self.yes}   n or escape: no", timeout=4)


def binding_rows(screen: Screen) -> list[tuple[str, str]]:
    """(key, description) for the bindings active on `screen`: its own first, then the app's."""
    app = screen.app
    own = {binding.key for binding in Binding.make_bindings(type(screen).BINDINGS)}
    rows: list[tuple[bool, str, str]] = []
    seen: set[str] = set()
    for node in (screen, app):
        for key, binding in node._bindings:
            if binding.description and key not in seen:
                seen.add(key)
                generic = node is screen and key not in own  # tab, copy: inherited from Screen
                rows.append((generic, app.get_key_display(binding), binding.description))
    rows.sort(key=lambda row: row[0])  # the screen's own keys first, then the app's, then generic ones
    return [(key, description) for _, key, description in rows]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, under: Screen, title: str = "") -> None:
        super().__init__()
        self.rows = binding_rows(under)
        self.title_text = title or type(under).__name__.removesuffix("Screen")

    def compose(self) -> ComposeResult:
        table = Table(title=f"{self.title_text}: keys", show_header=False, box=None, expand=True)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, description in self.rows:
            table.add_row(key, description)
        with VerticalScroll(id="help-box"):
            yield Static(table, id="help-table")
            yield Static("escape closes this help", classes="dim-note")

    def action_close(self) -> None:
        self.dismiss(None)
