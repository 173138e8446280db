#!/usr/bin/env bash
# The paper's Table 2: the reward ratio R = efficiency weight / correctness weight, for GRPO with a
# length reward and for LEAD with static weights (LEAD without its controller), R in {0, 0.25, 0.5,
# 1, 2, 4}. Both methods use the weights (w_corr, w_len) = (1/(1+R), R/(1+R)), i.e. (1, 0), (.8, .2),
# (.667, .333), (.5, .5), (.333, .667), (.2, .8):
# - grpo: estimator grpo_len_threshold, r = w_corr * correct + w_len * 1[length <= T] ("classic":
#   whatever the correctness), T = LENGTH_THRESHOLD exact response tokens (unset: the method's 2000,
#   scaled down with every other token knob in CPU mode), group z-score;
# - lead: estimator lead with algorithm.lead.static_lambda_corr = w_corr (lambda_e = 1 - w_corr),
#   max_sym, mean_correct, bmax = BUDGET.
# Shared settings (the release's ablation scripts): DeepSeek-R1-Distill-Qwen-1.5B, 4 GPUs, 128 x 8
# rollouts, a 4,000-token cap (BUDGET), lr 1e-6, clip 0.2/0.28, KL loss mse 5e-4, entropy 0.001,
# 7 epochs, validation on MATH-500 every 20 steps, a checkpoint every 50 steps and at the last.
#
# Where the release differs: it measured length as characters/4 of prompt plus response (exact
# response tokens here); it computed the weights with a hard-coded interpreter path that fails on any
# other machine; it asked for DAPO dynamic sampling that its trainer ignored (off here too); it
# deleted any partial run and started it again, and counted a run as finished at step 450 of 462.
# Here a finished run (its final step checkpointed) is skipped and a partial one resumes.
#
# Usage:  bash ablations/ratio_sweep.sh [hydra.override=value ...]     (overrides apply to every run)
#         DRY_RUN=1 bash ablations/ratio_sweep.sh     # list the runs and validate each configuration
# Subsets: METHODS="grpo lead" (the README's LEAD-static column: METHODS=lead), RATIOS="0 0.25 0.5 1 2 4",
# LENGTH_THRESHOLD=2000. Runs go to OUTPUT_ROOT/math_<method>_ratio<R>_<model tag> (0.25 -> 0p25).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/launch.sh" "$0" --experiment ablation_1p5b --sweep ratio -- "$@"
