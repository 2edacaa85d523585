# convoflow — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export CONVOFLOW_DATABASE_URL ?= sqlite+aiosqlite:///./convoflow.db

.PHONY: run test lint typecheck unit bench clean console browser

# The web console (web/) is built into the Python package (src/convoflow/console_dist/),
# so `convoflow serve` and a wheel carry it; rebuilt when a source file is newer.
CONSOLE_INDEX   = src/convoflow/console_dist/index.html
CONSOLE_SOURCES = $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json \
                  web/package-lock.json web/vite.config.ts web/tsconfig.json

web/node_modules/.package-lock.json: web/package-lock.json
	@./scripts/ensure-node.sh
	cd web && npm ci --prefer-offline --no-audit --no-fund --loglevel=error

$(CONSOLE_INDEX): web/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd web && npx tsc --noEmit && npx vite build --logLevel warn

console: $(CONSOLE_INDEX)

## the browser the console tests drive (Debian's chromium; never `playwright install`)
browser:
	@./scripts/ensure-chromium.sh

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "convoflow needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

## make run: install, migrate the SQLite file, load the demo project and flows, serve
## (with the fake LLM on :8099 for the AI demo flow, stopped when the server stops).
run: $(VENV)/.installed $(CONSOLE_INDEX)
	$(BIN)/convoflow migrate
	$(BIN)/convoflow demo
	$(BIN)/convoflow fake-llm --script examples/fake-llm.yaml & fake=$$!; \
	trap 'kill $$fake 2>/dev/null' EXIT INT TERM; \
	$(BIN)/convoflow serve

## make test: lint, type-check, then the whole suite on SQLite and PostgreSQL.
test: $(VENV)/.installed-dev lint typecheck $(CONSOLE_INDEX) browser
	PG_ADMIN_URL="$$(./scripts/ensure-postgres.sh)" && \
	CONVOFLOW_TEST_PG_ADMIN_URL="$$PG_ADMIN_URL" $(BIN)/pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	@echo "see BENCHMARKS.md for the commands"

clean:
	rm -rf $(VENV) web/node_modules src/convoflow/console_dist .pgdata convoflow.db convoflow.db-wal convoflow.db-shm .pytest_cache .mypy_cache
