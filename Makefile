# Two commands matter: `make run` and `make test`. Both install into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint eval bench browser postgres clean

install: $(STAMP)

# Re-install only when the dependency list changes; the project itself is editable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/lumen serve

# Playwright drives Debian's chromium; its own browser download cannot work here.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; }

# The storage tests start a throwaway PostgreSQL server of their own (tests/postgres.py), so they need its programs.
# Debian's package rather than a PyPI wheel that ships the server: it is the PostgreSQL a Debian host runs in
# production (with Debian's security updates), it is the one the developers' guide names, and wheels that bundle a
# server lag PostgreSQL's releases or are maintained by one person. Its cost is apt, as root, as for chromium:
# ~19 MB, ~3 s to download and ~8 s to unpack and configure here. Debian keeps initdb and pg_ctl out of PATH, in
# /usr/lib/postgresql/VERSION/bin, so look there too; the tests find them the same way.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the storage tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null; }

# ruff (with the C901 complexity rule) and mypy gate the suite: a type error fails `make test` like a failing test.
test: install browser postgres
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

eval: install
	$(BIN)/lumen eval

# Figures, not tests: each prints what it measured with the machine's load, and asserts nothing (docs/benchmarks.md).
# The Black Friday run takes 2-4 minutes: lumen serve --workers 2 under 1,000 conversations a minute.
bench: install
	$(BIN)/python bench/chat_latency.py
	$(BIN)/python bench/shopify_throughput.py
	$(BIN)/python bench/black_friday.py

clean:
	rm -rf $(VENV) .pytest_cache lumen.db
