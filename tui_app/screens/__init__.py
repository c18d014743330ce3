"""Screens of the console: runs (home), one run, its records, and small dialogs."""
