#!/usr/bin/env bash
# Baseline: GRPO with the LEAD paper's global length-threshold reward, at LEAD's settings.
#
# r = lambda1 * correct + lambda2 * 1[correct and length <= T] (T = 2000 exact response tokens,
#   "conditioned"), group z-score. Unlike the paper's GRPO row (train_math_grpo_deepseek-r1-1.5b.sh,
#   trained with a 2,000-token cap, lr 1e-6 and clip 0.2/0.28), this run shares LEAD's settings, and
#   with an 8,000-token cap the length reward is active.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_grpo_len_threshold_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_grpo_len_threshold_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.grpo_len_threshold.* (each documented, with its default, in
# lead/core/methods/grpo_len_threshold.py). Runs go to OUTPUT_ROOT/math_grpo_len_threshold_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method grpo_len_threshold -- "$@"
