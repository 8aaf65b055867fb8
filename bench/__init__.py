"""Benchmarks of issue 5: Tessera against the bare ceilings of its own stack (``python -m bench.run``)."""
