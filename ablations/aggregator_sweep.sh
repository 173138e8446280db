#!/usr/bin/env bash
# The paper's Table 3: how LEAD's per-prompt target length L* is taken from a group's rollouts:
# mean_correct (the paper's default), min_correct, median_correct (of the correct lengths), or
# mean_all (of all lengths). Dynamic (controller) weights, max_sym, bmax = BUDGET.
# Shared settings: those of ablations/ratio_sweep.sh (4,000-token cap, lr 1e-6, clip 0.2/0.28, ...).
#
# Where the release differs: its sweep had no mean_correct run and took that row from the main LEAD
# run, which differs in cap (8,000), lr (2e-6) and clip (0.2/0.2); here mean_correct is run with the
# sweep's settings so the rows differ only in the aggregator. Its runs set bmax 8,000 under a
# 4,000-token cap, so unsolved prompts got an efficiency reward of l/8000; here bmax = BUDGET. Its
# "finished" test looked for steps 460/461, which it never saved, so it always trained again.
#
# Usage:  bash ablations/aggregator_sweep.sh [hydra.override=value ...]
#         DRY_RUN=1 bash ablations/aggregator_sweep.sh
# Subset: AGGS="mean_correct min_correct median_correct mean_all".
# Runs go to OUTPUT_ROOT/math_lead_agg_<aggregator>_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment ablation_1p5b --sweep aggregator -- "$@"
