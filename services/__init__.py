"""Use cases: one function per user action, owning its transaction (pages and API share them)."""
