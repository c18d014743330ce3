"""Plain-Python view models over runs (`runs`) and their records (`records`): what the TUI renders."""
