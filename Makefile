# Two commands for a newcomer:  `make demo`  (set up + run the workflow on real samples)
#                               `make test`  (set up + run the test suite)
.PHONY: setup demo test lint

setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	.venv/bin/georeason demo --out demo_out

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests benchmarks
