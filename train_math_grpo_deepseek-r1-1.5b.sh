#!/usr/bin/env bash
# GRPO with a length-threshold reward on DeepSeek-R1-Distill-Qwen-1.5B: the paper's Table 1 GRPO
# baseline row.
#
# Settings: as train_math_lead_deepseek-r1-1.5b.sh (4 GPUs, MATH levels 3-5 / MATH-500, 128 prompts
# x 8 vLLM rollouts, KL loss mse 5e-4, entropy 0.001, 7 epochs, greedy MATH-500 validation before
# training and every 20 steps, wandb + console) except, as in the release's GRPO script:
# lr 1e-6, PPO clip 0.2/0.28 (clip-higher), a 2,000-token cap (BUDGET), a checkpoint every 20 steps.
# Advantage: estimator grpo_len_threshold, i.e. the group z-score (unbiased std, no batch
# whitening) of r = lambda1 * correct + lambda2 * 1[correct and length <= T], with lambda1 = lambda2 = 1
# and T = LENGTH_THRESHOLD (default 2000) tokens ("conditioned" mode).
#
# Where the release disagrees with the paper, and with the LEAD row:
# - The LEAD row was trained with lr 2e-6, clip 0.2/0.2 and an 8,000-token cap; this row with lr
#   1e-6, clip 0.2/0.28 and a 2,000-token cap, so the two rows differ in more than the method. For
#   a comparison on equal terms run BUDGET=8000 with actor_rollout_ref.actor.optim.lr=2e-6
#   actor_rollout_ref.actor.clip_ratio_high=0.2 (or use baselines/, which share LEAD's settings).
# - The release measured length as the characters of the decoded prompt AND response divided by 4;
#   here it is the exact number of response tokens. With T equal to the cap every response fits, the
#   length reward equals the correctness reward, and the advantage is plain GRPO on correctness (the
#   release's estimate put its effective threshold within a few hundred tokens of the cap, so it was
#   close to that too). The script warns when LENGTH_THRESHOLD >= BUDGET; lower the threshold or
#   raise BUDGET for an active length penalty.
# - The release asked for DAPO dynamic sampling (filter_groups) but its trainer ignored it; it is
#   off here, as in what the release actually ran (algorithm.filter_groups.enable=true turns on
#   verl's implementation).
#
# Usage:  bash train_math_grpo_deepseek-r1-1.5b.sh [hydra.override=value ...]
#         DRY_RUN=1 bash train_math_grpo_deepseek-r1-1.5b.sh   # check every run, print a summary (CPU)
# Environment: as every launch script (`--help` lists them), plus LENGTH_THRESHOLD (tokens, default 2000).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/scripts/launch.sh" "$0" --experiment math_grpo_1p5b --name math_grpo \
    --env-knob LENGTH_THRESHOLD=algorithm.grpo_len_threshold.threshold -- "$@"
