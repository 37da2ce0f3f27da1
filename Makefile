# Two commands for a newcomer:  `make demo`  (set up + run the workflow on real samples)
#                               `make test`  (set up + run the test suite)
.PHONY: setup demo test test-fast lint

setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	.venv/bin/georeason demo --out demo_out

test: setup
	.venv/bin/python -m pytest -q

# the edit loop: every test not marked slow (each slow test takes over ~20 s on 2 cores)
test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

lint: setup
	.venv/bin/ruff check src tests benchmarks docs/toyworld/probe_*.py
