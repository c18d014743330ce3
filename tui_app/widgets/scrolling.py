"""Changing a Line-API widget's scrollable size without re-laying out the screen.

Setting `virtual_size` asks Textual for a layout of the whole screen and a full repaint (~35 ms on the Records
screen at 160 x 45). When the widget's scrollbar is always shown (`overflow-y: scroll`), its own size cannot change
with its content, so the new size only needs the scrollbar told and the widget repainted.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView


def set_virtual_size(widget: ScrollView, size: Size) -> None:
    """`widget.virtual_size = size` without the layout (the widget must show its vertical scrollbar always)."""
    if size == widget.virtual_size:
        return
    if not widget.is_mounted or widget.styles.overflow_y != "scroll" or not widget.size:
        widget.virtual_size = size  # not laid out yet, or a scrollbar that may come and go: the normal way
        return
    widget.set_reactive(type(widget).virtual_size, size)
    bar = widget.vertical_scrollbar
    bar.window_virtual_size, bar.window_size = size.height, widget.scrollable_content_region.height
    bar.refresh()
    widget.scroll_to(y=min(widget.scroll_y, widget.max_scroll_y), animate=False, immediate=True)
    widget.refresh()
