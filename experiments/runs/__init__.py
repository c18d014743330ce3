"""The run kernel: the run store and its atomic writes, events and the emitter, the reduced run state, the worker
process layer (jobs, worker), pipelines and lineage. It knows no stage: the stage registry is handed in from the
top (`experiments.api`, the CLI, the TUI)."""
