"""Rendering of a guided run: tokens in two colours with consultation marks, a legend, the heat table."""

from __future__ import annotations

from rich.color import Color, blend_rgb
from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable

from experiments.stages.guided.views import GuidedToken, HeatTable, cell_label, token_rows

BASE_STYLE = "#f47067"  # the reference printed base tokens in red ...
ORACLE_STYLE = "#6cb6ff"  # ... and oracle tokens in blue
CONSULT_MARK = "▶"
CURSOR_STYLE = "reverse bold"
HEAT_STOPS = ("#7f1d1d", "#7a5b12", "#166534")  # low, middle, high accuracy backgrounds


def legend() -> Text:
    return Text.assemble(("■ base", BASE_STYLE), "  ", ("■ oracle", ORACLE_STYLE), "  ",
                         (f"{CONSULT_MARK} consultation", f"bold {ORACLE_STYLE}"), "  ", ("cursor", CURSOR_STYLE))


def _shown(text: str, at_cursor: bool) -> str:
    """Whitespace-only tokens get a visible stand-in under the cursor, so the cursor never disappears."""
    if not at_cursor or text.strip():
        return text
    return text.replace("\n", "⏎\n").replace(" ", "·") or "∅"


def token_text(tokens: list[GuidedToken], cursor: int | None) -> Text:
    """The sequence in two colours; ▶ before each consultation point; the cursor token highlighted."""
    text = Text()
    for i, token in enumerate(tokens):
        colour = ORACLE_STYLE if token.source == "oracle" else BASE_STYLE
        if token.consult:
            text.append(CONSULT_MARK, style=f"bold {ORACLE_STYLE}")
        style = f"{colour} {CURSOR_STYLE}" if i == cursor else colour
        text.append(_shown(token.text, i == cursor), style=style)
    return text


def token_stats(token: GuidedToken | None, index: int | None) -> Table | Text:
    if token is None or index is None:
        return Text("No token yet.", style="dim")
    table = Table(show_header=False, box=None, expand=True, padding=(0, 1), pad_edge=False)
    table.add_column(style="dim", ratio=1)  # labels wrap in a narrow pane; values never do
    table.add_column(justify="right", no_wrap=True)
    for label, value in token_rows(token, index):
        style = (ORACLE_STYLE if value == "oracle" else BASE_STYLE) if label == "source" else ""
        table.add_row(label, Text(value, style=style))
    return table


def heat_colour(heat: float) -> str:
    low, mid, high = (Color.parse(c).get_truecolor() for c in HEAT_STOPS)
    heat = min(1.0, max(0.0, heat))
    colour = blend_rgb(low, mid, heat * 2) if heat < 0.5 else blend_rgb(mid, high, heat * 2 - 1)
    return Color.from_triplet(colour).name


def heat_cell(label: str, heat: float | None) -> Text:
    if heat is None:
        return Text(label, style="dim")
    return Text(f" {label} ", style=f"bold white on {heat_colour(heat)}", justify="right")


def fill_heat_table(table: DataTable, heat: HeatTable) -> None:
    """Rows c, columns k, accuracy cells coloured low (red) to high (green); the oracle alone last."""
    table.clear(columns=True)
    table.add_column("c \\ k", key="c")
    for k in heat.ks:
        table.add_column(f"k={k}", key=f"k{k}")
    if not heat.ks:  # only the oracle alone so far
        table.add_column("accuracy", key="accuracy")
    for c in heat.cs:
        cells = []
        for k in heat.ks:
            cell = heat.cells.get((c, k))
            cells.append(heat_cell(heat.label(c, k), heat.heat(cell.accuracy)) if cell else Text(""))
        table.add_row(Text(f"c={c}", style="bold"), *cells, key=f"c{c}")
    if heat.oracle_alone is not None:
        alone = heat.oracle_alone
        blanks = [Text("")] * max(0, len(heat.ks) - 1)
        table.add_row(Text("oracle", style="bold"), heat_cell(cell_label(alone), heat.heat(alone.accuracy)),
                      *blanks, key="oracle")
