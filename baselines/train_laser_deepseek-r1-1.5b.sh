#!/usr/bin/env bash
# Baseline: LASER, "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping" (arXiv 2505.15612).
#
# r = correct + alpha * 1[correct and length <= L_T], group z-score. Knobs alpha (0.5) and target_length
#   (L_T = 4096 tokens; it must be below BUDGET for the step reward to have an effect). The paper scores
#   wrong answers -0.5; here the shared 1/0 correctness reward is used.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_laser_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_laser_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.laser.* (each documented, with its default, in
# lead/core/methods/laser.py). Runs go to OUTPUT_ROOT/math_laser_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method laser -- "$@"
