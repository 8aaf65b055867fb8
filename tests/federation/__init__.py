"""Tests of the federation package (HTTP signatures and friends)."""
