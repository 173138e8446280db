#!/usr/bin/env bash
# Baseline: DLER, "Doing Length pEnalty Right" (arXiv 2510.15110).
#
# r = 1[correct and length <= L] with L = BUDGET, group-mean baseline without std division, then
#   whitening over every response token of the batch. DLER's recipe also drops groups whose rewards are
#   all equal and samples new ones (dynamic sampling): verl's algorithm.filter_groups is on here
#   (algorithm.filter_groups.enable=false leaves it out), so a step may generate more than 128 prompts.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_dler_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_dler_deepseek-r1-1.5b.sh   # validate and print the config (CPU)
# Knobs: algorithm.dler.* (defaults in lead/verl_plugin/config/lead_trainer.yaml, documented in
# lead/core/methods/truncation.py). Runs go to OUTPUT_ROOT/math_dler_<model tag>.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

lead_setup --budget 8000 --lr 2e-6 --clip-high 0.2 --save-freq 50 --gpus 4 -- "$@"
lead_method dler
lead_plan "${RUN_NAME:-math_dler_${MODEL_TAG}}" "${METHOD_OVERRIDES[@]}" \
    algorithm.filter_groups.enable=true
lead_launch
