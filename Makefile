# Linli: `make demo` runs the console demo on SQLite (`make demo-data` only loads it and writes
# .env); `make test` runs lint and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= sqlite:///linli-demo.db

.PHONY: demo demo-data test lint install interop browser bench bench-smoke clean

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

# The .env `make demo` writes, so that the README's `linli` commands find the demo database and
# its keys (pydantic-settings reads .env from the current folder). Written only when there is
# no .env: a .env of your own is never touched. `make clean` removes it while it is unchanged.
DEMO_ENV_TEXT = printf '%s\n' '\# Written by make demo: the demo database and its ID keys (make clean removes this file while it is unchanged).' 'DATABASE_URL=$(DEMO_DB)' && cat $(DEMO_KEYS)

# The demo data without the console: migrate, load the demo community, write .env (once).
demo-data: $(STAMP) $(DEMO_KEYS)
	@if [ ! -e .env ]; then \
	  ($(DEMO_ENV_TEXT)) > .env && echo "wrote .env (the demo's DATABASE_URL and keys): the README's linli commands now use the demo"; \
	elif ! ($(DEMO_ENV_TEXT)) | cmp -s - .env; then \
	  echo "note: .env is your own and was left as it is: the README's linli commands use its settings, not the demo's"; \
	fi
	set -a && . ./$(DEMO_KEYS) && set +a && \
	DATABASE_URL=$(DEMO_DB) $(BIN)/linli db upgrade && \
	DATABASE_URL=$(DEMO_DB) $(BIN)/linli seed demo

demo: demo-data
	set -a && . ./$(DEMO_KEYS) && set +a && \
	DATABASE_URL=$(DEMO_DB) $(BIN)/linli console

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint interop browser
	$(BIN)/python -m pytest -q

# The WeChat / WeCom interop vectors (tests/test_wechat_interop.py) need two npm packages,
# installed once (again only when package-lock.json changes); without node they are skipped.
interop:
	@if command -v npm >/dev/null 2>&1; then \
	  [ tests/interop/node_modules/.package-lock.json -nt tests/interop/package-lock.json ] || \
	  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error); \
	else echo "node/npm not found: the WeChat interop tests will be skipped"; fi

# The staff desk's browser tests (tests/test_desk_browser.py) drive Debian's chromium through
# Playwright (never `playwright install`: no browser download). Installed here when it is missing
# and apt-get can run as root; otherwise those tests skip and say why.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y --no-install-recommends chromium fonts-noto-cjk >/dev/null 2>&1 || \
	   (apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium fonts-noto-cjk >/dev/null)) || \
	  echo "chromium could not be installed: the browser tests will be skipped"; \
	else echo "no /usr/bin/chromium and no root apt-get: the browser tests will be skipped"; fi

# Every benchmark in bench/ (found, not listed: bench/README.md), full size, minutes. Their smoke
# runs are part of `make test` (tests/test_bench_smoke.py); `make bench-smoke` runs just those.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(DATABASE_URL),--database-url $(DATABASE_URL))

bench-smoke: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_bench_smoke.py

clean:
	@if [ -f .env ] && [ -f $(DEMO_KEYS) ] && ($(DEMO_ENV_TEXT)) | cmp -s - .env; then \
	  rm .env && echo "removed the demo's .env"; \
	elif [ -f .env ]; then echo "left .env as it is (your own, or changed since make demo)"; fi
	rm -rf $(VENV) linli-demo.db* $(DEMO_KEYS)
