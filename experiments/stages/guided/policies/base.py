"""The policy base class: decides, per row and decision point, whether the oracle writes the next k tokens.

The loop enforces the budget (`c` consultations per answer) and passes a `RowView` (position, consultations used,
the base model's next-token statistics, a per-row seeded RNG); a policy only answers yes or no.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Policy:
    name: ClassVar[str] = ""
    OPTIONS: ClassVar[tuple[str, ...]] = ()  # keyword options it takes from the spec
    needs_stats: ClassVar[bool] = False  # the loop computes boundary statistics only for policies that read them
    oracle_only: ClassVar[bool] = False  # the oracle writes the whole answer

    def consult(self, view: Any) -> bool:
        raise NotImplementedError
