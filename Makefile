# decp: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# mkdocs 1.6 prints a banner about 2.0; we pin mkdocs<2 on purpose.
export NO_MKDOCS_2_WARNING := 1

.PHONY: demo test lint docs docs-serve mermaid bench mutate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Markers record which extras are installed; pyproject.toml changes reinstall.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[template]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.demo-installed

## demo: stamp the protocol into a copy of the example dbt project and walk a session
demo: $(VENV)/.demo-installed
	$(BIN)/python scripts/demo.py

## test: lint, then every test (real Copier runs, docs build, loopback HTTP)
test: $(VENV)/.test-installed lint mermaid
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy src/decp

## docs: build the site into site/ (strict); docs-serve: live preview
docs: $(VENV)/.test-installed mermaid
	$(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.test-installed mermaid
	$(BIN)/mkdocs serve

# Diagrams need mermaid.min.js vendored from the npm registry (idempotent; needs npm).
mermaid:
	@bash scripts/fetch_mermaid.sh || echo "docs: mermaid not vendored (needs npm); diagrams will show as text"

## bench: decp vs dbt-mp on the example and shared manifests
bench: $(VENV)/.test-installed
	$(BIN)/python scripts/bench_dbt_scope.py

## mutate: seeded mutation sample of the core modules; prints the kill rate per module (slow, not in CI)
mutate: $(VENV)/.test-installed
	$(BIN)/python scripts/mutate.py

clean:
	rm -rf $(VENV) site .scratch .pytest_cache
