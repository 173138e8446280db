# shellcheck shell=bash
# Shared by the launch scripts, the baselines and the ablation sweeps: environment handling, the
# paper's common training settings, and planning, validating and launching runs. A script sources
# this file, calls lead_setup with its own defaults, plans one or more runs with lead_plan and
# hands them to lead_launch:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"
#   lead_setup --budget 8000 --lr 2e-6 --clip-high 0.2 --save-freq 50 -- "$@"
#   lead_method lead
#   lead_plan "math_lead_${MODEL_TAG}" "${METHOD_OVERRIDES[@]}"
#   lead_launch
#
# Environment (from the caller, or from .env in the repository root when present; the caller's
# values win over the file's, and relative paths are taken from the repository root):
#   N_GPUS                GPUs on the node (default: the script's, or the count in CUDA_VISIBLE_DEVICES)
#   CUDA_VISIBLE_DEVICES  passed on as is; N_GPUS must match its count when both are set
#   BASE_MODEL            Hugging Face id or local folder of the model to train
#   MODEL_TAG             suffix of the run names (default: from BASE_MODEL)
#   DATA_DIR              folder with train.parquet and test.parquet (default data/math, as
#                         written by `lead data math --out data/math`)
#   OUTPUT_ROOT           runs go to OUTPUT_ROOT/<run name> (default checkpoints)
#   BUDGET                response cap in tokens: data.max_response_length, the rollout caps and
#                         the method's cap knob (LEAD's bmax, ...) are all set from it
#   RUN_NAME              name of a single-run script's run (default: the script's)
#   WANDB_PROJECT         trainer.project_name (default lead)
#   KEEP_CHECKPOINTS      trainer.max_actor_ckpt_to_keep (default: the script's; empty keeps all)
#   PYTHON                interpreter with the project installed (default python3)
#   DRY_RUN=1             list the planned runs, validate each one's configuration in one
#                         process (printing it in full for a single run), start nothing
#   PLAN_FILE             append the planned runs to this file and stop (validate several scripts'
#                         plans together with `python -m lead.verl_plugin.validate PLAN_FILE`)
#   ENV_FILE              read this file instead of .env
# Script arguments are Hydra overrides, applied after the script's own settings.

LEAD_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LEAD_PAPER_MODEL=deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
LEAD_MAX_PROMPT=1024
# The release's actor token budget per GPU; raised when one prompt plus response would not fit.
LEAD_MIN_TOKENS_PER_GPU=16384

lead_die() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

lead_note() {
    printf '%s\n' "$*" >&2
}

