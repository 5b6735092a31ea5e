# sms-dispatch. `make dev` runs the whole stack locally; `make test` runs every check CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev demo bench test test-all test-deps lint typecheck audit unit up down logs clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## dev: create the virtual environment, install, run Redis (embedded), simulator, worker and API
dev: $(STAMP)
	$(BIN)/smsdispatch dev

## demo: a mixed batch through the running `make dev` stack (every path shows on the dashboard)
demo: $(STAMP)
	$(BIN)/smsdispatch demo

## bench: sms-dispatch against its baselines, side by side, on loopback (writes bench/results.json)
bench: $(STAMP)
	$(BIN)/python bench/run.py --soak 50000

## test-deps: Debian's chromium for the dashboard test (installed when missing, as root)
test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the dashboard test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## test: lint, type check, dependency audit and the test suite (what CI runs)
test: lint typecheck audit test-deps
	$(BIN)/pytest -m "not slow"

## test-all: the suite including the long chaos runs
test-all: lint typecheck audit test-deps
	$(BIN)/pytest

## audit: pip-audit of every installed dependency (fails on a known vulnerability)
audit: $(STAMP)
	@mkdir -p .artifacts
	@$(BIN)/pip-audit --progress-spinner off --skip-editable > .artifacts/pip-audit.txt 2>&1; \
	status=$$?; head -n 1 .artifacts/pip-audit.txt; \
	echo "pip-audit: $$(grep -c 'could not be audited' .artifacts/pip-audit.txt) packages not found by the vulnerability service (report: .artifacts/pip-audit.txt)"; \
	exit $$status

unit: $(STAMP)
	$(BIN)/pytest tests/unit

## lint: ruff, and the import contracts of the layers (import-linter, in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## up / down / logs: the same stack with Docker (docker compose)
up:
	docker compose up --build -d

down:
	docker compose down

logs:
	docker compose logs -f --tail=200

clean:
	rm -rf $(VENV) .smsd .pytest_cache .mypy_cache .ruff_cache .hypothesis
