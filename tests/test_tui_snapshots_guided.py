"""Snapshot of the Guided screen: base and oracle tokens in two colours, a consultation under the cursor with its
statistics, and a filled heat table. Update with `pytest tests/test_tui_snapshots_guided.py --snapshot-update`."""

from __future__ import annotations

from experiments.runs.store import RunStore
from tests.guided_fixtures import cell, make_guided_run, pieces, stream_name
from tests.tui_fixtures import settle, wait_for
from tui_app.app import make_app
from tui_app.screens.guided import GuidedScreen

SIZE = (140, 32)


def test_guided_screen_snapshot(snap_compare, tmp_path):
    store, emitter = make_guided_run(tmp_path)
    emitter.tokens(stream_name(5, 3, 0), pieces(8, 13, oracle_at=(14,)), force=True)
    emitter.tokens(stream_name(20, 10, 1), pieces(0, 5, oracle_at=(0,)), force=True)
    for summary in (cell(5, 3, 3), cell(5, 10, 4), cell(20, 3, 5), cell(20, 10, 3), {**cell(0, 0, 7),
                                                                                        "policy": "oracle_only"}):
        emitter.artifact("outputs/grid.json", "guided_cell", summary)
    emitter.status("done")

    async def ready(pilot):
        await settle(pilot)
        pilot.app.push_screen(GuidedScreen(RunStore(store.dir)))
        await settle(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.selected == stream_name(20, 10, 1))
        await pilot.press("up")  # the longer sequence
        await wait_for(pilot, lambda: screen.selected == stream_name(5, 3, 0))
        await pilot.press("left_square_bracket")  # back to its last consultation
        await settle(pilot)

    app = make_app(tmp_path, refresh_interval=0, poll_interval=0)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