# Load ENV_FILE (default .env in the repository root) when present. Variables the caller already
# set keep their values, so `BUDGET=4000 bash script.sh` beats BUDGET in the file.
lead_load_env() {
    local file=${ENV_FILE:-$LEAD_REPO_ROOT/.env}
    if [[ ! -f $file ]]; then
        [[ -z ${ENV_FILE:-} ]] || lead_die "ENV_FILE=$ENV_FILE does not exist"
        return 0
    fi
    local key
    local -a preserved=()
    while IFS= read -r key; do
        if [[ -n ${!key+set} ]]; then
            preserved+=("$key=${!key}")
        fi
    done < <(sed -nE 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=.*/\2/p' "$file")
    set -a
    # shellcheck disable=SC1090  # the file is the user's
    source "$file" || lead_die "could not load $file"
    set +a
    local kv
    for kv in "${preserved[@]}"; do
        export "${kv%%=*}=${kv#*=}"
    done
    lead_note "loaded $file"
}

lead_abspath() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        '~'/*) printf '%s\n' "$HOME/${1#'~/'}" ;;
        *) printf '%s\n' "$LEAD_REPO_ROOT/${1#./}" ;;
    esac
}

lead_is_uint() {
    [[ $1 =~ ^[0-9]+$ ]]
}

lead_is_number() {
    [[ $1 =~ ^[0-9]+([.][0-9]+)?$ || $1 =~ ^[.][0-9]+$ ]]
}

# The key of a Hydra override (`+a.b=1`, `~a.b`, `a.b=[1,2]` -> a.b).
lead_override_key() {
    local key=${1%%=*}
    key=${key#\~}
    key=${key#++}
    key=${key#+}
    printf '%s\n' "$key"
}

# The cap knob of a method's algorithm block, set from BUDGET (empty: the method has none).
lead_budget_knob() {
    case $1 in
        lead | gdpo_static) echo bmax ;;
        truncation | dler | laser_d) echo max_length ;;
        *) echo "" ;;
    esac
}

# Keys a script derives from its environment; an override of one of them would break the link.
lead_owned_key_hint() {
    local method=${1#algorithm.} knob
    method=${method%%.*}
    knob=$(lead_budget_knob "$method")
    if [[ -n $knob && $1 == "algorithm.$method.$knob" ]]; then
        echo "set BUDGET instead: the method's cap must equal the response cap"
        return
    fi
    case $1 in
        data.max_response_length | actor_rollout_ref.rollout.response_length | actor_rollout_ref.rollout.max_model_len)
            echo "set BUDGET instead: it sets the response cap, the rollout caps and the method's cap together" ;;
        trainer.n_gpus_per_node) echo "set N_GPUS (and CUDA_VISIBLE_DEVICES) instead" ;;
        actor_rollout_ref.model.path) echo "set BASE_MODEL (and MODEL_TAG) instead" ;;
        trainer.default_local_dir | trainer.experiment_name)
            echo "set OUTPUT_ROOT (and RUN_NAME for a single run) instead: the scripts name each run's folder" ;;
        *) echo "" ;;
    esac
}

# lead_setup [--budget N] [--lr X] [--clip-high X] [--save-freq N] [--gpus N] [--tp N]
#            [--gpu-mem X] [--keep N] [--model ID --tag TAG] -- "$@"
# Reads the environment (after .env), checks it, and builds LEAD_COMMON: the settings every run
# of the script shares. Arguments after `--` are the user's Hydra overrides (LEAD_EXTRA).
lead_setup() {
    local budget=8000 lr=2e-6 clip_high=0.2 save_freq=50 gpus=4 tp=1 gpu_mem=0.65 keep=""
    local model=$LEAD_PAPER_MODEL tag=deepseek-r1-1.5b
    while [[ $# -gt 0 ]]; do
        case $1 in
            --budget) budget=$2 ;;
            --lr) lr=$2 ;;
            --clip-high) clip_high=$2 ;;
            --save-freq) save_freq=$2 ;;
            --gpus) gpus=$2 ;;
            --tp) tp=$2 ;;
            --gpu-mem) gpu_mem=$2 ;;
            --keep) keep=$2 ;;
            --model) model=$2 ;;
            --tag) tag=$2 ;;
            --) shift; break ;;
            *) lead_die "lead_setup: unknown option $1" ;;
        esac
        shift 2
    done
    LEAD_EXTRA=("$@")
    lead_load_env

    PYTHON=${PYTHON:-python3}
    BUDGET=${BUDGET:-$budget}
    if ! lead_is_uint "$BUDGET" || ((10#$BUDGET == 0)); then
        lead_die "BUDGET='$BUDGET' is not a number of tokens: set BUDGET to a positive integer, e.g. BUDGET=4000"
    fi
    BUDGET=$((10#$BUDGET))

    local visible=""
    if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
        local -a devices
        IFS=, read -r -a devices <<<"$CUDA_VISIBLE_DEVICES"
        visible=${#devices[@]}
    fi
    N_GPUS=${N_GPUS:-${visible:-$gpus}}
    if ! lead_is_uint "$N_GPUS" || ((10#$N_GPUS == 0)); then
        lead_die "N_GPUS='$N_GPUS' is not a positive integer"
    fi
    N_GPUS=$((10#$N_GPUS))
    if [[ -n $visible && $visible -ne $N_GPUS ]]; then
        lead_die "N_GPUS=$N_GPUS but CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES lists $visible GPU(s); make them agree"
    fi

    if [[ -z ${BASE_MODEL:-} ]]; then
        BASE_MODEL=$model
        MODEL_TAG=${MODEL_TAG:-$tag}
    elif [[ -z ${MODEL_TAG:-} ]]; then
        if [[ $BASE_MODEL == "$model" ]]; then
            MODEL_TAG=$tag
        else
            MODEL_TAG=$(basename "$BASE_MODEL" | tr '[:upper:]' '[:lower:]')
        fi
    fi
    [[ $MODEL_TAG =~ ^[A-Za-z0-9._-]+$ ]] || lead_die "MODEL_TAG='$MODEL_TAG' may only hold letters, digits, '.', '_' and '-'"
    DATA_DIR=$(lead_abspath "${DATA_DIR:-data/math}")
    OUTPUT_ROOT=$(lead_abspath "${OUTPUT_ROOT:-checkpoints}")
    WANDB_PROJECT=${WANDB_PROJECT:-lead}
    KEEP_CHECKPOINTS=${KEEP_CHECKPOINTS-$keep}
    if [[ -n $KEEP_CHECKPOINTS ]] && { ! lead_is_uint "$KEEP_CHECKPOINTS" || ((10#$KEEP_CHECKPOINTS == 0)); }; then
        lead_die "KEEP_CHECKPOINTS='$KEEP_CHECKPOINTS' is not a positive integer (leave it empty to keep every checkpoint)"
    fi

    local arg key hint
    for arg in "${LEAD_EXTRA[@]}"; do
        [[ $arg == *=* || $arg == \~* ]] ||
            lead_die "argument '$arg' is not a Hydra override: pass key=value, e.g. trainer.total_epochs=1"
        [[ $arg != *$'\t'* && $arg != *$'\n'* ]] || lead_die "override '$arg' contains a tab or newline"
        key=$(lead_override_key "$arg")
        hint=$(lead_owned_key_hint "$key")
        [[ -z $hint ]] || lead_die "override '$arg': $key is set by the script; $hint"
    done

    local tokens=$((LEAD_MAX_PROMPT + BUDGET))
    ((tokens > LEAD_MIN_TOKENS_PER_GPU)) || tokens=$LEAD_MIN_TOKENS_PER_GPU
    LEAD_COMMON=(
        "data.train_files=$DATA_DIR/train.parquet"
        "data.val_files=$DATA_DIR/test.parquet"
        data.train_batch_size=128
        "data.max_prompt_length=$LEAD_MAX_PROMPT"
        "data.max_response_length=$BUDGET"
        "actor_rollout_ref.model.path=$BASE_MODEL"
        actor_rollout_ref.model.enable_gradient_checkpointing=true
        actor_rollout_ref.model.use_remove_padding=true
        "actor_rollout_ref.actor.optim.lr=$lr"
        actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0.0
        actor_rollout_ref.actor.optim.weight_decay=0.01
        actor_rollout_ref.actor.grad_clip=1.0
        actor_rollout_ref.actor.ppo_mini_batch_size=16
        actor_rollout_ref.actor.ppo_epochs=1
        actor_rollout_ref.actor.use_dynamic_bsz=true
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$tokens"
        actor_rollout_ref.actor.clip_ratio_low=0.2
        "actor_rollout_ref.actor.clip_ratio_high=$clip_high"
        actor_rollout_ref.actor.use_kl_loss=true
        actor_rollout_ref.actor.kl_loss_coef=0.0005
        actor_rollout_ref.actor.kl_loss_type=mse
        actor_rollout_ref.actor.entropy_coeff=0.001
        actor_rollout_ref.ref.fsdp_config.param_offload=true
        actor_rollout_ref.ref.log_prob_use_dynamic_bsz=true
        "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=$tokens"
        actor_rollout_ref.rollout.name=vllm
        "actor_rollout_ref.rollout.tensor_model_parallel_size=$tp"
        "actor_rollout_ref.rollout.gpu_memory_utilization=$gpu_mem"
        actor_rollout_ref.rollout.n=8
        actor_rollout_ref.rollout.temperature=1.0
        actor_rollout_ref.rollout.top_p=1.0
        actor_rollout_ref.rollout.top_k=-1
        "actor_rollout_ref.rollout.response_length=$BUDGET"
        "actor_rollout_ref.rollout.max_model_len=$((LEAD_MAX_PROMPT + BUDGET))"
        actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=true
        "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=$tokens"
        actor_rollout_ref.rollout.val_kwargs.do_sample=false
        actor_rollout_ref.rollout.val_kwargs.n=1
        algorithm.use_kl_in_reward=false
        reward.custom_reward_function.path=pkg://lead.rewards.math
        reward.custom_reward_function.name=compute_score
        "trainer.logger=[console,wandb]"
        "trainer.project_name=$WANDB_PROJECT"
        trainer.nnodes=1
        "trainer.n_gpus_per_node=$N_GPUS"
        trainer.total_epochs=7
        "trainer.save_freq=$save_freq"
        trainer.test_freq=20
        trainer.val_before_train=true
        trainer.resume_mode=auto
    )
    if [[ -n $KEEP_CHECKPOINTS ]]; then
        LEAD_COMMON+=("trainer.max_actor_ckpt_to_keep=$KEEP_CHECKPOINTS")
    fi
    LEAD_RUN_NAMES=()
    LEAD_RUN_OVERRIDES=()
}

# The ablation sweeps' shared settings (the release's ablation scripts): a 4,000-token cap, lr 1e-6,
# clip 0.2/0.28, a checkpoint every 50 steps; only the last two checkpoints of each run are kept
# (enough to resume and to evaluate the final model; KEEP_CHECKPOINTS= keeps all).
lead_setup_ablation() {
    lead_setup --budget 4000 --lr 1e-6 --clip-high 0.28 --save-freq 50 --gpus 4 --keep 2 -- "$@"
}

# The items of a space- or comma-separated list, one per line (for mapfile).
lead_words() {
    local -a items
    read -r -a items <<<"${1//,/ }"
    ((${#items[@]} == 0)) || printf '%s\n' "${items[@]}"
}

# METHOD_OVERRIDES: select METHOD as the advantage estimator, with its cap knob set from BUDGET.
lead_method() {
    local method=$1 knob
    knob=$(lead_budget_knob "$method")
    METHOD_OVERRIDES=("algorithm.adv_estimator=$method")
    [[ -z $knob ]] || METHOD_OVERRIDES+=("algorithm.$method.$knob=$BUDGET")
}

# lead_plan NAME OVERRIDE... : add a run (its own overrides come after the common settings).
lead_plan() {
    local name=$1
    shift
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || lead_die "run name '$name' may only hold letters, digits, '.', '_' and '-'"
    local joined="" override
    for override in "$@"; do
        joined+=$'\t'$override
    done
    LEAD_RUN_NAMES+=("$name")
    LEAD_RUN_OVERRIDES+=("${joined#$'\t'}")
}

# A number formatted the way run names use it: 0.25 -> 0p25, 1.0 -> 1.
lead_name_number() {
    awk -v x="$1" 'BEGIN { s = sprintf("%g", x); gsub(/\./, "p", s); print s }'
}

lead_full_overrides() {
    local i=$1 name=${LEAD_RUN_NAMES[$1]}
    local -a own=()
    [[ -z ${LEAD_RUN_OVERRIDES[$i]} ]] || IFS=$'\t' read -r -a own <<<"${LEAD_RUN_OVERRIDES[$i]}"
    LEAD_FULL=("${LEAD_COMMON[@]}" "${own[@]}" "trainer.experiment_name=$name"
        "trainer.default_local_dir=$OUTPUT_ROOT/$name" "${LEAD_EXTRA[@]}")
}

# Validate every planned run in one process, then (unless DRY_RUN) launch those not finished,
# one after the other; an interrupted run resumes from its latest checkpoint.
lead_launch() {
    local count=${#LEAD_RUN_NAMES[@]} i
    ((count > 0)) || lead_die "no runs planned (check the sweep's subset variables)"
    local plan
    plan=$(mktemp "${TMPDIR:-/tmp}/lead-plan.XXXXXX")
    for ((i = 0; i < count; i++)); do
        lead_full_overrides "$i"
        {
            printf '%s' "${LEAD_RUN_NAMES[$i]}"
            printf '\t%s' "${LEAD_FULL[@]}"
            printf '\n'
        } >>"$plan"
    done
    if [[ -n ${PLAN_FILE:-} ]]; then
        cat "$plan" >>"$PLAN_FILE"
        rm -f "$plan"
        lead_note "appended $count planned run(s) to $PLAN_FILE"
        return 0
    fi

    local dry=""
    [[ ${DRY_RUN:-0} == "0" || -z ${DRY_RUN:-} ]] || dry=1
    echo "Planned runs ($count), under $OUTPUT_ROOT:"
    for ((i = 0; i < count; i++)); do
        echo "  ${LEAD_RUN_NAMES[$i]}: ${LEAD_RUN_OVERRIDES[$i]//$'\t'/ }"
    done
    ((${#LEAD_EXTRA[@]} == 0)) || echo "  extra overrides for every run: ${LEAD_EXTRA[*]}"

    command -v "$PYTHON" >/dev/null ||
        lead_die "PYTHON=$PYTHON is not an executable; activate the project's environment (. .venv/bin/activate) or set PYTHON"
    local states="$plan.states" rc=0
    local -a flags=(--states "$states")
    [[ -n $dry ]] || flags+=(--launch)
    [[ -z $dry || $count -ne 1 ]] || flags+=(--print-config)
    "$PYTHON" -m lead.verl_plugin.validate "$plan" "${flags[@]}" || rc=$?
    if ((rc != 0)); then
        rm -f "$plan" "$states"
        exit "$rc"
    fi
    if [[ -n $dry ]]; then
        rm -f "$plan" "$states"
        echo "DRY_RUN: configurations valid; nothing launched."
        return 0
    fi

    local -A kind=()
    local -a failed=()
    local name state
    while IFS=$'\t' read -r name state _; do
        kind[$name]=$state
    done <"$states"
    rm -f "$plan" "$states"
    export PYTHONUNBUFFERED=1
    for ((i = 0; i < count; i++)); do
        name=${LEAD_RUN_NAMES[$i]}
        if [[ ${kind[$name]} == "done" ]]; then
            echo "== $name: finished, skipped"
            continue
        fi
        lead_full_overrides "$i"
        local dir=$OUTPUT_ROOT/$name
        mkdir -p "$dir"
        # One wandb run per training run, continued on resume; a fresh start gets a fresh id so
        # it never appends to the history of a deleted attempt.
        if [[ ${kind[$name]} == new || ! -s $dir/wandb_run_id ]]; then
            printf '%s-%s\n' "${name//[^A-Za-z0-9_-]/-}" "$(date +%Y%m%d%H%M%S)" >"$dir/wandb_run_id"
        fi
        # What a resume is checked against (lead.verl_plugin.validate refuses other settings).
        printf '%s\n' "${LEAD_FULL[@]}" >"$dir/lead_overrides.txt"
        echo "== $name: ${kind[$name]} (log: $dir/train.log)"
        if WANDB_RUN_ID=$(<"$dir/wandb_run_id") WANDB_RESUME=allow \
            "$PYTHON" -m lead.verl_plugin.main "${LEAD_FULL[@]}" "hydra.run.dir=$dir/hydra" 2>&1 |
            tee -a "$dir/train.log"; then
            echo "== $name: finished"
        else
            failed+=("$name")
            lead_note "== $name: FAILED (see $dir/train.log); rerun the script to resume it"
        fi
    done
    if ((${#failed[@]} > 0)); then
        lead_note "${#failed[@]} run(s) failed: ${failed[*]}"
        exit 1
    fi
}
