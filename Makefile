# The index of everything a developer (and CI) runs. `make run` and `make test` set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# `$(DB) CMD` runs CMD against DATABASE_URL or, when that is unset, the embedded PostgreSQL in var/postgres
# (started for CMD unless it is running already).
EMBEDDED_DB := $(BIN)/python -m cli.embedded_db
DB := $(EMBEDDED_DB) run --
RELEASE := $(BIN)/alembic upgrade head && $(BIN)/python -m cli.catalog

.DEFAULT_GOAL := help
.PHONY: help install run replicas dev worker create-staff migrate migration load-catalog psql test lint fmt typecheck spec-check docs pytest fuzz e2e sdk bench bench-scale clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(INSTALLED) ## Create .venv with every dependency (the embedded PostgreSQL among them)

run: $(INSTALLED) ## The whole system: embedded PostgreSQL, migrations, catalog, web on PORT (3001) and worker
	@$(MAKE) -s --no-print-directory docs || echo "$(DOCS_MISSING)" >&2
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(EMBEDDED_DB) run --lock -- bash -c '$(RELEASE) && exec honcho start'

replicas: $(INSTALLED) ## Like run, with REPLICAS (2) web servers and workers on one Redis, behind HAProxy on PORT
	@scripts/replicas $(REPLICAS)

dev: $(INSTALLED) ## Like run, but only the web server: one process, reloading on code changes
	@$(MAKE) -s --no-print-directory docs || echo "$(DOCS_MISSING)" >&2
	@$(EMBEDDED_DB) run --lock -- bash -c '$(RELEASE) && WEB_CONCURRENCY=1 LOG_FORMAT=console exec $(BIN)/gunicorn -c gunicorn.conf.py --reload'

worker: $(INSTALLED) ## One more background-job worker (make run starts one); run several for throughput
	$(DB) $(BIN)/python worker.py

migrate: $(INSTALLED) ## Apply migrations to DATABASE_URL (default: the embedded PostgreSQL)
	$(DB) $(BIN)/alembic upgrade head

migration: $(INSTALLED) ## Write the next migration from the models' difference to the database: make migration MSG="add widgets"
	@test -n "$(MSG)" || { echo 'usage: make migration MSG="what it changes"' >&2; exit 2; }
	$(DB) bash -c '$(BIN)/alembic upgrade head && $(BIN)/alembic revision --autogenerate -m "$(MSG)" --rev-id "$$(printf %04d $$(( $$(ls migrations/versions | grep -c "^[0-9]") + 1 )))"'

load-catalog: $(INSTALLED) ## Migrate, then load data/catalog.yaml into the database (idempotent)
	$(DB) bash -c '$(RELEASE)'

create-staff: $(INSTALLED) ## Give a registered user staff rights (the admin API): make create-staff EMAIL=ada@example.com
	@test -n "$(EMAIL)" || { echo "usage: make create-staff EMAIL=someone@example.com" >&2; exit 2; }
	$(DB) bash -c '$(BIN)/alembic upgrade head && $(BIN)/python -m cli.staff "$(EMAIL)"'

psql: $(INSTALLED) ## A psql shell on DATABASE_URL (default: the embedded PostgreSQL)
	@$(DB) bash -c 'exec "$$($(BIN)/python -m cli.embedded_db bindir)/psql" "$${DATABASE_URL/+psycopg2/}"'

test: $(INSTALLED) ## Everything CI runs (lint, types, spec, pytest, live fuzz, e2e, sdk) on a throwaway PostgreSQL
	@scripts/with-postgres scripts/test-all

lint: $(INSTALLED) ## ruff lint and format check; the import rules (import-linter contracts in pyproject.toml); the workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@for workflow in .github/workflows/*.yml; do echo "action-validator $$workflow"; $(ACTION_VALIDATOR) $$workflow || exit 1; done

fmt: $(INSTALLED) ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(INSTALLED) ## mypy on the application code
	$(BIN)/mypy

