#!/usr/bin/env bash
# LEAD's controller knobs, one at a time around the paper's values (a sweep the release lacks):
# - alpha, the exponent of the potentials P_c = (1 - acc)^alpha, P_e = ((1 - mean r)/2)^alpha
#   (alpha = 0 leaves the weights to the coefficients of variation alone);
# - beta, the EMA coefficient of the weights (larger: slower to follow the targets);
# - lambda_min, the floor on the correctness weight.
# The paper's point (alpha 1, beta 0.95, lambda_min 0.3) is one run; every other run changes one knob.
# Dynamic weights, max_sym, mean_correct, bmax = BUDGET. Shared settings: those of
# ablations/ratio_sweep.sh (4,000-token cap, lr 1e-6, clip 0.2/0.28, ...).
#
# Usage:  bash ablations/controller_sweep.sh [hydra.override=value ...]
#         DRY_RUN=1 bash ablations/controller_sweep.sh
# Subsets: KNOBS="alpha beta lambda_min" (which knobs to vary), ALPHAS="0.5 1 2", BETAS="0.9 0.95 0.99",
# LAMBDA_MINS="0.1 0.3 0.5". Runs go to OUTPUT_ROOT/math_lead_a<alpha>_b<beta>_lm<lambda_min>_<model tag>
# (0.95 -> 0p95), so the paper's point is planned once however many knobs include it.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment ablation_1p5b --sweep controller -- "$@"
