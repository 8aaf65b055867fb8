"""Crash tests: a real ``tessera serve`` process killed with SIGKILL mid-delivery."""