# The GitHub workflows, checked against GitHub's workflow schema (actionlint ships no wheel or offline build).
ACTION_VALIDATOR := npx --yes @action-validator/cli@0.6.0
REDOCLY := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --yes @redocly/cli@2.77.0
# Spectral and the OWASP ruleset, pinned by tools/spectral/package-lock.json (npm ci, from npm's cache when it
# can); .spectral.yaml extends the ruleset by package name, found through NODE_PATH.
SPECTRAL_DIR := tools/spectral
SPECTRAL_INSTALLED := $(SPECTRAL_DIR)/node_modules/.installed
SPECTRAL := NODE_PATH=$(CURDIR)/$(SPECTRAL_DIR)/node_modules $(SPECTRAL_DIR)/node_modules/.bin/spectral
# The breaking-change gate: tools/spec-diff/gate.js (api-smart-diff, pinned by its package-lock.json) compares the
# spec with the last release (tag vX.Y.Z of CHANGELOG.md's newest version); README, "Releases and versioning".
SPEC_DIFF_DIR := tools/spec-diff
SPEC_DIFF_INSTALLED := $(SPEC_DIFF_DIR)/node_modules/.installed
# The API reference served at /api/v1/docs: built from the spec, never committed (build/ is git-ignored).
DOCS_HTML := build/docs/index.html
DOCS_MISSING := make docs failed (it needs Node.js's npx): /api/v1/docs answers 404 until it is built

spec-check: $(INSTALLED) $(SPECTRAL_INSTALLED) $(SPEC_DIFF_INSTALLED) ## Validate openapi/openapi.yaml; lint it with Redocly (recommended) and Spectral (OWASP); no unmarked breaking change since the last release
	$(BIN)/openapi-spec-validator openapi/openapi.yaml
	$(REDOCLY) lint --format=summary openapi/openapi.yaml
	$(SPECTRAL) lint --ruleset=.spectral.yaml --fail-severity=warn --display-only-failures openapi/openapi.yaml
	node $(SPEC_DIFF_DIR)/gate.js

$(SPECTRAL_INSTALLED): $(SPECTRAL_DIR)/package.json $(SPECTRAL_DIR)/package-lock.json
	npm ci --prefix $(SPECTRAL_DIR) --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(SPEC_DIFF_INSTALLED): $(SPEC_DIFF_DIR)/package.json $(SPEC_DIFF_DIR)/package-lock.json
	npm ci --prefix $(SPEC_DIFF_DIR) --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

docs: $(INSTALLED) $(DOCS_HTML) ## Build the API reference (Redoc, one offline HTML file) that /api/v1/docs serves

# From the public contract (the spec without its x-internal parts: web/spec.py `public`), as /api/v1/openapi.json.
$(DOCS_HTML): openapi/openapi.yaml redocly.yaml web/spec.py
	@mkdir -p $(@D)
	$(BIN)/python -m web.spec $(@D)/openapi.public.yaml
	$(REDOCLY) build-docs --inlineBundle --output=$@.tmp $(@D)/openapi.public.yaml
	mv $@.tmp $@

pytest: $(INSTALLED) docs ## Unit, integration, system and contract tests (needs DATABASE_URL: make test sets one)
	$(BIN)/pytest

fuzz: $(INSTALLED) ## Schemathesis against the live gunicorn server (needs DATABASE_URL)
	scripts/live-fuzz

e2e: $(INSTALLED) ## The receptionist end-to-end scripts (full, then smoke) against live gunicorn (needs DATABASE_URL)
	scripts/live-e2e

sdk: $(INSTALLED) ## SDKs from the served URL of live gunicorn: generated, packaged into build/sdk/ (wheel, npm), installed and run against it (needs DATABASE_URL)
	scripts/live-sdk

bench: $(INSTALLED) ## Switchboard beside a plain Flask baseline, 10,000 plans: instructions/request (callgrind) and wrk (BENCH_COUNT=only: the counts alone, a few minutes; BENCH_COUNT=0: wrk alone; BENCH_ONLY=text: some endpoints; BENCH_PROFILE=1: py-spy)
	@test "$(BENCH_COUNT)" = only || command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null 2>&1 || sudo apt-get install -y -qq wrk; }
	@test "$(BENCH_COUNT)" = 0 || command -v valgrind >/dev/null || { echo "installing valgrind"; apt-get install -y -qq valgrind >/dev/null 2>&1 || sudo apt-get install -y -qq valgrind; }
	scripts/with-postgres $(BIN)/python scripts/bench.py

bench-scale: $(INSTALLED) ## Every list on a small and a large database (1M calls, audit events, jobs), EXPLAIN, job claim, worker jobs/s
	scripts/with-postgres $(BIN)/python scripts/bench_scale.py
	scripts/with-postgres $(BIN)/python scripts/bench_jobs.py

clean: ## Remove the venv, var/ (the embedded database, development keys and mail), build/ and reports
	@test ! -d var/postgres || $(EMBEDDED_DB) stop
	rm -rf $(VENV) var build $(SPECTRAL_DIR)/node_modules reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
