"""Reports over runs: accuracy tables (`accuracy`), and whole-run reports."""
