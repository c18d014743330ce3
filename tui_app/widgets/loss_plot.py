"""Live loss curve of an SFT run: training and validation loss against the step (textual-plotext)."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from experiments.stages.sft.views import LossView


class LossPlot(PlotextPlot):
    """Renders a `LossView`; redraws only when its points change (the Run screen feeds it on every poll)."""

    DEFAULT_CSS = """
    LossPlot {
        height: 14;
        min-height: 8;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.view = LossView()
        self._drawn: tuple[int, int, float | None] | None = None

    def show(self, view: LossView) -> None:
        self.view = view
        key = (len(view.loss), len(view.val_loss), view.loss[-1][1] if view.loss else None)
        if key == self._drawn:
            return
        self._drawn = key
        plt = self.plt
        plt.clear_data()
        plt.title(view.caption() or "loss (waiting for the first step)")
        plt.xlabel("step")
        if view.loss:
            plt.plot([s for s, _ in view.loss], [v for _, v in view.loss], label="loss", marker="braille")
        if view.val_loss:
            plt.plot([s for s, _ in view.val_loss], [v for _, v in view.val_loss], label="val loss",
                     marker="dot")
        self.refresh()
