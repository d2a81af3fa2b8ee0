# Linli: `make demo` runs the console demo on SQLite; `make test` runs lint and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= sqlite:///linli-demo.db

.PHONY: demo test lint install interop bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The demo's ID-number keys: generated once for this checkout into $(DEMO_KEYS) (git-ignored,
# removed by `make clean` together with the demo database they belong to). Demo only: a real
# installation sets ID_ENCRYPTION_KEYS / ID_HASH_KEY in .env (`linli keys new`).
DEMO_KEYS ?= linli-demo.keys

$(DEMO_KEYS): | $(STAMP)
	$(BIN)/linli keys new > $(DEMO_KEYS)

demo: $(STAMP) $(DEMO_KEYS)
	set -a && . ./$(DEMO_KEYS) && set +a && \
	DATABASE_URL=$(DEMO_DB) $(BIN)/linli db upgrade && \
	DATABASE_URL=$(DEMO_DB) $(BIN)/linli seed demo && \
	DATABASE_URL=$(DEMO_DB) $(BIN)/linli console

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint interop
	$(BIN)/python -m pytest -q

# The WeChat / WeCom interop vectors (tests/test_wechat_interop.py) need two npm packages,
# installed once (again only when package-lock.json changes); without node they are skipped.
interop:
	@if command -v npm >/dev/null 2>&1; then \
	  [ tests/interop/node_modules/.package-lock.json -nt tests/interop/package-lock.json ] || \
	  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error); \
	else echo "node/npm not found: the WeChat interop tests will be skipped"; fi

bench: $(STAMP)
	$(BIN)/python -m bench.intents
	$(BIN)/python -m bench.inbound
	$(BIN)/python -m bench.broadcast
	$(BIN)/python -m bench.ratelimit

clean:
	rm -rf $(VENV) linli-demo.db* $(DEMO_KEYS)
