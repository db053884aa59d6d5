# Two commands for a fresh clone: `make run` (the bot with the local workspace when no Slack
# credentials are set) and `make test` (ruff, import contracts, mypy --strict, the whole suite).
# Each installs what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run sandbox test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	$(VENV)/bin/warroom run

sandbox: install
	$(VENV)/bin/warroom sandbox

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install
	bash scripts/ensure-chromium
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest

bench: install
	$(PY) bench/ack_latency.py --rate 50 --duration 15

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
