#!/usr/bin/env bash
# Baseline: GDPO with static weights over (correctness, LEAD's efficiency reward): LEAD minus its controller.
#
# Correctness and LEAD's efficiency reward (max_sym around L* = mean correct length, bmax = BUDGET) are
#   z-scored each in its group, summed with fixed weights w_corr, w_eff (1, 1) and whitened over the batch:
#   the same as LEAD with static_lambda_corr = w_corr / (w_corr + w_eff). The ablation that isolates
#   LEAD's controller.
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_gdpo_static_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_gdpo_static_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.gdpo_static.* (each documented, with its default, in
# lead/core/methods/gdpo_static.py). Runs go to OUTPUT_ROOT/math_gdpo_static_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method gdpo_static -- "$@"
