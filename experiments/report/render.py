"""Writing a `Report`: Markdown (plots as PNG files in `<stem>_files/` beside it) or one self-contained HTML file
(plots embedded as base64 PNG). Tables go through pandas (Markdown via tabulate); plots through the calibration
export's matplotlib renderer, imported only when a report is written."""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path
from typing import Any

from experiments.report.build import Report
from experiments.runs.atomic import write_text_atomic
from experiments.stages.evaluation.views import Table

CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
       "th{background:#f3f3f3}pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:85%}"
       "img{max-width:480px;margin:.4em}h2{border-bottom:1px solid #ddd;margin-top:2em}")


def write_report(report: Report, out: str | Path) -> list[Path]:
    """Write `out` (.md or .html); returns the files written."""
    path = Path(out)
    if path.suffix.lower() in (".html", ".htm"):
        write_text_atomic(path, to_html(report))
        return [path]
    if path.suffix.lower() != ".md":
        raise ValueError(f"{path.name}: the report is written as .md or .html")
    return to_markdown(report, path)


def _frame(table: Table) -> Any:
    import pandas as pd

    return pd.DataFrame([{c: _cell(row.get(c)) for c in table.columns} for row in table.rows],
                        columns=table.columns)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list | dict):
        return str(value)
    return value


def _png(plot: Any) -> bytes:
    from experiments.stages.evaluation.export import save_plot

    with tempfile.TemporaryDirectory() as tmp:
        return save_plot(plot, Path(tmp) / "plot.png").read_bytes()


def to_markdown(report: Report, path: Path) -> list[Path]:
    files = path.with_name(f"{path.stem}_files")
    written: list[Path] = []
    lines = [f"# {report.title}", ""]
    for number, section in enumerate(report.sections):
        lines += [f"## {section.title}", ""]
        lines += [f"{p}\n" for p in section.text]
        if section.code:
            lines += ["<details><summary>spec</summary>", "", "```toml", section.code.rstrip(), "```", "",
                      "</details>", ""]
        for table in section.tables:
            lines += [f"**{table.title}**", "", _frame(table).to_markdown(index=False), ""]
        for plot in section.plots:
            files.mkdir(parents=True, exist_ok=True)
            image = files / f"{number:02d}-{plot.name}.png"
            image.write_bytes(_png(plot))
            written.append(image)
            lines += [f"![{plot.title}]({files.name}/{image.name})", ""]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return [path, *written]


def to_html(report: Report) -> str:
    esc = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(report.title)}</title>"
           f"<style>{CSS}</style></head><body><h1>{esc(report.title)}</h1>"]
    for section in report.sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        out += [f"<p>{esc(p)}</p>" for p in section.text]
        if section.code:
            out.append(f"<details><summary>spec</summary><pre>{esc(section.code)}</pre></details>")
        for table in section.tables:
            out.append(f"<h4>{esc(table.title)}</h4>")
            out.append(_frame(table).to_html(index=False, na_rep="", escape=True, border=0))
        for plot in section.plots:
            data = base64.b64encode(_png(plot)).decode()
            out.append(f"<img alt='{esc(plot.title)}' src='data:image/png;base64,{data}'>")
    out.append("</body></html>")
    return "\n".join(out)
