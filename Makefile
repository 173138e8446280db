# Fresh-machine entry points. `make train`, `make lab` and `make test` create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

VLLM_VENV ?= .venv-vllm

.PHONY: setup train lab test bench docs verl-cpu vllm-env test-vllm

# CPU install: constraints.txt pins the local CPU build of torch (see docs/install.md).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# The paper's LEAD run; where the environment's torch sees no GPU, verl's real loop on the CPU at a
# tiny scale (DEVICE=cpu). A node with an NVIDIA driver and a CUDA build of torch stays on the GPU
# path even when torch sees no GPU (a driver too old for torch's CUDA): the launcher says why. A rerun resumes; ARGS passes Hydra overrides, e.g.
# `make train ARGS="trainer.total_training_steps=4"` trains a finished CPU run two steps further.
ARGS ?=
train: setup
	@if [ -z "$${DEVICE:-}" ] && ! $(BIN)/python -c "import shutil, sys, torch; \
		sys.exit(not (torch.cuda.is_available() or (torch.version.cuda and shutil.which('nvidia-smi'))))"; then \
		export DEVICE=cpu; echo "make train: torch sees no GPU, so DEVICE=cpu: verl's real loop on the CPU at a tiny scale"; \
	fi; LEAD_RERUN="make train" PYTHON=$(abspath $(BIN))/python bash train_math_lead_deepseek-r1-1.5b.sh $(ARGS)

lab: setup
	$(BIN)/lead lab

test: setup
	$(BIN)/python -m pytest -q

# Style and unused code, by ruff (configured in pyproject.toml); `ruff format .` applies the format.
.PHONY: lint
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/bench_estimators.py

# Rewrite the docs' generated tables (methods, knobs, environment, recipes, scripts, sweeps, presets) from the code.
docs: setup
	$(BIN)/python -m lead.docs

# Every launch script through verl's real loop on the CPU, one step each (minutes per script).
verl-cpu: setup
	PYTHON=$(abspath $(BIN))/python bash scripts/verl_cpu_all.sh

# The vLLM lane: vLLM 0.24.0's CPU build with torch 2.11.0 in $(VLLM_VENV) (about 2.7 GB of downloads,
# 7 GB of disk), then verl's vLLM rollout and `lead eval`'s vLLM and server backends on the CPU.
$(VLLM_VENV)/.installed: pyproject.toml constraints-vllm.txt scripts/setup_vllm_env.sh scripts/vllm_cpu_env.py
	VENV=$(VLLM_VENV) PYTHON=$(PYTHON) bash scripts/setup_vllm_env.sh

vllm-env: $(VLLM_VENV)/.installed

test-vllm: vllm-env
	$(VLLM_VENV)/bin/python -m pytest -q tests_vllm
