# The two set-up commands: `make demo` and `make test`. Each creates and uses .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Debian packages the tests run (hledger checks the hledger export): installed when make runs as root.
$(VENV)/.debian-installed: | $(BIN)/python
	command -v hledger >/dev/null || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hledger >/dev/null)
	if command -v hledger >/dev/null; then touch $@; else echo "note: hledger missing and not root: its tests skip"; fi

# The demo validates the e-invoices it writes with the official artifacts when they sit beside the project.
DEMO_ARTIFACTS := $(or $(INVOICEFLOW_EINVOICE_ARTIFACTS),$(wildcard ../shared/einvoice))

demo: $(VENV)/.installed
	INVOICEFLOW_EINVOICE_ARTIFACTS="$(DEMO_ARTIFACTS)" $(BIN)/invoiceflow demo

test: $(VENV)/.dev-installed $(VENV)/.debian-installed
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadgroup

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) invoiceflow.db invoiceflow.db-* .pytest_cache
