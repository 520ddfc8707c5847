# `make serve` serves examples/shop on SQLite; `make test` runs lint, types and the whole suite.
# The virtualenv is created on first use; stamp files skip reinstalling until pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev

.PHONY: serve test lint clean

serve: $(RUN_STAMP)
	$(BIN)/objectql serve examples/shop

test: lint
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The dev extras include the runtime dependencies, so they satisfy `serve` too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
