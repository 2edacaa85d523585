# convoflow — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export CONVOFLOW_DATABASE_URL ?= sqlite+aiosqlite:///./convoflow.db

.PHONY: run test lint typecheck unit bench clean

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

## make run: install, migrate the SQLite file, load the demo project and flow, serve.
run: $(VENV)/.installed
	$(BIN)/convoflow migrate
	$(BIN)/convoflow demo
	$(BIN)/convoflow serve

## make test: lint, type-check, then the whole suite on SQLite and PostgreSQL.
test: $(VENV)/.installed-dev lint typecheck
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
	rm -rf $(VENV) .pgdata convoflow.db convoflow.db-wal convoflow.db-shm .pytest_cache .mypy_cache
