# `make serve` serves examples/shop on SQLite; `make test` runs lint, types and the whole suite.
# The virtualenv is created on first use; stamp files skip reinstalling until pyproject.toml changes.
# Both build the GraphiQL playground bundle (objectql/server/playground_bundle) first: `npm ci` installs the pinned,
# integrity-checked packages of playground/package-lock.json, once per lock file change.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NPM    ?= npm
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
PLAYGROUND_DEPS  := playground/node_modules/.stamp-ci
PLAYGROUND_BUILT := objectql/server/playground_bundle/manifest.json
PLAYGROUND_SRC   := playground/build.mjs $(wildcard playground/src/*)

.PHONY: serve test lint playground floors clean

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

# The test, browser and lint extras (not bench: no plotting libraries) include the runtime dependencies,
# so they satisfy `serve` too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,browser,lint]'
	touch $@ $(RUN_STAMP)

playground: $(PLAYGROUND_BUILT)

# The dependency floors of pyproject.toml are real: install the oldest allowed releases
# (constraints/floors.txt) into their own virtualenv and run the engine and GraphQL suites on them.
FLOORS_VENV := .venv-floors
floors: playground
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOORS_VENV)/bin/python -m pip install --quiet -c constraints/floors.txt -e '.[test]'
	$(FLOORS_VENV)/bin/pytest -p no:cacheprovider tests/engine tests/graphql

# npm ci starts from an empty node_modules, so the stamp inside it goes whenever it reinstalls.
$(PLAYGROUND_DEPS): playground/package-lock.json playground/package.json
	cd playground && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

# The build empties the bundle directory and writes manifest.json (naming the bundle's files) last.
$(PLAYGROUND_BUILT): $(PLAYGROUND_DEPS) $(PLAYGROUND_SRC)
	cd playground && $(NPM) run --silent build

clean:
	rm -rf $(VENV) $(FLOORS_VENV) .mypy_cache .pytest_cache .ruff_cache playground/node_modules objectql/server/playground_bundle
