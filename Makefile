# Two commands on a fresh machine: `make demo` and `make test`. Both create the
# virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/podium demo

lint: setup
	$(BIN)/ruff check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

test: lint typecheck unit

bench: setup
	$(BIN)/python benchmarks/bench_runtime.py
	$(BIN)/python benchmarks/bench_runs.py
	$(BIN)/python benchmarks/bench_events.py
	$(BIN)/python benchmarks/bench_activity.py
	$(BIN)/python benchmarks/bench_isolation.py
	$(BIN)/python benchmarks/bench_integration.py
	$(BIN)/python benchmarks/bench_queue.py
	$(BIN)/python benchmarks/bench_costs.py
	$(BIN)/python benchmarks/bench_warm_pool.py --agents 100

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
