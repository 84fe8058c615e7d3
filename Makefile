# scenenb: `make test` sets everything up on a fresh machine and runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip flags, e.g. PIP_FLAGS="--extra-index-url https://download.pytorch.org/whl/cpu" for a CPU-only torch elsewhere.
PIP_FLAGS ?=
PYTEST_FLAGS ?= -n 2
STAMP := $(VENV)/.installed

.PHONY: install test export clean-nbs bench

$(STAMP): settings.ini setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_FLAGS) -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install --quiet $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_FLAGS) tests

export: $(STAMP)
	$(BIN)/nbdev_export

clean-nbs: $(STAMP)
	$(BIN)/nbdev_clean

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_overhead.py
	$(BIN)/python benchmarks/data_throughput.py

# Regenerate every figure and table: the experiment notebooks with the quick profile (CPU, about 35 minutes on 2 cores).
.PHONY: reproduce
reproduce: $(STAMP)
	$(BIN)/scenenb reproduce --profile quick
