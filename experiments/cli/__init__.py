"""The command line: `main.py` (the parser built from the stage registry), `common.py` (helpers every stage's
commands share), `progress.py` (following a run), `engines.py` (serve and export commands)."""
