"""View models of the guided stage for the TUI (placeholder: the Guided screen's engineer provides them)."""
