"""tessera: configuration, the CLI and wiring (the composition root)."""
