# snsflow — every target installs what it needs first (`make setup` is idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: help setup test lint typecheck demo bench synth lint-template layers clean browser screenshot

help:
	@echo "make demo   - run the whole system locally, end to end (no AWS account)"
	@echo "make test   - lint, type-check, cfn-lint the synthesized template, run the full test suite"
	@echo "make bench  - run the benchmarks (figures in bench/results/)"
	@echo "make synth  - synthesize the CDK app with the real CDK CLI"

$(STAMP): requirements.txt requirements-dev.txt requirements-bench.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r requirements-bench.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy snsflow functions infra bench tests app.py

test: browser lint typecheck lint-template
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# Debian's Chromium, for the browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Chromium (apt-get install chromium) for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: the browser tests need Chromium: run 'sudo apt-get install chromium' (as root, make test installs it)" >&2; \
	    exit 1; \
	  fi; }

screenshot: setup browser
	$(BIN)/python -m tests.browser.screenshot docs

demo: setup
	$(BIN)/snsflow demo

# Every figure lands in bench/results/<name>.json; docs/performance.md summarises them.
bench: setup
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/handler.py
	$(BIN)/python bench/coldstart.py
	$(BIN)/python bench/calls.py
	$(BIN)/python bench/capacity.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/flood.py

# The Lambda dependencies layer, built with pip for the Lambda platform (no Docker).
layers: setup
	$(BIN)/python -m infra.layer_build

# The real CDK CLI from npm; no AWS credentials needed (the stack is environment-agnostic).
# jsii warns at length about Node 20 (what this machine has); the app runs fine on it.
synth: setup layers
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	  npx --yes aws-cdk@2 synth --quiet

# cfn-lint on the template `make synth` wrote: errors, warnings and informational findings all
# fail. Rules turned off, each with its reason: .cfnlintrc.yaml (the one place).
lint-template: synth
	$(BIN)/cfn-lint cdk.out/*.template.json

clean:
	rm -rf $(VENV) cdk.out build .mypy_cache .ruff_cache .pytest_cache .hypothesis
