#!/usr/bin/env bash
# Baseline: GRPO-lambda, "Stable Reinforcement Learning for Efficient Reasoning" (arXiv 2505.18086).
#
# The ceil(fraction * G) most accurate prompts of the batch get Arora & Zanette's length-penalised
#   reward correct * (1 - alpha * sigmoid(z)), the others plain correctness; group z-score. Knobs fraction
#   (0.2) and alpha (0.1).
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_grpo_lambda_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_grpo_lambda_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.grpo_lambda.* (each documented, with its default, in
# lead/core/methods/grpo_lambda.py). Runs go to OUTPUT_ROOT/math_grpo_lambda_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method grpo_lambda -- "$@"
