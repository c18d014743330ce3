"""The headless core: specs, run store, events, worker processes, datasets, stages, CLI. No Textual here."""
