# clipjury — `make run` starts everything on this machine, `make test` runs the suite on SQLite and
# PostgreSQL. Both set up what is missing first (Debian packages, the venv, npm packages, web assets);
# each step runs again only when its inputs change. `make help` lists every target.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
CLIPJURY := $(VENV)/bin/clipjury
WORKERS ?= 1
# Demo works `make run` generates and walks through every state (`make run DEMO_WORKS=0`: none). The first
# 17 cover every state once, the next 13 are mostly recommended (6 on the showcase in all, for the likes,
# the judges and the awards); 30 take about a minute on two busy cores, once (a second run adds nothing).
DEMO_WORKS ?= 30
# Extra arguments: `make test ARGS="-k upload -x"`, `make run ARGS="--port 8080"`.
ARGS ?=

# The built-in development secret is accepted only with CLIPJURY_ENV set explicitly (clipjury/settings.py):
# make's commands run this checkout as a development machine unless the environment or .env says otherwise.
ifeq ($(origin CLIPJURY_ENV)$(shell grep -s '^CLIPJURY_ENV=' .env),undefined)
export CLIPJURY_ENV := development
endif

PIP_STAMP := $(VENV)/.clipjury-installed
# npm writes this file on every install; it goes when node_modules goes.
NPM_STAMP := node_modules/.package-lock.json
ASSETS_STAMP := review_ui/static/build/.clipjury-built
ASSET_INPUTS := $(shell find review_ui/assets -type f 2>/dev/null) $(wildcard package.json package-lock.json scripts/build_assets.sh)

.PHONY: help setup system venv assets run test test-sqlite test-postgres bench lint migrate seed worker clean distclean

help: ## list the targets
	@echo "clipjury: make run (start everything on http://127.0.0.1:8000) | make test (suite on SQLite and PostgreSQL)"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

# -- setup ---------------------------------------------------------------------------------------

setup: system venv assets ## install what is missing (Debian packages, venv, npm packages, web assets)

system: ## install the Debian packages clipjury needs, only those missing (sudo when not root)
	@PYTHON="$(PYTHON)" scripts/setup_system.sh

venv: $(PIP_STAMP)

$(PY): | system
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependencies change.
$(PIP_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

ifneq ($(wildcard package.json),)
assets: $(NPM_STAMP) $(if $(wildcard scripts/build_assets.sh),$(ASSETS_STAMP))

$(NPM_STAMP): $(wildcard package.json package-lock.json) | system
	@# --ignore-scripts: no npm package runs code at install time (esbuild ships its binary as a dependency).
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --ignore-scripts; \
	else npm install --no-audit --no-fund --ignore-scripts; fi
	@touch $@

$(ASSETS_STAMP): $(ASSET_INPUTS) $(NPM_STAMP) | $(PIP_STAMP)
	sh scripts/build_assets.sh --no-install
	@mkdir -p $(dir $@) && touch $@
else
assets:
	@true
endif

# -- the two commands ----------------------------------------------------------------------------

run: setup ## set up, then run Redis/SeaweedFS (if not configured), migrations, demo data, workers and the API on :8000
	$(CLIPJURY) run-local --workers $(WORKERS) --demo-works $(DEMO_WORKS) $(ARGS)

test: setup ## set up, then run the test suite on SQLite and then on PostgreSQL (127.0.0.1:5432)
	$(PY) scripts/run_tests.py $(ARGS)

test-sqlite: setup ## the test suite on SQLite only
	$(PY) scripts/run_tests.py --db sqlite $(ARGS)

test-postgres: setup ## the test suite on PostgreSQL only
	$(PY) scripts/run_tests.py --db postgres $(ARGS)

# -- more ----------------------------------------------------------------------------------------

bench: setup ## run the benchmarks in bench/ (figures go to docs/benchmarks.md)
	$(PY) bench/run_all.py $(ARGS)

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy api workers review_ui public_ui storage clipjury clipjury_cli scripts bench tests

migrate: venv ## apply the database migrations (CLIPJURY_DATABASE_URL, default SQLite in var/)
	$(CLIPJURY) migrate

seed: venv ## create the demo campaign and accounts (refused in production)
	$(CLIPJURY) seed-demo

# Without configured endpoints, join the Redis and SeaweedFS that `make run` started.
worker: venv ## run one more worker (beside `make run`, or against CLIPJURY_REDIS_URL / CLIPJURY_S3_ENDPOINT_URL)
	CLIPJURY_REDIS_URL="$${CLIPJURY_REDIS_URL:-redis://127.0.0.1:6390/0}" \
	CLIPJURY_S3_ENDPOINT_URL="$${CLIPJURY_S3_ENDPOINT_URL:-http://127.0.0.1:8333}" \
	$(CLIPJURY) worker $(ARGS)

clean: ## remove caches, build output and test media (keeps var/, the venv and node_modules)
	rm -rf .pytest_cache .mypy_cache .ruff_cache review_ui/static/build bench/out test-artifacts .cache
	find . -name __pycache__ -type d -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +

distclean: clean ## also remove the venv, node_modules and var/ (the local database and stored files!)
	rm -rf $(VENV) node_modules var *.egg-info
