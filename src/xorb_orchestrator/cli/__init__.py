"""The `xorb` command: one module per command group."""
