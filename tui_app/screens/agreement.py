"""The agreement table (`A` on Records and Review): human vs judge vs rule, counts, Cohen's kappa and the
confusion matrix of each pair, computed by `experiments.stages.judging.agreement.view_agreement` (the same numbers
as `confconsole agreement RUN`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def open_agreement(screen: Any) -> None:
    """From any screen with a `view` (RecordsView, or None while it loads): compute in a worker, then show."""
    view = getattr(screen, "view", None)
    if view is None:
        screen.notify("The records are still being read; try again in a moment.", severity="warning")
        return

    def compute() -> None:
        from experiments.stages.judging.agreement import view_agreement

        try:
            table = view_agreement(view)
        except ValueError as exc:  # fewer than two raters: say why, no error box
            screen.app.call_from_thread(screen.notify, str(exc), title="agreement", severity="warning",
                                        timeout=8)
            return
        screen.app.call_from_thread(screen.app.push_screen, AgreementScreen(table))

    screen.run_worker(compute, thread=True, exit_on_error=False, name="agreement", group="agreement")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _kappa(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def agreement_renderables(table: dict[str, Any]) -> list[Any]:
    """Rich tables: the raters' counts, then one confusion matrix per pair with its agreement and kappa."""
    pairs = dict(table.get("pairs") or {})
    if not pairs and "both_correct" in table:  # judge vs rule only
        pairs = {"judge_vs_rule": {"n": table["n"], "agreement": table["agreement"], "kappa": table["kappa"],
                                   "confusion": [[table["both_correct"], table["judge_only"]],
                                                 [table["rule_only"], table["both_wrong"]]],
                                   "missing": table.get("records", table["n"]) - table["n"]}}
    out: list[Any] = []
    raters = table.get("raters") or {}
    if raters:
        summary = Table(title="verdicts", box=None, expand=False)
        for column in ("rater", "records", "correct"):
            summary.add_column(column, justify="right" if column != "rater" else "left")
        for name, r in raters.items():
            summary.add_row(name, str(r["n"]), str(r["correct"]))
        out.append(summary)
    for name, pair in pairs.items():
        a, b = name.split("_vs_")
        (rr, rw), (wr, ww) = pair["confusion"]
        grid = Table(title=f"{a} vs {b}: n={pair['n']} · agreement {_pct(pair['agreement'])} · Cohen's kappa "
                           f"{_kappa(pair['kappa'])}", title_justify="left", expand=False)
        grid.add_column("")
        grid.add_column(f"{b} correct", justify="right")
        grid.add_column(f"{b} wrong", justify="right")
        grid.add_row(f"{a} correct", Text(str(rr), style="green"), Text(str(rw), style="red"))
        grid.add_row(f"{a} wrong", Text(str(wr), style="red"), Text(str(ww), style="green"))
        out.append(grid)
        if pair.get("missing"):
            out.append(Text(f"  {pair['missing']} records lack one of the two verdicts", style="dim"))
    return out


class AgreementScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("A", "close", "Close", show=False),
                Binding("q", "close", "Close", show=False)]

    def __init__(self, table: dict[str, Any]) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="agreement-box"):
            yield Static("Agreement: human vs judge vs rule", classes="pane-title")
            for i, renderable in enumerate(agreement_renderables(self.table)):
                yield Static(renderable, id=f"agreement-{i}")
            yield Static("escape closes this table", classes="dim-note")

    def action_close(self) -> None:
        self.dismiss(None)
