# Two commands for a newcomer: `make run` (server on the embedded SQLite default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make run` listens: `make run PORT=9100` (a make variable on the command line) wins; otherwise
# sanctum-mcp itself reads SANCTUM_MCP_HOST / SANCTUM_MCP_PORT, then 127.0.0.1:9000. A HOST or PORT
# that is merely exported for some other program (zsh sets HOST) is not taken as ours.
given = $(if $(filter command line,$(origin $(1))),$(2) $($(1)))
ADDRESS = $(call given,HOST,--host) $(call given,PORT,--port)

.PHONY: run run-stdio test test-long bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/sanctum-mcp serve --transport http $(ADDRESS) --trust-loopback

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
