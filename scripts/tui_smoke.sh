#!/usr/bin/env bash
# Operator smoke test: drive the real `confconsole` TUI in tmux on a fresh home, as a person would.
#
#   scripts/tui_smoke.sh            # uses `confconsole` (or CONFCONSOLE="python -m tui_app.entry")
#   KEEP=1 scripts/tui_smoke.sh     # keep the home and print where it is
#
# 1. a tiny demo (3 questions, 4 tokens) runs headless: inference -> grading -> tagging;
# 2. the TUI opens in tmux; the grading run's records are opened from the Runs screen (arrow keys, `o`);
# 3. `v` opens the review queue; three records are marked by keyboard (c, w, c); the app quits (q);
# 4. reviews.jsonl holds three marks; the TUI is opened again: the records screen counts 3 reviewed and the
#    queue says 3 of 3; `confconsole agreement` and `export --format reviewed` read the same reviews.
# Exits non-zero, with the last screen printed, at the first step that does not show what it should.
set -euo pipefail

CONFCONSOLE=${CONFCONSOLE:-confconsole}
TIMEOUT=${SMOKE_TIMEOUT:-60}
command -v tmux >/dev/null || { echo "tui_smoke: tmux is not installed" >&2; exit 77; }

home=$(mktemp -d "${TMPDIR:-/tmp}/confconsole-smoke.XXXXXX")
session="ccsmoke-$$"
socket="ccsmoke-$$"  # a private tmux server: nothing of the caller's tmux is touched
export CONFCONSOLE_HOME="$home"
tm() { tmux -L "$socket" "$@"; }
cleanup() {
    tm kill-server 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "home kept: $home"; else rm -rf "$home"; fi
}
trap cleanup EXIT

screen() { tm capture-pane -p -t "$session" 2>/dev/null || true; }
fail() { echo "tui_smoke: FAILED: $*" >&2; echo "----- last screen -----" >&2; screen >&2; exit 1; }
wait_for() {  # wait_for REGEX WHAT: poll the pane until REGEX shows
    local deadline=$((SECONDS + TIMEOUT))
    until screen | grep -Eq -- "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$2 (no /$1/ on screen after ${TIMEOUT}s)"
        sleep 0.2
    done
}
keys() { tm send-keys -t "$session" "$@"; }
escape() {  # a lone escape: the app waits a moment to tell it from the start of an escape sequence (alt+key)
    keys Escape
    sleep 0.5
}
quit_app() {  # q, then wait for the app (and so the tmux session) to end
    keys q
    for _ in $(seq 1 50); do tm has-session -t "$session" 2>/dev/null || return 0; sleep 0.2; done
    fail "q did not quit the app"
}
open_grading_records() {  # start the TUI, put the cursor on the grading run, open its records
    # the environment goes in the command: a tmux server keeps the environment it started with
    tm new-session -d -s "$session" -x 200 -y 50 \
        "env CONFCONSOLE_HOME='$home' PYTHONPATH='${PYTHONPATH:-}' TERM=xterm-256color $CONFCONSOLE"
    # a pipeline's steps show as `└ STEP` rows under it (a run outside a pipeline by its id)
    wait_for "└ grading" "the Runs screen lists the grading step"
    local position  # rows between the table's header and the grading step, as the screen shows them
    position=$(screen | awk '/ stage +status/ && !h {h = NR} /└ grading/ && h {print NR - h - 1; exit}')
    [ -n "$position" ] || fail "the grading run is not in the runs table"
    for _ in $(seq 1 "$position"); do keys Down; done
    keys o
    wait_for "records of $grading" "the Records screen of the grading run opens"
    wait_for " all 3 " "the records are counted"
}

echo "== [${SECONDS}s] demo (3 questions, 4 tokens) in $home"
$CONFCONSOLE demo --limit 3 --max-tokens 4 --quiet >"$home/demo.log" 2>&1 || { cat "$home/demo.log" >&2; exit 1; }
grading=$(ls "$home/runs" | grep '^grading-' | head -n 1)
[ -n "$grading" ] || fail "the demo made no grading run"
echo "== [${SECONDS}s] review three records of $grading"
open_grading_records
keys v
wait_for "0 of 3 reviewed" "the review queue opens"
keys c
wait_for "1 of 3 reviewed" "c marks the first record correct"
keys w
wait_for "2 of 3 reviewed" "w marks the second record wrong"
keys c
wait_for "3 of 3 reviewed" "c marks the third record correct"
escape
wait_for "reviewed 3" "the Records screen counts the reviews"
escape
wait_for "stage +status +progress" "escape goes back to the Runs screen"
quit_app
marks=$(grep -c '"op": "mark"' "$home/runs/$grading/reviews.jsonl" || true)
[ "$marks" = 3 ] || fail "reviews.jsonl holds $marks marks, not 3"
echo "== [${SECONDS}s] reopen: the reviews are still there"
open_grading_records
wait_for "reviewed 3" "the reopened Records screen counts 3 reviewed"
keys v
wait_for "3 of 3 reviewed" "the reopened review queue says 3 of 3"
escape
escape
quit_app
echo "== [${SECONDS}s] the same reviews, headless"
$CONFCONSOLE agreement "$grading" | tee "$home/agreement.txt"
grep -q "human vs rule" "$home/agreement.txt" || fail "agreement shows no human vs rule table"
$CONFCONSOLE export "$grading" --format reviewed --out "$home/reviewed.jsonl"
[ "$(wc -l <"$home/reviewed.jsonl")" -eq 3 ] || fail "the reviewed export does not hold 3 rows"
echo "tui_smoke: OK"
