#!/usr/bin/env bash
# Every launch script through verl's real loop on the CPU for one training step (each sweep at one
# of its points), with a table of wall times at the end: the check to run before a release
# (`make verl-cpu`). Runs go to a fresh temporary OUTPUT_ROOT; the log of a failed script is shown.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(mktemp -d "${TMPDIR:-/tmp}/lead-verl-cpu.XXXXXX")
export DEVICE=cpu OUTPUT_ROOT=$out WANDB_MODE=disabled
# One point per sweep.
export METHODS=lead RATIOS=1 AGGS=mean_all MODES=upper_only KNOBS=beta BETAS=0.9
scripts=(train_math_*.sh baselines/*.sh ablations/*.sh)
failed=0
printf '%-60s %8s %s\n' script seconds result >"$out/table"
for script in "${scripts[@]}"; do
    log=$out/$(basename "$script" .sh).log
    start=$SECONDS
    if bash "$script" trainer.total_training_steps=1 trainer.val_before_train=false >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        failed=$((failed + 1))
        tail -40 "$log"
    fi
    printf '%-60s %8d %s\n' "$script" $((SECONDS - start)) "$result" | tee -a "$out/table"
done
echo
cat "$out/table"
echo "logs and runs: $out"
exit $((failed > 0))
