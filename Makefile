# Two commands for a newcomer: `make run` (server on the embedded SQLite default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 9000

.PHONY: run run-stdio test test-long bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/sanctum-mcp serve --transport http --host $(HOST) --port $(PORT) --trust-loopback

run-stdio: $(BIN)/.installed
	$(BIN)/sanctum-mcp serve --transport stdio

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-long: $(BIN)/.installed
	$(BIN)/python -m pytest --runslow $(PYTEST_ARGS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
