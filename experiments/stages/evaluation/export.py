"""Exports of a Calibration view for papers: every table as CSV and Markdown, every plot as PNG and SVG.

pandas writes the tables (Markdown through `tabulate`); matplotlib draws the plots and is imported only here,
when a plot is exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from experiments.stages.evaluation.views import CalibrationView, Plot

FORMATS = ("csv", "md", "png", "svg")


def export_view(view: CalibrationView, out_dir: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write the view's tables and plots under `out_dir`; returns the files written."""
    import pandas as pd

    wanted = set(formats)
    unknown = wanted - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s) {sorted(unknown)}; known: {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in view.tables:
        frame = pd.DataFrame(table.rows, columns=table.columns)
        if "csv" in wanted:
            frame.to_csv(out / f"{table.name}.csv", index=False)
            written.append(out / f"{table.name}.csv")
        if "md" in wanted:
            (out / f"{table.name}.md").write_text(f"### {table.title}\n\n"
                                                  + frame.to_markdown(index=False, floatfmt=".4g") + "\n")
            written.append(out / f"{table.name}.md")
    for fmt in ("png", "svg"):
        if fmt in wanted:
            written += [save_plot(plot, out / f"{plot.name}.{fmt}") for plot in view.plots]
    return written


def save_plot(plot: Plot, path: Path) -> Path:
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("PNG/SVG export needs matplotlib: pip install 'confconsole[export]'") from None
    matplotlib.use("Agg")  # files only: never a window
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=150)
    try:
        for s in plot.series:
            if s.kind == "scatter":
                ax.scatter(s.xs, s.ys, label=s.label, zorder=3)
            elif s.kind == "bar":
                ax.bar(s.xs, s.ys, width=0.08, label=s.label, alpha=0.7)
            else:
                ax.plot(s.xs, s.ys, label=s.label, linestyle="--" if s.label.startswith("perfect") else "-")
        if plot.xlim:
            ax.set_xlim(*plot.xlim)
        if plot.ylim:
            ax.set_ylim(*plot.ylim)
        ax.set(title=plot.title, xlabel=plot.xlabel, ylabel=plot.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
