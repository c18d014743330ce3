"""The guided view model: token streams, consultation points, replay after resume, eviction, the heat table."""

from __future__ import annotations

from experiments.runs.emit import Emitter
from experiments.runs.events import ArtifactEvent, StatusEvent, TokenBatchEvent
from experiments.runs.state import EventTail
from experiments.stages.guided.views import (
    GuidedState,
    StreamName,
    heat_lines,
    heat_table,
    token_rows,
)
from tests.guided_fixtures import cell, pieces, stream_name


def batch(stream: str, start: int, n: int, oracle_at: tuple[int, ...] = ()) -> TokenBatchEvent:
    return TokenBatchEvent(stream=stream, tokens=pieces(start, n, oracle_at))


def test_streams_collect_tokens_in_order_with_sources_and_consultations():
    state = GuidedState()
    a, b = stream_name(5, 3, 0), stream_name(5, 3, 1)
    state.consume(batch(a, 0, 5, oracle_at=(2,)))
    state.consume(batch(b, 0, 2))
    state.consume(batch(a, 5, 6, oracle_at=(8,)))
    assert state.stream_names() == [a, b] and state.latest == a
    tokens = state.tokens(a)
    assert [t.position for t in tokens] == list(range(11))
    assert [t.source for t in tokens] == ["base"] * 2 + ["oracle"] * 3 + ["base"] * 3 + ["oracle"] * 3
    assert state.consultations(a) == [2, 8]
    assert state.counts(a) == (5, 6)
    assert state.text(a) == "Let x be the number. Then 2x = 10,"
    assert state.tokens_seen == 13


def test_back_to_back_oracle_segments_are_two_consultations():
    # the consult flag marks a second segment that directly follows the first (no base token between)
    state = GuidedState()
    state.consume(batch("s", 0, 8, oracle_at=(1, 4)))
    assert [t.source for t in state.tokens("s")][:7] == ["base"] + ["oracle"] * 6
    assert state.consultations("s") == [1, 4]


def test_replayed_positions_restart_the_stream_instead_of_duplicating():
    state = GuidedState()
    state.consume(batch("s", 0, 6))
    state.consume(batch("s", 3, 5, oracle_at=(4,)))  # a resumed run recomputes from position 3
    positions = [t.position for t in state.tokens("s")]
    assert positions == list(range(8))
    assert state.tokens("s")[4].source == "oracle"


def test_old_streams_are_dropped_but_the_pinned_one_is_kept():
    state = GuidedState(max_streams=3)
    state.pinned = "s0"
    for i in range(6):
        state.consume(batch(f"s{i}", 0, 2))
    assert state.stream_names() == ["s0", "s4", "s5"]


def test_version_grows_only_on_changes_and_status_is_tracked():
    state = GuidedState()
    v0 = state.version
    state.consume(ArtifactEvent(path="x", kind="other"))
    assert state.version == v0
    state.consume(StatusEvent(status="done"))
    assert state.status == "done" and state.version > v0


def test_stream_names_parse_the_contract_and_fall_back():
    name = StreamName.parse("c20k10/math-test-000042#3")
    assert (name.c, name.k, name.example_id, name.sample_idx) == (20, 10, "math-test-000042", 3)
    assert name.label == "c=20 k=10  math-test-000042 #3" and name.short == "c20k10 math-test-000042#3"
    other = StreamName.parse("0")
    assert other.c is None and other.label == "0"


def test_grid_heat_table_marks_baseline_and_oracle_alone():
    state = GuidedState()
    for summary in (cell(0, 0, 2), cell(5, 10, 3), cell(20, 10, 5), cell(5, 5, 4)):
        state.consume(ArtifactEvent(path="outputs/grid.json", kind="guided_cell", summary=summary))
    state.load_grid([{"c": 0, "k": 0, "n": 10, "correct": 8, "oracle_tokens": 900, "base_tokens": 0}])
    table = heat_table(state)
    assert table.cs == [0, 5, 20] and table.ks == [0, 5, 10]
    assert table.label(0, 0) == "◆ 20.0%" and table.label(5, 10) == "30.0%" and table.label(5, 0) == ""
    assert state.oracle_alone is not None and state.oracle_alone.accuracy == 0.8  # derived from correct / n
    assert (table.low, table.high) == (0.2, 0.8)
    assert table.heat(0.2) == 0.0 and table.heat(0.8) == 1.0 and table.heat(None) is None
    lines = heat_lines(table)
    assert "oracle alone ★ 80.0%" in lines
    assert lines[2].split() == ["5", "40.0%", "30.0%"]  # row c=5: k=5 then k=10 (k=0 empty)


def test_token_rows_list_known_statistics_in_order_and_hide_the_consult_flag():
    token = GuidedState()
    token.consume(batch("s", 0, 4, oracle_at=(2,)))
    rows = dict(token_rows(token.tokens("s")[2], 2))
    assert rows["source"] == "oracle" and rows["consultation"] == "yes"
    assert rows["entropy (bits)"] == "0.2000" and rows["top-1 p"] == "0.3333"
    assert "consult" not in rows
    labels = [label for label, _ in token_rows(token.tokens("s")[2], 2)]
    assert labels.index("entropy (bits)") < labels.index("varentropy (bits²)") < labels.index("top-1 p")


def test_state_follows_an_events_file_through_the_tail(tmp_path):
    path = tmp_path / "events.jsonl"
    emitter, tail, state = Emitter(path, "guided-x"), EventTail(path), GuidedState()
    emitter.tokens("c1k2/e#0", pieces(0, 4), force=True)
    state.consume_all(tail.poll())
    assert len(state.tokens("c1k2/e#0")) == 4
    emitter.tokens("c1k2/e#0", pieces(4, 3, oracle_at=(4,)), force=True)
    emitter.artifact("outputs/grid.json", "guided_cell", cell(1, 2, 7))
    state.consume_all(tail.poll())
    assert len(state.tokens("c1k2/e#0")) == 7 and state.consultations("c1k2/e#0") == [4]
    assert state.grid[(1, 2)].accuracy == 0.7


def test_following_stays_on_a_sequence_while_it_grows_then_moves_to_the_newest():
    state = GuidedState()

    def at(ts: float, stream: str, start: int) -> None:
        state.consume(TokenBatchEvent(stream=stream, tokens=pieces(start, 2), ts=ts))

    assert state.follow_target(None) is None
    at(100.0, "a", 0)
    at(100.5, "b", 0)
    assert state.follow_target(None) == "b"  # nothing shown yet: the newest sequence
    assert state.follow_target("a") == "a"  # a batch writes both: no jumping to whichever came last
    at(101.0, "b", 2)
    at(102.9, "b", 4)
    assert state.follow_target("a", idle_s=2.0) == "b"  # a stopped growing 2.9 s ago: move on
    at(103.0, "c", 0)
    assert state.follow_target("a", idle_s=2.0) == "c" and state.follow_target("b", idle_s=2.0) == "b"
    assert state.follow_target("b", idle_s=0.0) == "c"
