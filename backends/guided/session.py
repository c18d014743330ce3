"""The step-wise guided-decoding protocol and the loop that drives two model sessions over a batch.

A `ModelSession` holds a batch of sequences (one row per answer being written) and keeps its own state between
steps (a KV cache in hf; the token ids to re-send with prefix caching in served engines). The loop:

    repeat until every row is done:
        the base writes up to `step_size` tokens for every active row
        the policy looks at each row (position, consultations used, the base's next-token statistics)
        rows it picks (at most `c` times per answer) get `k` tokens from the oracle
Each segment is handed to the other model: token ids when both share a tokenizer, text otherwise (`handover.py`);
nothing when the oracle writes into the base's own session (the same model: `hf_session.SameModelOracle`).
A row ends on EOS of either model (at a hand-over) or after `max_new_tokens` answer tokens.
This is the lockstep schedule (each call serves all rows that need that model). Two served vLLM sessions can also
run the pipelined one (`GuidedParams.pipelined`, `pipelined.py`): the same steps per row, each row on its own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backends.guided.handover import Handover, token_texts_batch

Prompt = Sequence[dict[str, str]] | str  # chat messages, or a raw text prompt


@dataclass(frozen=True)
class ModelSampling:
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0


@dataclass(frozen=True)
class GuidedParams:
    c: int = 5  # consultations per answer at most
    k: int = 10  # oracle tokens per consultation
    step_size: int = 10  # base tokens between two decision points
    max_new_tokens: int = 256  # answer tokens (base + oracle) at most
    ignore_eos: bool = False  # fixed-length answers (benchmarks)
    token_stats: bool = True  # the base's statistics at every position (else only where a policy looks)
    boundary_stats: bool = True  # the base's statistics at each consultation point, even if the policy needs none
    pipelined: bool = False  # two served vLLM sessions: each row moves on its own (backends/guided/pipelined.py)


@dataclass
class Segment:
    """What one session wrote for one row in one call: its token ids and per-token stats; `eos` ends the row."""

    ids: list[int]
    stats: list[dict[str, float]] = field(default_factory=list)
    eos: bool = False


@dataclass
class Piece:
    text: str
    source: str  # base | oracle
    position: int
    token_id: int
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class GuidedSequence:
    """One answer: its pieces in order, segments (the reference's interleaved_outputs) and consultation points."""

    row: int
    pieces: list[Piece] = field(default_factory=list)
    segments: list[dict[str, str]] = field(default_factory=list)
    cheat_positions: list[int] = field(default_factory=list)
    base_tokens: int = 0
    oracle_tokens: int = 0
    finish_reason: str = "length"  # stop (EOS) | length
    done: bool = False

    @property
    def text(self) -> str:
        return "".join(s["text"] for s in self.segments)

    @property
    def position(self) -> int:
        return len(self.pieces)

    @property
    def consultations(self) -> int:
        return len(self.cheat_positions)


class ModelSession(Protocol):
    """One model over a batch of rows. Rows are the indices of `open`'s prompts; their state lives in here."""

    tokenizer: Any
    exact_stats: bool  # True: full-vocabulary statistics; False: estimated from top-k logprobs

    def render(self, prompt: Prompt) -> list[int]: ...
    def open(self, prompts: list[list[int]], sampling: ModelSampling | None = None,
             track_stats: bool = False) -> None: ...
    def answer_ids(self, row: int) -> list[int]: ...
    def append(self, row: int, ids: list[int], drop_last: int = 0) -> None: ...
    def generate(self, rows: list[int], budgets: list[int], ignore_eos: bool = False) -> dict[int, Segment]: ...
    def boundary_stats(self, rows: list[int]) -> dict[int, dict[str, float]]: ...
    def release(self, rows: list[int]) -> None: ...


@dataclass
class RowView:
    """What a policy sees for one row at a decision point."""

    row: int
    position: int
    used: int
    c: int
    k: int
    max_new_tokens: int
    stats: dict[str, float]
    rng: random.Random


class Policy(Protocol):
    needs_stats: bool
    oracle_only: bool

    def consult(self, view: RowView) -> bool: ...


PieceCallback = Callable[[int, list[Piece]], None]


@dataclass
class GuidedTimings:
    base_s: float = 0.0
    oracle_s: float = 0.0
    wall_s: float = 0.0


def sessions_needed(policy: Policy, c: int, k: int) -> tuple[bool, bool]:
    """(needs a base session, needs an oracle session): the oracle writes when the policy is oracle-only or may
    consult (c and k both positive); the base writes unless the policy is oracle-only. The one place this is said:
    the stage, `guided prompt` and the loop's own check all ask here."""
    return not policy.oracle_only, policy.oracle_only or (c > 0 and k > 0)


class GuidedLoop:
    """Drives a base and an oracle session over one batch of prompts (see the module docstring)."""

    def __init__(self, base: ModelSession | None, oracle: ModelSession | None, policy: Policy,
                 params: GuidedParams, on_pieces: PieceCallback | None = None, seed: int = 0) -> None:
        self.base, self.oracle, self.policy, self.params = base, oracle, policy, params
        self.on_pieces = on_pieces
        self.seed = seed
        self.timings = GuidedTimings()
        needs_base, needs_oracle = sessions_needed(policy, params.c, params.k)
        if needs_oracle and oracle is None:
            raise ValueError("this policy needs an oracle session")
        if needs_base and base is None:
            raise ValueError("this policy needs a base session")
        # An oracle that writes into the base's own session (`SameModelOracle`) needs no hand-over.
        self.shared = base is not None and getattr(oracle, "shares", None) is base
        pair = base is not None and oracle is not None and not self.shared
        self.to_oracle = Handover(base.tokenizer, oracle.tokenizer) if pair else None
        self.to_base = Handover(oracle.tokenizer, base.tokenizer) if pair else None

    def run(self, prompts: list[Prompt], base_sampling: ModelSampling = ModelSampling(),
            oracle_sampling: ModelSampling = ModelSampling(), row_keys: list[Any] | None = None
            ) -> list[GuidedSequence]:
        started = time.perf_counter()
        seqs = [GuidedSequence(row=i) for i in range(len(prompts))]
        keys = row_keys or list(range(len(prompts)))
        rngs = [random.Random(f"{self.seed}:{key}") for key in keys]
        if self.policy.oracle_only:
            self._solo(self.oracle, "oracle", prompts, oracle_sampling, seqs)
        elif self.params.c <= 0 or self.params.k <= 0 or self.oracle is None:
            self._solo(self.base, "base", prompts, base_sampling, seqs)
        else:
            self._guided(prompts, base_sampling, oracle_sampling, seqs, rngs)
        self.timings.wall_s = time.perf_counter() - started
        return seqs

    # -- one model alone (baselines) -------------------------------------------------------------------
    def _solo(self, session: Any, source: str, prompts: list[Prompt], sampling: ModelSampling,
              seqs: list[GuidedSequence]) -> None:
        session.open([session.render(p) for p in prompts], sampling,
                     track_stats=source == "base" and self.params.token_stats)
        active = list(range(len(seqs)))
        while active:
            self._write(session, source, active, seqs, self.params.step_size, handover=None, peer=None)
            active = self._still_active(active, seqs, session)
        session.release(list(range(len(seqs))))

    # -- base + oracle ---------------------------------------------------------------------------------
    def _guided(self, prompts: list[Prompt], base_sampling: ModelSampling, oracle_sampling: ModelSampling,
                seqs: list[GuidedSequence], rngs: list[random.Random]) -> None:
        base, oracle, p = self.base, self.oracle, self.params
        assert base is not None and oracle is not None
        if p.pipelined and not self.shared:
            from backends.guided.pipelined import can_pipeline, run_pipelined

            if can_pipeline(base, oracle):
                run_pipelined(self, prompts, base_sampling, oracle_sampling, seqs, rngs)
                return
        base.open([base.render(x) for x in prompts], base_sampling, track_stats=p.token_stats)
        if self.shared:
            oracle.join(oracle_sampling)
        else:
            oracle.open([oracle.render(x) for x in prompts], oracle_sampling)
        active = list(range(len(seqs)))
        while active:
            self._write(base, "base", active, seqs, p.step_size, self.to_oracle, oracle)
            active = self._still_active(active, seqs, base, oracle)
            open_rows = [r for r in active if seqs[r].consultations < p.c]
            if not open_rows:
                continue
            stats = base.boundary_stats(open_rows) if self.policy.needs_stats else {}
            picked = [r for r in open_rows if self.policy.consult(RowView(
                row=r, position=seqs[r].position, used=seqs[r].consultations, c=p.c, k=p.k,
                max_new_tokens=p.max_new_tokens, stats=stats.get(r, {}), rng=rngs[r]))]
            if picked:
                for r in picked:
                    seqs[r].cheat_positions.append(seqs[r].position)
                self._write(oracle, "oracle", picked, seqs, p.k, self.to_base, base,
                            boundary=stats or (base.boundary_stats(picked)
                                               if base.exact_stats and p.boundary_stats else {}))
                active = self._still_active(active, seqs, base, oracle)
        base.release(list(range(len(seqs))))
        oracle.release(list(range(len(seqs))))

    def _write(self, session: Any, source: str, rows: list[int], seqs: list[GuidedSequence], size: int,
               handover: Handover | None, peer: Any, boundary: dict[int, dict[str, float]] | None = None) -> None:
        """One call of `session` for `rows`: record the pieces, hand the segments to `peer`, mark finished rows."""
        p = self.params
        budgets = [min(size, p.max_new_tokens - seqs[r].position) for r in rows]
        contexts = {r: session.answer_ids(r)[-8:] for r in rows}
        started = time.perf_counter()
        segments = session.generate(rows, budgets, ignore_eos=p.ignore_eos)
        elapsed = time.perf_counter() - started
        if source == "base":
            self.timings.base_s += elapsed
        else:
            self.timings.oracle_s += elapsed
        all_texts = token_texts_batch(session.tokenizer, [(contexts[r], segments[r].ids) for r in rows])
        for r, texts in zip(rows, all_texts, strict=True):
            self._record(seqs[r], source, segments[r], texts, handover, peer, (boundary or {}).get(r, {}))

    def _record(self, seq: GuidedSequence, source: str, seg: Segment, texts: list[str], handover: Handover | None,
                peer: Any, boundary: dict[str, float]) -> None:
        """One row's segment: its pieces and text, the hand-over to `peer`, the row's end (EOS or budget)."""
        p, r = self.params, seq.row
        pieces = []
        for i, (tid, text) in enumerate(zip(seg.ids, texts, strict=True)):
            stats = dict(seg.stats[i]) if i < len(seg.stats) else {}
            if source == "oracle" and i == 0:
                stats = {**boundary, "consult": 1.0}
            pieces.append(Piece(text, source, seq.position + i, tid, stats))
        seq.pieces.extend(pieces)
        text = "".join(texts)
        if text:
            if seq.segments and seq.segments[-1]["source"] == source:
                seq.segments[-1]["text"] += text
            else:
                seq.segments.append({"text": text, "source": source})
        if source == "base":
            seq.base_tokens += len(seg.ids)
        else:
            seq.oracle_tokens += len(seg.ids)
        if seg.eos:
            seq.done, seq.finish_reason = True, "stop"
        elif seq.position >= p.max_new_tokens:
            seq.done, seq.finish_reason = True, "length"
        if handover is not None and peer is not None and seg.ids:  # even at the end: contexts stay equal
            handover.move(peer, r, seg.ids, text)
        if pieces and self.on_pieces is not None:
            self.on_pieces(r, pieces)

    @staticmethod
    def _still_active(active: list[int], seqs: list[GuidedSequence], *sessions: Any) -> list[int]:
        ended = [r for r in active if seqs[r].done]
        if ended:
            for session in sessions:
                session.release(ended)
        return [r for r in active if not seqs[r].done]
