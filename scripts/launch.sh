#!/usr/bin/env bash
# The launch kit's only bash: find the project's interpreter, then hand over to `lead launch`
# (lead/launch/), which reads the environment, plans, checks and launches the runs.
# A launch script calls:  exec "$(dirname "${BASH_SOURCE[0]}")/scripts/launch.sh" "$0" [options] -- "$@"
# PYTHON (environment only) names the interpreter; by default the project's .venv, else python3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=$1
shift
python=${PYTHON:-}
if [[ -z $python ]]; then
    python=python3
    [[ ! -x $root/.venv/bin/python ]] || python=$root/.venv/bin/python
fi
if ! "$python" -c 'import hydra, lead.launch' >/dev/null 2>&1; then
    echo "error: '$python' cannot import the project: run \`make setup\` (creates $root/.venv), or set PYTHON to an interpreter where it is installed (pip install -e .)" >&2
    exit 2
fi
exec "$python" -m lead.launch --root "$root" --script "$script" "$@"
