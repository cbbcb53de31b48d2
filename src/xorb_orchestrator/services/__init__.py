"""Domain logic used by the API, the CLI and activities."""
