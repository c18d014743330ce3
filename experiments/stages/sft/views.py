"""View model of an SFT run for the TUI (no Textual): the loss and validation-loss curves and the live figures.

A resumed run logs again the steps between its last checkpoint and the kill; the latest value of a step wins, so
the curve is the one the finished run would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LossView:
    loss: list[tuple[int, float]] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    lr: float | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None
    step: int | None = None

    @property
    def empty(self) -> bool:
        return not self.loss and not self.val_loss

    def caption(self) -> str:
        parts = []
        if self.step is not None:
            parts.append(f"step {self.step}")
        if self.loss:
            parts.append(f"loss {self.loss[-1][1]:.4f}")
        if self.val_loss:
            parts.append(f"val {self.val_loss[-1][1]:.4f}")
        if self.lr is not None:
            parts.append(f"lr {self.lr:.2e}")
        if self.steps_per_s:
            parts.append(f"{self.steps_per_s:.2f} steps/s")
        if self.eta_s is not None:
            parts.append(f"ETA {self.eta_s:.0f}s")
        return "  ".join(parts)


def series(points: list[tuple[int | None, float]]) -> list[tuple[int, float]]:
    """(step, value) points -> sorted by step, the latest value of a repeated step kept, step-less points dropped."""
    by_step: dict[int, float] = {}
    for step, value in points:
        if step is not None:
            by_step[int(step)] = float(value)
    return sorted(by_step.items())


def _last(metrics: dict[str, list[tuple[int | None, float]]], name: str) -> float | None:
    points = metrics.get(name)
    return float(points[-1][1]) if points else None


def loss_view(metrics: dict[str, list[tuple[int | None, float]]]) -> LossView:
    """From `RunState.metrics` (name -> [(step, value)])."""
    loss, val = series(metrics.get("loss", [])), series(metrics.get("val_loss", []))
    steps = [s for s, _ in loss + val]
    return LossView(loss=loss, val_loss=val, lr=_last(metrics, "lr"), steps_per_s=_last(metrics, "steps_per_s"),
                    eta_s=_last(metrics, "eta_s"), step=max(steps) if steps else None)


def is_sft(manifest: dict[str, Any]) -> bool:
    return manifest.get("stage") == "sft"
