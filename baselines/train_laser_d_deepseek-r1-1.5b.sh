#!/usr/bin/env bash
# Baseline: LASER-D, LASER with dynamic, difficulty-aware targets (arXiv 2505.15612).
#
# The target L_T depends on the prompt's difficulty bucket (its batch accuracy); every monitor_freq steps
#   each bucket's target is re-chosen as the shortest length, from lower_bound up in steps of interval and
#   at most max_length (= BUDGET), at which expected_correct correct answers still fit. Per-prompt state
#   is keyed by the dataset's extra_info.index and checkpointed.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_laser_d_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_laser_d_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.laser_d.* (each documented, with its default, in
# lead/core/methods/laser.py). Runs go to OUTPUT_ROOT/math_laser_d_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method laser_d -- "$@"
