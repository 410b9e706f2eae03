# Two commands matter: `make run` and `make test`. Both install into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint eval bench browser clean

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

# ruff (with the C901 complexity rule) and mypy gate the suite: a type error fails `make test` like a failing test.
test: install browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

eval: install
	$(BIN)/lumen eval

bench: install
	$(BIN)/python bench/chat_latency.py
	$(BIN)/python bench/shopify_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache lumen.db
