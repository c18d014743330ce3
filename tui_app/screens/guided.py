"""A guided run, live: one sequence in two colours (base, oracle), its tokens' statistics, and the (c, k) grid.

The event tail is read and reduced into a plain `GuidedState` (experiments/stages/guided/views.py) in a thread
worker on the app's poll interval, under a lock the UI thread takes to render; the screen redraws once per tick
and only when the state changed, never once per token. While following (the default), the newest stream being
written and its last token are shown (it stays on one sequence until that one stops growing); stepping or picking
a stream stops following, `f` resumes it.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from experiments.runs.state import EventTail
from experiments.runs.store import RunStore
from experiments.stages.guided.views import FOLLOW_IDLE_S, GuidedState, StreamName, heat_table
from experiments.views.runs import status_of
from tui_app.screens.base import PaletteCommand, PollingScreen
from tui_app.widgets.guided import fill_heat_table, legend, token_stats, token_text
from tui_app.widgets.status import STATUS_STYLES


class GuidedScreen(PollingScreen):
    DEFAULT_CSS = """
    GuidedScreen #guided-info { height: auto; padding: 0 1; background: $boost; }
    GuidedScreen #guided-legend { height: 1; padding: 0 1; }
    GuidedScreen #guided-body { height: 1fr; }
    GuidedScreen #streams { width: 25%; min-width: 24; max-width: 36; height: 1fr; }
    GuidedScreen #text-pane { width: 1fr; }
    GuidedScreen #text-scroll { height: 1fr; padding: 0 1; }
    GuidedScreen #stats-pane { width: 28%; min-width: 26; max-width: 40; border-left: vkey $primary-background; }
    GuidedScreen #token-stats { padding: 0 1; }
    GuidedScreen #grid-pane { height: auto; max-height: 14; }
    GuidedScreen #grid { height: auto; max-height: 10; }
    GuidedScreen #grid-note { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left", "step(-1)", "Prev token", key_display="←", priority=True),  # over the list's scrolling
        Binding("right", "step(1)", "Next token", key_display="→", priority=True),
        Binding("left_square_bracket", "consultation(-1)", "Prev consult", key_display="["),
        Binding("right_square_bracket", "consultation(1)", "Next consult", key_display="]"),
        Binding("f", "follow", "Follow"),
    ]

    def __init__(self, store: RunStore, follow_idle_s: float = FOLLOW_IDLE_S) -> None:
        super().__init__()
        self.store = store
        self.follow_idle_s = follow_idle_s
        self.state = GuidedState()
        self.manifest: dict[str, Any] = {}
        self.status = ""
        self.selected: str | None = None
        self.cursor: int | None = None
        self.follow = True
        self._tail = EventTail(store.events_path)
        self._drawn: tuple[Any, ...] = ()
        self._listed: list[str] = []
        self._grid_drawn = -1
        self._lock = threading.RLock()  # the poll worker reduces events while the UI thread renders
        self._summary_grid: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="guided-info")
        yield Static(legend(), id="guided-legend")
        with Horizontal(id="guided-body"):
            yield OptionList(id="streams")
            with Vertical(id="text-pane"):
                yield Static("Sequence", classes="pane-title", id="text-title", markup=False)
                with VerticalScroll(id="text-scroll"):
                    yield Static("", id="token-text")
            with Vertical(id="stats-pane"):
                yield Static("Token", classes="pane-title")
                yield Static("", id="token-stats")
        with Vertical(id="grid-pane"):
            yield Static("Accuracy by (c, k)", classes="pane-title")
            yield DataTable(id="grid", cursor_type="none", zebra_stripes=False)
            yield Static("", id="grid-note", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"guided: {self.store.run_id}"
        self.query_one("#grid", DataTable).can_focus = False
        self.query_one("#streams", OptionList).focus()
        self.start_polling()

    # -- polling ------------------------------------------------------------------------------------------
    def read(self) -> tuple[dict[str, Any]]:
        """Worker thread: parse and reduce here (a long run's first read is big), under the state's lock."""
        events, manifest = self._tail.poll(), self.store.manifest()
        grid = (manifest.get("summary") or {}).get("grid")
        with self._lock:
            self.state.consume_all(events)
            if grid and grid != self._summary_grid:  # a finished run: the summary holds every cell
                self.state.load_grid(grid)
                self._summary_grid = grid
        return (manifest,)

    def apply(self, manifest: dict[str, Any]) -> None:  # type: ignore[override]
        self.manifest, self.status = manifest, status_of(manifest)
        self.render_state()

    # -- rendering ----------------------------------------------------------------------------------------
    def render_state(self) -> None:
        with self._lock:
            self._render_state()

    def _render_state(self) -> None:
        state = self.state
        if self.follow:
            self.selected = state.follow_target(self.selected, self.follow_idle_s)
        tokens = state.tokens(self.selected)
        if self.follow or self.cursor is None or self.cursor >= len(tokens):  # (a resumed run may replay)
            self.cursor = len(tokens) - 1 if tokens else None
        state.pinned = self.selected
        key = (state.version, self.selected, self.cursor, self.status, self.follow)
        if key == self._drawn:
            return
        self._drawn = key
        self._render_info()
        self._render_streams()
        self._render_text(tokens)
        if self._grid_drawn != state.grid_version:
            self._render_grid()

    def _render_info(self) -> None:
        info = Text()
        base, oracle = self.state.counts(self.selected)
        for i, (label, value) in enumerate((
            ("status", self.status or "?"), ("streams", str(len(self.state.streams))),
            ("tokens", str(self.state.tokens_seen)), ("base", str(base)), ("oracle", str(oracle)),
            ("consultations", str(len(self.state.consultations(self.selected)))),
            ("mode", "following" if self.follow else "paused"),
        )):
            info.append(("  " if i else "") + f"{label} ", style="dim")
            info.append(value, style=STATUS_STYLES.get(value, "bold") if label == "status" else "bold")
        self.query_one("#guided-info", Static).update(info)

    def _render_streams(self) -> None:
        names = self.state.stream_names()
        options = self.query_one("#streams", OptionList)
        if names[:len(self._listed)] == self._listed:
            options.add_options([Option(StreamName.parse(n).short, id=n) for n in names[len(self._listed):]])
        else:
            options.clear_options()
            options.add_options([Option(StreamName.parse(n).short, id=n) for n in names])
        self._listed = names
        if self.selected in names and options.highlighted != names.index(self.selected):
            options.highlighted = names.index(self.selected)

    def _render_text(self, tokens: list[Any]) -> None:
        title = StreamName.parse(self.selected).label if self.selected else "no tokens yet"
        self.query_one("#text-title", Static).update(f"Sequence: {title}")
        self.query_one("#token-text", Static).update(token_text(tokens, self.cursor))
        token = tokens[self.cursor] if tokens and self.cursor is not None else None
        self.query_one("#token-stats", Static).update(token_stats(token, self.cursor))
        scroll = self.query_one("#text-scroll", VerticalScroll)
        if self.follow:
            self.call_after_refresh(scroll.scroll_end, animate=False)
        elif tokens and self.cursor is not None:
            before = sum(len(t.text) for t in tokens[:self.cursor])
            share = before / max(1, sum(len(t.text) for t in tokens))
            self.call_after_refresh(lambda: scroll.scroll_to(y=share * scroll.max_scroll_y, animate=False))

    def _render_grid(self) -> None:
        heat = heat_table(self.state)
        fill_heat_table(self.query_one("#grid", DataTable), heat)
        self._grid_drawn = self.state.grid_version
        cells = len(heat.cells) + (heat.oracle_alone is not None)
        note = "◆ (0, 0) = base alone   ★ = oracle alone   colour: accuracy, low (red) to high (green)"
        self.query_one("#grid-note", Static).update(f"{cells} cells finished.  {note}" if cells
                                                    else "No grid cell finished yet.")

    # -- navigation ---------------------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#streams")
    def _stream_picked(self, event: OptionList.OptionHighlighted) -> None:
        picked = event.option.id
        if event.option_index != event.option_list.highlighted or picked is None or picked == self.selected:
            return  # stale (the list was rebuilt since), or our own highlight of the followed stream
        self.selected, self.follow, self.cursor = picked, False, None
        self.render_state()

    def action_step(self, delta: int) -> None:
        with self._lock:
            tokens = list(self.state.tokens(self.selected))
        if not tokens:
            self.notify("No tokens in this sequence yet: they show as the run writes them.", timeout=3)
            return
        current = len(tokens) - 1 if self.cursor is None else self.cursor
        self.follow = False
        self.cursor = min(len(tokens) - 1, max(0, current + delta))
        self.render_state()

    def action_consultation(self, direction: int) -> None:
        with self._lock:
            points = self.state.consultations(self.selected)
        current = -1 if self.cursor is None else self.cursor
        ahead = [p for p in points if p > current] if direction > 0 else [p for p in points if p < current]
        if not ahead:
            self.notify("No further consultation point in this sequence.", timeout=2)
            return
        self.follow = False
        self.cursor = ahead[0] if direction > 0 else ahead[-1]
        self.render_state()

    def action_follow(self) -> None:
        if self.follow:
            self.notify("Already following the newest tokens (← → [ ] pause on a token).", timeout=3)
        self.follow = True
        self.render_state()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            ("Follow the run", "Show the newest sequence and its last token as they arrive", self.action_follow),
            ("Next consultation", "Move the cursor to the next oracle consultation",
             lambda: self.action_consultation(1)),
            ("Previous consultation", "Move the cursor to the previous consultation",
             lambda: self.action_consultation(-1)),
        ]
