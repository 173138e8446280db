#!/usr/bin/env bash
# Baseline: ALP, adaptive length penalty ("Just Enough Thinking", arXiv 2506.05256).
#
# r = correct - beta * l * max(p, 1/K), p the prompt's solve rate over its K rollouts; group z-score.
#   Knob beta (1e-7).
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_alp_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_alp_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.alp.* (each documented, with its default, in
# lead/core/methods/alp.py). Runs go to OUTPUT_ROOT/math_alp_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method alp -- "$@"
