"""A KV cache whose rows grow independently, so a forward call can run over only the rows that have tokens.

Guided decoding calls a model for a changing subset of the batch (the rows that consult the oracle, the rows that
received its tokens). With transformers' `DynamicCache` every call appends one block of columns to every row, so
rows that are not served still pay for the forward and collect masked columns that later calls attend over. Here
each row keeps its own length: a call for rows S with a right-aligned block of width w writes each row's real
tokens at that row's next free columns (left-aligned, no holes) in preallocated buffers, and attention runs over
S's rows only, with a 4D mask that says which columns each query may see. Buffers grow by half when full, so
appending costs no copy of the whole cache per step either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import Cache


@dataclass
class _Plan:
    """What the current forward writes: rows (batch indices), flat (row, column) targets and block sources."""

    rows: torch.Tensor | None  # batch indices of the rows in the call, None = all rows in order
    dst_row: torch.Tensor
    dst_col: torch.Tensor
    src_row: torch.Tensor
    src_col: torch.Tensor
    kv_len: int
    capacity: int


class _Layer:
    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def write(self, keys: torch.Tensor, values: torch.Tensor, plan: _Plan, batch: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys is None or self.keys.shape[2] < plan.capacity:
            self._grow(keys, batch, plan.capacity)
        assert self.keys is not None and self.values is not None
        self.keys[plan.dst_row, :, plan.dst_col] = keys[plan.src_row, :, plan.src_col]
        self.values[plan.dst_row, :, plan.dst_col] = values[plan.src_row, :, plan.src_col]
        if plan.rows is None:
            return self.keys[:, :, :plan.kv_len], self.values[:, :, :plan.kv_len]
        return self.keys[plan.rows, :, :plan.kv_len], self.values[plan.rows, :, :plan.kv_len]

    def _grow(self, like: torch.Tensor, batch: int, capacity: int) -> None:
        shape = (batch, like.shape[1], capacity, like.shape[3])
        keys = like.new_zeros(shape)
        values = like.new_zeros(shape)
        if self.keys is not None and self.values is not None:
            old = self.keys.shape[2]
            keys[:, :, :old] = self.keys
            values[:, :, :old] = self.values
        self.keys, self.values = keys, values

    def select(self, index: torch.Tensor) -> None:
        if self.keys is not None and self.values is not None:
            self.keys, self.values = self.keys[index], self.values[index]


class RaggedCache(Cache):
    """Per-row lengths over preallocated buffers; `prepare` plans one forward, the model's layers then `update`."""

    def __init__(self, batch: int, device: Any) -> None:
        super().__init__(layers=[])  # one `_Layer` per model layer, made on its first `update`
        self.device = device
        self.lengths = torch.zeros(batch, dtype=torch.long)  # on the host: planning needs no device sync
        self.capacity = 0
        self.plan: _Plan | None = None

    @property
    def batch(self) -> int:
        return len(self.lengths)

    # -- planning ----------------------------------------------------------------------------------------
    def prepare(self, rows: list[int], counts: list[int], width: int, additive_dtype: Any = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Plan a forward over batch rows `rows` whose blocks hold `counts` real tokens right-aligned in `width`.

        Returns (position_ids [len(rows), width], 4D mask [len(rows), 1, width, kv_len]): bool (True = attend),
        or additive in `additive_dtype` when given (for attention kernels that add the mask to the scores).
        """
        row_t = torch.tensor(rows, dtype=torch.long)
        lens = self.lengths[row_t]
        cnt = torch.tensor(counts, dtype=torch.long)
        pad = width - cnt
        kv_len = int((lens + cnt).max())
        if kv_len > self.capacity:
            self.capacity = max(kv_len, int(self.capacity * 1.5) + 16)
        j = torch.arange(width)
        real = j[None, :] >= pad[:, None]  # [n, width]
        offset = j[None, :] - pad[:, None]  # index of the token among the row's new ones
        sub_row, sub_col = real.nonzero(as_tuple=True)
        dst_col = lens[sub_row] + offset[sub_row, sub_col]
        positions = (lens[:, None] + offset).clamp(min=0)
        cols = torch.arange(kv_len)
        limit = (lens[:, None] + offset)[:, :, None]  # last column each query may see
        allowed = (cols[None, None, :] <= limit) & real[:, :, None]
        allowed[:, :, 0] |= ~real  # padding queries see column 0 only (no NaN; their output is dropped)
        everyone = rows == list(range(self.batch))
        dev = self.device
        self.plan = _Plan(
            rows=None if everyone else row_t.to(dev), dst_row=row_t[sub_row].to(dev), dst_col=dst_col.to(dev),
            src_row=sub_row.to(dev), src_col=sub_col.to(dev), kv_len=kv_len, capacity=self.capacity)
        self.lengths[row_t] = lens + cnt
        mask = allowed[:, None].to(dev)
        if additive_dtype is not None:
            mask = torch.zeros(mask.shape, dtype=additive_dtype, device=dev).masked_fill(
                ~mask, torch.finfo(additive_dtype).min)
        return positions.to(dev), mask

    def take_back(self, row: int, n: int) -> None:
        """Forget the last `n` cached tokens of batch row `row` (their columns are overwritten later)."""
        self.lengths[row] -= n

    def select_rows(self, index: list[int]) -> None:
        """Keep only these batch rows, in this order (drops ended rows)."""
        idx = torch.tensor(index, dtype=torch.long)
        dev_idx = idx.to(self.device)
        for layer in self.layers:
            layer.select(dev_idx)  # type: ignore[attr-defined]
        self.lengths = self.lengths[idx]

    # -- transformers' Cache interface -------------------------------------------------------------------------
    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self.layers) <= layer_idx:
            self.layers.append(_Layer())  # type: ignore[arg-type]
        assert self.plan is not None, "prepare() the forward first"
        return self.layers[layer_idx].write(key_states, value_states, self.plan, self.batch)  # type: ignore

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return int(self.lengths.max()) if self.batch else 0
