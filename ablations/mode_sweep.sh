#!/usr/bin/env bash
# LEAD's efficiency reward around the target length L* (a sweep the release lacks):
# - max_sym (the paper's): r = max(-1, 1 - |l - L*| / L*), penalising over- and under-shooting;
# - max_asym: correct answers get max(0, 1 - l/L*) (0 below 500 tokens), wrong ones clamp(1 - l/L*, -1, 0);
# - upper_only: r = max(-1, min(0, 1 - l/L*)), a penalty above L* only.
# Dynamic (controller) weights, mean_correct, bmax = BUDGET. Shared settings: those of
# ablations/ratio_sweep.sh (4,000-token cap, lr 1e-6, clip 0.2/0.28, ...).
#
# Usage:  bash ablations/mode_sweep.sh [hydra.override=value ...]
#         DRY_RUN=1 bash ablations/mode_sweep.sh
# Subset: MODES="max_sym max_asym upper_only". Runs go to OUTPUT_ROOT/math_lead_mode_<mode>_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment ablation_1p5b --sweep mode -- "$@"
