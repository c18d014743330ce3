"""Renders a stage's field descriptors (`experiments.stages.form`) as a form; knows nothing about any stage.

Choices become selects, bools checkboxes, numbers and text inputs, lists and tables TOML-ish inputs, nested models
collapsible sections. Every edit posts `SpecForm.Changed`; the screen validates and hands errors back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Checkbox, Collapsible, Input, Select, Static
from textual.widgets._collapsible import CollapsibleTitle

from experiments.stages.form import FieldDescriptor, leaves

PLACEHOLDERS = {"int": "integer", "float": "number", "text": "", "toml": "TOML: [a, b] or {key = value}"}
INPUT_TYPES = {"int": "integer", "float": "number"}


def widget_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


def field_label(desc: FieldDescriptor, error: str = "") -> Text:
    """`name kind — help`, and the error on the next line."""
    text = Text()
    text.append(desc.name + (" *" if desc.required else ""), style="bold")
    text.append(f"  {desc.kind}{'?' if desc.optional else ''}", style="dim")
    if desc.help:
        text.append(f"  {desc.help}", style="dim italic")
    if error:
        text.append(f"\n✗ {error}", style="bold red")
    return text


class SpecForm(VerticalScroll):
    """A form over `descriptors`, filled with `values` (field key -> widget value). The scroll container itself
    takes no focus: tab goes from field to field in the form's order (section titles fold their section)."""

    can_focus = False

    class Changed(Message):
        """Some field changed: the screen re-validates."""

        def __init__(self, form: SpecForm) -> None:
            super().__init__()
            self.form = form

    def __init__(self, descriptors: list[FieldDescriptor], values: dict[str, Any],
                 suggestions: dict[str, list[str]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.descriptors = descriptors
        self.initial = values
        self.suggestions = suggestions or {}
        self._leaves = leaves(descriptors)
        self.errors: dict[str, str] = {}  # shown now, by field key

    def compose(self) -> ComposeResult:
        yield from self._fields(self.descriptors)

    def on_mount(self) -> None:
        for title in self.query(CollapsibleTitle):  # tab goes field to field; a click folds a section
            title.can_focus = False

    def _fields(self, descriptors: Iterable[FieldDescriptor]) -> ComposeResult:
        """Two widgets per field (a label that also carries help and error, then the input): the inference form
        has ~40 fields and every widget costs layout time."""
        for desc in descriptors:
            if desc.kind == "section":
                with Collapsible(title=desc.name, collapsed=False, id=f"sec-{widget_id(desc.key)}"):
                    yield from self._fields(desc.children)
                continue
            yield Static(field_label(desc), classes="field-label", id=f"label-{widget_id(desc.key)}")
            yield self._input(desc)

    def _input(self, desc: FieldDescriptor) -> Widget:
        value = self.initial.get(desc.key)
        wid = widget_id(desc.key)
        if desc.kind == "bool":
            return Checkbox("on", value=bool(value), id=wid, compact=True)
        if desc.kind == "choice":
            options = [(choice, choice) for choice in desc.choices]
            return Select(options, value=value if value in desc.choices else Select.NULL,
                          allow_blank=desc.optional or value not in desc.choices, id=wid, compact=True)
        words = self.suggestions.get(desc.name)
        return Input(str(value or ""), placeholder=PLACEHOLDERS.get(desc.kind, ""), id=wid,
                     type=INPUT_TYPES.get(desc.kind, "text"),  # type: ignore[arg-type]
                     suggester=SuggestFromList(words, case_sensitive=False) if words else None, compact=True)

    # -- reading and marking --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Field key -> widget value (text, bool, or a choice / None)."""
        out: dict[str, Any] = {}
        for desc in self._leaves:
            widget = self.query_one(f"#{widget_id(desc.key)}")
            if isinstance(widget, Select):
                out[desc.key] = None if widget.is_blank() else widget.value
            else:
                out[desc.key] = widget.value  # type: ignore[attr-defined]
        return out

    def first_needing_input(self, errors: dict[str, str]) -> Widget | None:
        """The input of the first field with a problem (a required field left empty reads as one), else the
        first field's input."""
        keys = [d.key for d in self._leaves]
        wanted = next((k for k in keys if k in errors), keys[0] if keys else None)
        return self.query_one(f"#{widget_id(wanted)}") if wanted else None

    def set_value(self, key: str, value: Any) -> None:
        """Set one field (tests, and the screen when it fills a field for the user)."""
        self.query_one(f"#{widget_id(key)}").value = value  # type: ignore[attr-defined]

    def show_errors(self, errors: dict[str, str]) -> None:
        """The message under each bad field's name; sections holding an error open."""
        for desc in self._leaves:
            message = errors.get(desc.key, "")
            if message == self.errors.get(desc.key, ""):
                continue
            self.query_one(f"#label-{widget_id(desc.key)}", Static).update(field_label(desc, message))
            self.query_one(f"#{widget_id(desc.key)}").set_class(bool(message), "-invalid")
            for depth in range(1, len(desc.path) if message else 0):
                section = ".".join(desc.path[:depth])
                self.query_one(f"#sec-{widget_id(section)}", Collapsible).collapsed = False
        self.errors = {k: v for k, v in errors.items() if v}

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self))
