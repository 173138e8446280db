#!/usr/bin/env bash
# GPU smoke test: two LEAD training steps of train_math_lead_deepseek-r1-1.5b.sh at a tiny scale on
# one GPU, then a five-problem `lead eval` of the step-2 checkpoint with vLLM; prints each check.
# It runs the launch script itself, with the CPU mode's command and DEVICE switched to the GPU.
#
# Usage:  bash scripts/gpu_smoke.sh                   # one GPU (CUDA_VISIBLE_DEVICES=0 if unset)
#         DEVICE=cpu bash scripts/gpu_smoke.sh        # the same run on the CPU (transformers eval)
# Environment: SMOKE_DIR (default: smoke-gpu; deleted and rewritten on each run), DATA_DIR
# (default: data/math), EVAL_DATA_DIR (default: data/eval), BASE_MODEL; missing data is
# prepared with `lead data` (downloads from the Hugging Face hub). Needs the install of docs/install.md
# (the [gpu] extra and flash-attn, or LEAD_ATTENTION=sdpa) and about 40 GB of GPU memory (estimate).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEVICE=${DEVICE:-cuda}
export N_GPUS=1
if [[ $DEVICE == cuda ]]; then
    export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
    CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES%%,*}
    backend=vllm
else
    backend=hf
fi
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=python3
    [[ ! -x .venv/bin/python ]] || PYTHON=$PWD/.venv/bin/python
fi
SMOKE_DIR=${SMOKE_DIR:-smoke-gpu}
DATA_DIR=${DATA_DIR:-data/math}
EVAL_DATA_DIR=${EVAL_DATA_DIR:-data/eval}
export PYTHON DATA_DIR
export OUTPUT_ROOT=$SMOKE_DIR/checkpoints RUN_NAME=smoke_lead BUDGET=1024 KEEP_CHECKPOINTS=

say() { printf 'gpu_smoke: %s\n' "$*"; }

rm -rf "$SMOKE_DIR"
mkdir -p "$SMOKE_DIR"
[[ -f $DATA_DIR/train.parquet && -f $DATA_DIR/test.parquet ]] || "$PYTHON" -m lead.cli data math --out "$DATA_DIR"
[[ -f $EVAL_DATA_DIR/math500.jsonl ]] || "$PYTHON" -m lead.cli data eval --out "$EVAL_DATA_DIR" --benchmarks math500

say "device $DEVICE, 1 GPU (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}), eval backend $backend"
"$PYTHON" - "$DEVICE" <<'EOF'
import sys
import torch
import transformers

print(f"gpu_smoke: torch {torch.__version__}, transformers {transformers.__version__}")
if sys.argv[1] == "cuda":
    assert torch.cuda.is_available(), "DEVICE=cuda but torch sees no GPU"
    print(f"gpu_smoke: GPU {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}")
    import vllm

    print(f"gpu_smoke: vllm {vllm.__version__}")
    try:
        import flash_attn

        print(f"gpu_smoke: flash-attn {flash_attn.__version__}")
    except ImportError as exc:
        print(f"gpu_smoke: flash-attn not importable ({exc}); training needs LEAD_ATTENTION=sdpa")
EOF

# Tiny scale: 4 prompts x 4 rollouts, 2 steps, 1,024-token responses, no validation, console logging.
bash train_math_lead_deepseek-r1-1.5b.sh \
    trainer.total_training_steps=2 \
    data.train_batch_size=4 \
    actor_rollout_ref.rollout.n=4 \
    actor_rollout_ref.actor.ppo_mini_batch_size=4 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.4 \
    trainer.val_before_train=false \
    trainer.test_freq=-1 \
    trainer.save_freq=2 \
    "trainer.logger=[console]"

run_dir=$OUTPUT_ROOT/$RUN_NAME
marker=$run_dir/latest_checkpointed_iteration.txt
[[ -f $marker && $(<"$marker") == 2 ]] || { say "FAILED: $marker does not name step 2"; exit 1; }
say "ok: 2 LEAD training steps ran; checkpoint $run_dir/global_step_2"
grep -q "lead/" "$run_dir/train.log" || { say "FAILED: no lead/* metrics in $run_dir/train.log"; exit 1; }
say "ok: lead/* metrics logged in $run_dir/train.log"

"$PYTHON" -m lead.cli eval --model "$run_dir/global_step_2/actor" --benchmarks math500 \
    --data-dir "$EVAL_DATA_DIR" --limit 5 --n 1 --max-tokens 1024 --backend "$backend" \
    --out "$SMOKE_DIR/eval" --no-progress
summary=$SMOKE_DIR/eval/math500.summary.json
"$PYTHON" - "$summary" <<'EOF'
import json
import sys

metrics = json.load(open(sys.argv[1]))["metrics"]
assert metrics["problems"] == 5, metrics
print(f"gpu_smoke: ok: lead eval graded 5 MATH-500 problems (accuracy {metrics['accuracy']:.2f}, "
      f"mean {metrics['mean_tokens']:.0f} tokens)")
EOF
say "all checks passed"
