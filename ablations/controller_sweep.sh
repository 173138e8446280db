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
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

PAPER_ALPHA=1
PAPER_BETA=0.95
PAPER_LAMBDA_MIN=0.3

lead_setup_ablation "$@"
mapfile -t knobs < <(lead_words "${KNOBS:-alpha beta lambda_min}")
mapfile -t alphas < <(lead_words "${ALPHAS:-0.5 1 2}")
mapfile -t betas < <(lead_words "${BETAS:-0.9 0.95 0.99}")
mapfile -t lambda_mins < <(lead_words "${LAMBDA_MINS:-0.1 0.3 0.5}")
lead_method lead

declare -A planned=()
plan_point() {
    local alpha=$1 beta=$2 lambda_min=$3 value name
    for value in "$alpha" "$beta" "$lambda_min"; do
        lead_is_number "$value" || lead_die "'$value' is not a number (ALPHAS, BETAS and LAMBDA_MINS take values >= 0)"
    done
    name="math_lead_a$(lead_name_number "$alpha")_b$(lead_name_number "$beta")_lm$(lead_name_number "$lambda_min")_${MODEL_TAG}"
    [[ -z ${planned[$name]:-} ]] || return 0
    planned[$name]=1
    lead_plan "$name" "${METHOD_OVERRIDES[@]}" "algorithm.lead.alpha=$alpha" "algorithm.lead.beta=$beta" \
        "algorithm.lead.lambda_min=$lambda_min"
}

for knob in "${knobs[@]}"; do
    case $knob in
        alpha) for v in "${alphas[@]}"; do plan_point "$v" "$PAPER_BETA" "$PAPER_LAMBDA_MIN"; done ;;
        beta) for v in "${betas[@]}"; do plan_point "$PAPER_ALPHA" "$v" "$PAPER_LAMBDA_MIN"; done ;;
        lambda_min) for v in "${lambda_mins[@]}"; do plan_point "$PAPER_ALPHA" "$PAPER_BETA" "$v"; done ;;
        *) lead_die "KNOBS: unknown knob '$knob'; choose from: alpha beta lambda_min" ;;
    esac
done
lead_launch
