# `make serve` serves examples/shop on SQLite; `make test` runs lint, types and the whole suite.
# The virtualenv is created on first use; stamp files skip reinstalling until pyproject.toml changes.
# Both build the GraphiQL playground bundle (playground/dist) first: `npm ci` installs the pinned,
# integrity-checked packages of playground/package-lock.json, once per lock file change.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NPM    ?= npm
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
PLAYGROUND_DEPS  := playground/node_modules/.stamp-ci
PLAYGROUND_BUILT := playground/dist/manifest.json
PLAYGROUND_SRC   := playground/build.mjs $(wildcard playground/src/*)

.PHONY: serve test lint playground clean

serve: $(RUN_STAMP) playground
	$(BIN)/objectql serve examples/shop --dev

test: lint playground
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

playground: $(PLAYGROUND_BUILT)

# npm ci starts from an empty node_modules, so the stamp inside it goes whenever it reinstalls.
$(PLAYGROUND_DEPS): playground/package-lock.json playground/package.json
	cd playground && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

# The build empties dist/ and writes manifest.json (naming the bundle's files) last.
$(PLAYGROUND_BUILT): $(PLAYGROUND_DEPS) $(PLAYGROUND_SRC)
	cd playground && $(NPM) run --silent build

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache playground/node_modules playground/dist
