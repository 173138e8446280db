#!/usr/bin/env bash
# Baseline: GRPO on correctness alone (verl's built-in estimator), the length-blind control.
#
# Group z-score of the 0/1 correctness reward (unbiased std), no length signal: what every length
#   method is measured against at the same budget.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_grpo_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_grpo_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: verl's algorithm.norm_adv_by_std_in_grpo (true: divide by the group std). Runs go to
# OUTPUT_ROOT/math_grpo_plain_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method grpo --name math_grpo_plain -- "$@"
