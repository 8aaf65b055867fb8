# Benchmarks (issue 5). `./scripts/test` is the test suite; nothing here changes it.

PYTHON ?= .venv/bin/python

.PHONY: bench bench-quick bench-deps

bench-deps:
	@test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install --quiet -e ".[bench,test]"

# Everything, about 10-15 minutes on 2 cores; rewrites docs/performance.md and its plots.
bench: bench-deps
	$(PYTHON) -m bench.run

# A 2-minute smoke run on a small database; leaves the docs alone.
bench-quick: bench-deps
	$(PYTHON) -m bench.run --quick
