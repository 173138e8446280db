#!/usr/bin/env bash
# Baseline: HAPO, history-aware policy optimisation (arXiv 2505.11225).
#
# Each prompt remembers its shortest correct length h so far (keyed by extra_info.index, checkpointed);
#   f = cos(pi/2 * min(l/h, 2)); r = correct + w * (max(f, -0.7) if correct else min(f, 0)), 0 length term
#   before a prompt has history; group z-score. Knobs weight (1.0) and correct_floor (-0.7).
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_hapo_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_hapo_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.hapo.* (each documented, with its default, in
# lead/core/methods/hapo.py). Runs go to OUTPUT_ROOT/math_hapo_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method hapo -- "$@"
