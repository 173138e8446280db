#!/usr/bin/env bash
# Baseline: Arora & Zanette, "Training Language Models to Reason Efficiently" (arXiv 2502.04463).
#
# r = correct * (1 - alpha * sigmoid(z)), z the length z-score among the prompt's correct rollouts;
#   RLOO advantage (normalisation: rloo; grpo for the z-score). Knob alpha (0.1, the paper's script).
#
# Settings: those of train_math_lead_deepseek-r1-1.5b.sh, so that only the method differs:
# DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts x 8 vLLM rollouts,
# BUDGET = 8000-token cap, lr 2e-6, clip 0.2/0.2, KL loss mse 5e-4, entropy 0.001, 7 epochs,
# greedy MATH-500 validation before training and every 20 steps, a checkpoint every 50 steps, the
# same correctness reward (math-verify, 1/0).
#
# Usage:  bash baselines/train_efficient_reasoning_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash baselines/train_efficient_reasoning_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Knobs: algorithm.efficient_reasoning.* (each documented, with its default, in
# lead/core/methods/efficient_reasoning.py). Runs go to OUTPUT_ROOT/math_efficient_reasoning_<model tag>.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment math_1p5b --method efficient_reasoning -- "$@"
