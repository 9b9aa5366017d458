# Courtyard: `make run` starts a server on SQLite; `make test` runs the whole suite.
# Both create the virtual environment and install the pinned dependencies first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format bench migrate migration clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install pinned dependencies

run: $(STAMP) ## Start the server on SQLite (./var) and print its URL
	$(BIN)/courtyard serve

migrate: $(STAMP) ## Apply database migrations
	$(BIN)/courtyard migrate

migration: $(STAMP) ## Write a new Alembic revision from the stores' tables: make migration MSG="..."
	$(BIN)/python -m courtyard.core.migrate "$(MSG)"

test: $(STAMP) ## Run the whole test suite (PostgreSQL/Redis/browser when configured), with coverage
	$(BIN)/pytest --cov=courtyard --cov-report=term

test-fast: $(STAMP) ## Run the suite without the browser tests
	$(BIN)/pytest -m "not e2e"

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Run the benchmarks under bench/ and print their tables
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
