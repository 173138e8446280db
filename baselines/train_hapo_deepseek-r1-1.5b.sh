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
#         DRY_RUN=1 bash baselines/train_hapo_deepseek-r1-1.5b.sh   # validate and print the config (CPU)
# Knobs: algorithm.hapo.* (defaults in lead/verl_plugin/config/lead_trainer.yaml, documented in
# lead/core/methods/hapo.py). Runs go to OUTPUT_ROOT/math_hapo_<model tag>.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

lead_setup --budget 8000 --lr 2e-6 --clip-high 0.2 --save-freq 50 --gpus 4 -- "$@"
lead_method hapo
lead_plan "${RUN_NAME:-math_hapo_${MODEL_TAG}}" "${METHOD_OVERRIDES[@]}"
lead_launch
