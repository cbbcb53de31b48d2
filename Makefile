# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The exact versions CI tested: `make install` installs these, `make lock` refreshes them.
LOCK   := requirements.lock

.PHONY: install run demo test lint format lock clean screenshots

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint $(LOCK) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/xorb dev

# `make run` with the console walkthrough's demo policy and playbook (README, Quickstart).
DEMO := docs/examples/console-demo
demo: $(STAMP)
	XORB_POLICY_FILE=$(DEMO)/policy.yaml XORB_PLAYBOOKS_DIR=$(DEMO)/playbooks \
	XORB_NOTIFY_WEBHOOK_URLS=$${XORB_NOTIFY_WEBHOOK_URLS:-http://127.0.0.1:9000/hook} $(BIN)/xorb dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

# Two processes: most tests wait on Temporal timers and real tools, so the suite takes about half the time.
test: lint
	$(BIN)/pytest -n 2

# The console's pages as the README shows them (docs/console/), taken by the browser tests in Chromium.
screenshots: $(STAMP)
	XORB_SCREENSHOTS_DIR=docs/console $(BIN)/pytest -q tests/browser

# Resolve pyproject.toml's ranges afresh in a clean environment and pin the result (commit the file).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[test,bench]'
	{ echo "# Exact versions for 'make install' (pip --constraint). Regenerate with 'make lock'."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^xorb-orchestrator'; } > $(LOCK)
	rm -rf .lock-venv build
	@echo "wrote $(LOCK); review and commit it"

clean:
	rm -rf $(VENV) .lock-venv .pytest_cache .mypy_cache .ruff_cache
