# The project's interface. `make demo` and `make test` work on a fresh machine: both set up .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# Python 3.13 is the Lambda runtime. pyenv's shims alone do not satisfy `sam build`, so find the real interpreter.
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# The venv's bin holds python3.13 itself, which `sam build` needs on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

TEMPLATES := template.yaml stacksets/member-account.yaml stacksets/central-backup-account.yaml forwarder/organizations-events.yaml

.PHONY: help setup test test-fast lint format build deploy demo bench clean mutate

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv (Python 3.13) with the pinned toolchain and the orgbackup package

$(STAMP): requirements-dev.txt pyproject.toml package-lock.json
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install Node.js (asl-validator checks the state machine)"; exit 1; }
	npm ci --no-audit --no-fund --silent
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# The coverage report's page is tested in headless Chromium (Debian's chromium package): installed here when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: browser
setup: browser
browser: ## Install Debian's chromium (the coverage page's browser test) when it is missing
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "installing chromium with apt-get (the coverage report's browser test needs it)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }

# Tests run in parallel, one worker per core (pytest-xdist); a module's shared fixtures (xdist_group) stay on one
# worker. The slowest tests are listed at the end, so the next person sees where the time goes.
PYTEST_PARALLEL ?= -n auto --dist loadgroup
test: setup ## Run the whole test suite (unit, integration, workflow, static) in parallel
	$(BIN)/pytest $(PYTEST_PARALLEL) --durations=15

lint: setup ## ruff, mypy, cfn-lint, sam validate --lint, ASL checks, checkov, security rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint $(TEMPLATES)
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/python -m orgbackup_tools.asl_check statemachine/*.asl.json
	$(BIN)/checkov --quiet --compact --skip-download --framework cloudformation -f $(TEMPLATES)
	$(BIN)/pytest -q --no-header tests/static/test_security_guard.py  # policy as code: the security review's rules

format: setup ## Apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: setup ## sam build (works offline)
	$(BIN)/sam build --template template.yaml

deploy: build ## sam deploy with the environment in samconfig.toml
	$(BIN)/sam deploy

# Two accounts onboarded by Control Tower's events, then one of them moved out of scope (issue 12).
DEMO_EVENTS := controltower/create-managed-account.json controltower/update-managed-account.json \
	organizations/move-account-out-of-scope.json

demo: setup ## Run the onboarding workflow against an emulated organization, then move an account out of scope
	$(BIN)/orgbackup simulate $(foreach event,$(DEMO_EVENTS),--event events/$(event))

bench: setup ## Print the scale and cold-start figures
	$(BIN)/orgbackup bench

# mutmut names a mutant after its file's path (a leading src/ dropped), so the layer package is mutated through a
# src -> layers/shared link and imported from mutants/src. Not in CI: it takes most of an hour on 2 cores.
MUTATE_PYTHONPATH := src:tools
mutate: setup ## Mutation testing of the pure-logic modules against the unit tier (slow; prints the score)
	ln -sfn layers/shared src
	rm -rf mutants
	PYTHONPATH=$(MUTATE_PYTHONPATH) $(BIN)/mutmut run; status=$$?; rm -f src; test $$status -eq 0
	$(BIN)/python -m orgbackup_tools.mutation_score mutants

clean: ## Remove build output, caches and the toolchain (.venv, node_modules)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .venv node_modules mutants
