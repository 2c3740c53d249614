.DEFAULT_GOAL := help
PY := .venv/bin/python

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

demo: ## install, migrate, load the demo network and serve at http://127.0.0.1:8000
	bash scripts/demo.sh

test: ## the whole suite: SQLite, PostgreSQL and browser tests
	bash scripts/test.sh

test-sqlite: ## the suite without the PostgreSQL half
	bash scripts/test.sh -m "not postgres"

lint: ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: ## apply ruff formatting and safe fixes
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: ## mypy over broker, solver and api
	$(PY) -m mypy

ci: ## what CI runs
	bash .ci/run

clean: ## remove the local database, caches and test artifacts
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help demo test test-sqlite lint format typecheck ci clean
