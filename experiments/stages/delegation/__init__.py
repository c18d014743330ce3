"""The delegation stage (see experiments/stages/__init__.py for the layout)."""
