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
#         DRY_RUN=1 bash baselines/train_dler_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.dler.* (each documented, with its default, in
# lead/core/methods/truncation.py). Runs go to OUTPUT_ROOT/math_dler_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method dler --set algorithm.filter_groups.enable=true -- "$@"
