# The index of everything a developer (and CI) runs. `make run` and `make test` set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run dev worker create-staff migrate load-catalog test check lint fmt typecheck spec-check pytest fuzz e2e bench clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(INSTALLED) ## Create .venv with every dependency

migrate: $(INSTALLED) ## Apply migrations to DATABASE_URL (default: SQLite in var/)
	$(BIN)/alembic upgrade head

load-catalog: migrate ## Load data/catalog.yaml into the database (idempotent)
	$(BIN)/python -m core.catalog

run: load-catalog ## Serve on PORT (default 3001) with gunicorn; Swagger UI at /api/v1/ui/
	$(BIN)/gunicorn -c gunicorn.conf.py

dev: load-catalog ## Like run, one worker, reloading on code changes
	WEB_CONCURRENCY=1 LOG_FORMAT=console $(BIN)/gunicorn -c gunicorn.conf.py --reload

worker: migrate ## Run a background-job worker (sends email); run several for more throughput
	$(BIN)/python worker.py

create-staff: migrate ## Give a registered user staff rights (the admin API): make create-staff EMAIL=ada@example.com
	@test -n "$(EMAIL)" || { echo "usage: make create-staff EMAIL=someone@example.com" >&2; exit 2; }
	$(BIN)/python -m core.staff "$(EMAIL)"

test: $(INSTALLED) ## Everything CI runs: lint, types, spec, unit/integration/contract tests, live fuzz
	scripts/with-postgres $(MAKE) --no-print-directory check

check: lint typecheck spec-check pytest fuzz e2e

lint: $(INSTALLED) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(INSTALLED) ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(INSTALLED) ## mypy on the application code
	$(BIN)/mypy

REDOCLY := npx --yes @redocly/cli@2.77.0

spec-check: $(INSTALLED) ## Validate openapi/openapi.yaml and lint it with Redocly's recommended rules
	$(BIN)/openapi-spec-validator openapi/openapi.yaml
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint --format=summary openapi/openapi.yaml

pytest: $(INSTALLED) ## Unit, integration and contract tests (integration needs DATABASE_URL=postgresql...)
	$(BIN)/pytest

fuzz: $(INSTALLED) ## Schemathesis against the live gunicorn server (needs PostgreSQL)
	scripts/live-fuzz

e2e: $(INSTALLED) ## The receptionist end-to-end scripts (full, then smoke) against live gunicorn (needs PostgreSQL)
	scripts/live-e2e

bench: $(INSTALLED) ## Throughput and latency of gunicorn on PostgreSQL with 10,000 plans (wrk)
	@command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null 2>&1 || sudo apt-get install -y -qq wrk; }
	scripts/with-postgres $(BIN)/python scripts/bench.py

clean: ## Remove the venv, the SQLite database and reports
	rm -rf $(VENV) var reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
