"""The fault suite: workers killed at seeded event counts, API faults through a proxy, one writer per run,
secrets and file modes, hostile inputs through whole runs. Shared machinery lives in `killer.py`, `proxy.py` and
`scripted.py`; each stage's test is short."""
