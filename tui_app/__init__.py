"""The confconsole terminal UI (Textual). Reads runs through `experiments`; never imports `backends`."""
