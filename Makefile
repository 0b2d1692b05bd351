# FVH – make help lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): $(BIN)/python requirements.lock requirements-build.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-build.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -c "from fvh.web.i18n import compile_catalogs; compile_catalogs()"
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@touch $@

install: $(RUNTIME_STAMP) ## Create .venv and install FVH from the lock file

run: $(RUNTIME_STAMP) ## Install, migrate the database and start the server (GUI + API)
	$(BIN)/fvh db upgrade
	$(BIN)/fvh serve

test: $(DEV_STAMP) ## Install and run the whole test suite
	sh installation/ci-prereqs.sh
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-quick: $(DEV_STAMP) ## The quick loop: the suite without the slow tests
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## ruff lint and format check, the layer contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

format: $(DEV_STAMP) ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(DEV_STAMP) ## Run the benchmarks (prints figures)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/inprocess.py
	$(BIN)/python benchmarks/downloads.py

lock: $(DEV_STAMP) ## Re-resolve the lock files from pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --extra dev --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements-dev.lock pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements-build.lock requirements-build.in

clean: ## Remove the virtualenv and caches (keeps data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

.PHONY: help install run test test-quick lint format bench lock clean
