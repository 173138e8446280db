#!/usr/bin/env bash
# Baseline: Truncation with ThinkPrune's iterative cap schedule (arXiv 2504.01296).
#
# r = 1[correct and length <= L(t)], group z-score. ThinkPrune prunes 4K -> 3K -> 2K tokens; here the
#   caps are BUDGET, 3/4 BUDGET from step 180 and 1/2 BUDGET from step 360 (exactly 4000/3000/2000 with
#   BUDGET=4000). Plain truncation at BUDGET: algorithm.truncation.schedule=[]. Knobs max_length (= BUDGET)
#   and schedule.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_truncation_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_truncation_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.truncation.* (each documented, with its default, in
# lead/core/methods/truncation.py). Runs go to OUTPUT_ROOT/math_truncation_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method truncation -- "$@"
