#!/usr/bin/env bash
# Baseline: Kimi k1.5's length reward (arXiv 2501.12599).
#
# lambda = 1/2 - (l - l_min)/(l_max - l_min) within the group; r = correct + w * (lambda if correct else
#   min(0, lambda)), group z-score. Knobs weight (0.4) and warmup_steps (0: the paper warms up but gives
#   no count).
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_kimi_len_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_kimi_len_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.kimi_len.* (each documented, with its default, in
# lead/core/methods/kimi_len.py). Runs go to OUTPUT_ROOT/math_kimi_len_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method kimi_len -- "$@"
