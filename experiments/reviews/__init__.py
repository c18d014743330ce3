"""The human review layer: verdicts a person gives to records, kept apart from the rule and judge verdicts."""
