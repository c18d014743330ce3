"""Renders a stage's field descriptors (`experiments.spec_form`) as a form; knows nothing about any stage.

Choices become selects, bools checkboxes, numbers and text inputs, lists and tables TOML-ish inputs, nested models
collapsible sections. Every edit posts `SpecForm.Changed`; the screen validates and hands errors back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Checkbox, Collapsible, Input, Label, Select, Static

from experiments.spec_form import FieldDescriptor, leaves

PLACEHOLDERS = {"int": "integer", "float": "number", "text": "", "toml": "TOML: [a, b] or {key = value}"}
INPUT_TYPES = {"int": "integer", "float": "number"}


def widget_id(key: str) -> str:
    return "f-" + key.replace(".", "--")


class SpecForm(VerticalScroll):
    """A form over `descriptors`, filled with `values` (field key -> widget value)."""

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

    def compose(self) -> ComposeResult:
        yield from self._fields(self.descriptors)

    def _fields(self, descriptors: Iterable[FieldDescriptor]) -> ComposeResult:
        for desc in descriptors:
            if desc.kind == "section":
                with Collapsible(title=desc.name, collapsed=False, id=f"sec-{widget_id(desc.key)}"):
                    if desc.help:
                        yield Static(desc.help, classes="field-help", markup=False)
                    yield from self._fields(desc.children)
                continue
            with Vertical(classes="form-field", id=f"field-{widget_id(desc.key)}"):
                mark = "" if not desc.required else " *"
                with Horizontal(classes="field-row"):
                    yield Label(f"{desc.name}{mark} [dim]{desc.kind}{'?' if desc.optional else ''}[/]",
                                classes="field-label")
                    yield self._input(desc)
                if desc.help:
                    yield Static(desc.help, classes="field-help", markup=False)
                yield Static("", classes="field-error", id=f"err-{widget_id(desc.key)}", markup=False)

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

    def set_value(self, key: str, value: Any) -> None:
        """Set one field (tests, and the screen when it fills a field for the user)."""
        self.query_one(f"#{widget_id(key)}").value = value  # type: ignore[attr-defined]

    def show_errors(self, errors: dict[str, str]) -> None:
        """One message under each bad field; sections holding an error open."""
        for desc in self._leaves:
            message = errors.get(desc.key, "")
            error = self.query_one(f"#err-{widget_id(desc.key)}", Static)
            error.update(message)
            error.display = bool(message)
            self.query_one(f"#field-{widget_id(desc.key)}").set_class(bool(message), "-invalid")
            if message:
                for depth in range(1, len(desc.path)):
                    section = ".".join(desc.path[:depth])
                    self.query_one(f"#sec-{widget_id(section)}", Collapsible).collapsed = False

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self))
