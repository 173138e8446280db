# Fresh-machine entry points. `make lab` and `make test` create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup lab test bench verl-cpu

# CPU install: constraints.txt pins the local CPU build of torch (see README, "Install").
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	touch $@

setup: $(VENV)/.installed

lab: setup
	$(BIN)/lead lab

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_estimators.py

# Every launch script through verl's real loop on the CPU, one step each (minutes per script).
verl-cpu: setup
	PYTHON=$(abspath $(BIN))/python bash scripts/verl_cpu_all.sh
