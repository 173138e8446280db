r"""The lab's RL through verl 0.9.1's real training loop on the CPU (``lead lab --trainer verl``).

:func:`train_verl` has :func:`lead.lab.train.train_rl`'s signature and return value. It hands one
arm's run to ``lead-train device=cpu`` (:mod:`lead.verl_plugin.main`) in a subprocess, the way a
user trains: Ray, ``TaskRunnerV1``, the ``lead_sync`` trainer, an FSDP2 actor on gloo, the
``hfcpu`` rollout server, verl's reward loop and the registered estimator. What goes in:

* the policy's weights, saved as a Hugging Face folder with a chat template that passes the lab's
  prompt text through unchanged (verl's agent loop always renders a chat template);
* the same problems, in the same order, that the in-process loop draws for this seed
  (``rl_steps x prompts_per_step`` of them, ``data.shuffle=false``), in the project's parquet
  schema (:func:`lead.data.prepare.verl_row`) with the lab's prompt text, and the problem's key
  as its subject;
* the lab's reward (:mod:`lead.lab.reward`, graded by :func:`lead.lab.task.grade`) and every knob
  of the arm's method config as ``algorithm.<method>.<knob>`` overrides;
* the lab's schedule: ``prompts_per_step`` prompts x ``group_size`` samples at temperature 1,
  ``max_new_tokens`` response tokens, one AdamW step per batch (one PPO mini-batch, one epoch:
  on-policy, so the importance ratio is 1 and clipping never acts), learning rate ``rl_lr``,
  weight decay 0.01, gradient clip 1.0, ``token-mean`` loss, no KL loss or entropy bonus, fp32.

The final checkpoint's Hugging Face weights (``checkpoint.save_contents`` with ``hf_model``: the
full fp32 state dict, where verl's model merger would round to bf16) are loaded into ``policy``,
which the lab then evaluates as it does the in-process loop's.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast

from lead.lab.config import LabConfig
from lead.lab.reward import DATA_SOURCE
from lead.lab.task import training_problems
from lead.lab.train import Log, prompt_text

CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
"""Renders the user message as is: the lab's prompts are plain token sequences."""

START_TIMEOUT_S = 900
STEP_TIMEOUT_S = 60

METRICS = {
    "loss": "actor/pg_loss",
    "grad_norm": "actor/grad_norm",
    "train/accuracy": "critic/score/mean",
    "train/length": "response_length/mean",
    "time/step_s": "timing_s/step",
}
"""Lab step metrics and the verl metrics they are read from. verl's ``actor/pg_loss`` is the
clipped surrogate ``-token-mean(ratio * A)``, whose gradient at ratio 1 is the in-process loop's,
but whose value is not (that one is ``-token-mean(A log pi)``)."""


def export_data(cfg: LabConfig, seed: int, exclude: set[str], folder: Path) -> Path:
    """``folder/train.parquet``: the in-process loop's problem stream for ``seed``, one row each.

    A problem drawn more than once keeps one ``extra_info.index`` (numbered in order of first
    draw): verl hands that index to the estimators as the prompt's stable id, the way the
    in-process loop keys prompts by :attr:`Problem.key`, so per-prompt history (HAPO's) carries
    over between draws of the same problem in both loops."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lead.data.prepare import Problem, _parquet_schema, verl_row

    problems = training_problems(random.Random(f"rl-{seed}"), cfg.task, cfg.rl_steps * cfg.prompts_per_step, exclude)
    index: dict[str, int] = {}
    rows = []
    for i, p in enumerate(problems):
        # The subject holds the problem's key: the reward grades the response against the problem.
        row = verl_row(
            Problem(
                index=index.setdefault(p.key, len(index)),
                problem=prompt_text(p),
                answers=[str(p.answer)],
                level=str(p.k),
                subject=p.key,
                uid=f"lab-{i}",
                unique_id=None,
            ),
            "train",
            DATA_SOURCE,
        )
        row["prompt"] = [{"content": prompt_text(p), "role": "user"}]
        row["ability"] = "lab"
        rows.append(row)
    path = folder / "train.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not lead.data.prepare.write_parquet: it refuses repeated indices, which here are repeated problems.
    pq.write_table(pa.Table.from_pylist(rows, schema=_parquet_schema()), path)
    return path


def export_model(policy: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, folder: Path) -> Path:
    """The policy as a Hugging Face folder verl can load, its tokenizer with :data:`CHAT_TEMPLATE`."""
    from lead.lab.model import save

    chat = copy.deepcopy(tokenizer)
    chat.chat_template = CHAT_TEMPLATE
    return save(policy, chat, folder)


def _override_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def method_overrides(method: Any) -> list[str]:
    """Hydra overrides selecting ``method`` with every knob of its config. ``grpo`` runs verl's
    own estimator, the same formula, whose one knob is ``algorithm.norm_adv_by_std_in_grpo``."""
    name = method.name
    if name == "grpo":
        return [
            "algorithm.adv_estimator=grpo",
            f"algorithm.norm_adv_by_std_in_grpo={_override_value(method.config.scale_by_std)}",
        ]
    return [
        f"algorithm.adv_estimator={name}",
        *(f"algorithm.{name}.{k}={_override_value(v)}" for k, v in asdict(method.config).items()),
    ]


def lead_train_overrides(cfg: LabConfig, seed: int, method: Any, model_dir: Path, data: Path, ckpt: Path) -> list[str]:
    batch = cfg.prompts_per_step * cfg.group_size
    prompt = cfg.task.longest_prompt()
    tokens = batch * (prompt + cfg.max_new_tokens)
    actor, rollout = "actor_rollout_ref.actor", "actor_rollout_ref.rollout"
    return [
        "device=cpu",
        f"actor_rollout_ref.model.path={model_dir}",
        f"data.train_files={data}",
        f"data.val_files={data}",
        "data.shuffle=false",
        f"data.train_batch_size={cfg.prompts_per_step}",
        f"data.max_prompt_length={prompt}",
        f"data.max_response_length={cfg.max_new_tokens}",
        f"{rollout}.n={cfg.group_size}",
        f"{rollout}.temperature=1.0",
        f"{rollout}.top_p=1.0",
        f"{rollout}.top_k=-1",
        f"{rollout}.log_prob_micro_batch_size_per_gpu={batch}",
        f"{rollout}.log_prob_max_token_len_per_gpu={tokens}",
        f"{actor}.ppo_mini_batch_size={cfg.prompts_per_step}",
        f"{actor}.ppo_micro_batch_size_per_gpu={batch}",
        f"{actor}.ppo_max_token_len_per_gpu={tokens}",
        f"{actor}.ppo_epochs=1",
        f"{actor}.optim.lr={cfg.rl_lr}",
        f"{actor}.optim.weight_decay=0.01",
        f"{actor}.grad_clip=1.0",
        f"{actor}.use_kl_loss=false",
        f"{actor}.entropy_coeff=0",
        f"{actor}.loss_agg_mode=token-mean",
        f"{actor}.fsdp_config.dtype=float32",
        f"{actor}.data_loader_seed={seed}",
        f"{actor}.checkpoint.save_contents=[model,optimizer,extra,hf_model]",
        "reward.custom_reward_function.path=pkg://lead.lab.reward",
        "reward.custom_reward_function.name=compute_score",
        f"+reward.custom_reward_function.reward_kwargs.max_response_length={cfg.max_new_tokens}",
        *method_overrides(method),
        f"trainer.total_training_steps={cfg.rl_steps}",
        "trainer.total_epochs=1",
        f"trainer.save_freq={cfg.rl_steps}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.resume_mode=disable",
        "trainer.project_name=lead-lab",
        f"trainer.experiment_name=lab_{method.name}_seed{seed}",
        f"trainer.default_local_dir={ckpt}",
    ]


def step_records(run: Any, method: str, steps: int) -> list[dict[str, float]]:
    """One record per verl step: the lab's metric names (:data:`METRICS`) and every verl metric."""
    if sorted(run.steps) != list(range(1, steps + 1)):
        raise RuntimeError(
            f"verl's loop ({method}) logged steps {sorted(run.steps)}, expected 1..{steps} "
            f"(exit {run.returncode}):\n{run.output[-6000:]}"
        )
    records = []
    for step, metrics in sorted(run.steps.items()):
        missing = [v for v in METRICS.values() if v not in metrics]
        if missing:
            raise RuntimeError(f"verl step {step} of {method} logged no {missing}")
        records.append(
            {
                "step": step,
                **{k: metrics[v] for k, v in METRICS.items()},
                "time/generate_s": metrics.get("timing_s/gen", float("nan")),
                **metrics,
            }
        )
    return records


def train_verl(
    policy: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    method: Any,
    cfg: LabConfig,
    seed: int,
    exclude: set[str],
    eval_fn: Callable[[torch.nn.Module], dict[str, Any]],
    log: Log,
    cap: float | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Train ``policy`` in place through verl's loop in ``workdir`` (inputs, checkpoints,
    ``console.log``); returns per-step metrics and the evaluations at step 0 and at the end.

    ``cap`` is refused (:func:`lead.lab.config.check_arms` refuses such arms before the warm-up):
    the over-cap check needs every sample's advantage, which verl's loop does not hand back."""
    from transformers import AutoModelForCausalLM

    from lead.launch.runner import run_cpu

    if cap is not None:
        raise ValueError(
            f"{method.name} has a length cap ({cap:g}) whose check needs each sample's advantage, "
            "which verl's loop does not hand back; train it in-process (trainer 'local')"
        )
    if workdir is None:
        raise ValueError("train_verl needs a workdir for the run's inputs and checkpoints")
    if cfg.rl_steps < 1:
        raise ValueError(f"rl_steps={cfg.rl_steps}: verl's loop needs at least one step")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    evals = [{"step": 0, **eval_fn(policy)}]
    log(f"  step   0  eval acc {evals[0]['accuracy']:.3f}  len {evals[0]['length']:.1f}")
    model_dir = export_model(policy, tokenizer, workdir / "start_model")
    data = export_data(cfg, seed, exclude, workdir / "data")
    ckpt = workdir / "checkpoints"
    command = [
        sys.executable,
        "-m",
        "lead.verl_plugin.main",
        *lead_train_overrides(cfg, seed, method, model_dir, data, ckpt),
    ]
    (workdir / "command.txt").write_text(" ".join(command) + "\n")
    repo = str(Path(__file__).resolve().parents[2])
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    log(
        f"  verl: lead-train device=cpu, {cfg.rl_steps} steps (start-up takes a minute or two); "
        f"console in {workdir / 'console.log'}"
    )
    run = run_cpu(command, env, workdir, START_TIMEOUT_S + STEP_TIMEOUT_S * cfg.rl_steps)
    (workdir / "console.log").write_text(run.output)
    if run.timed_out or run.returncode != 0:
        raise RuntimeError(
            f"verl's loop ({method.name}, seed {seed}) "
            + ("timed out" if run.timed_out else f"exited {run.returncode}")
            + f"; console in {workdir / 'console.log'}:\n{run.output[-6000:]}"
        )
    if run.stray_pids:
        raise RuntimeError(f"processes of verl's run outlived it (killed): {run.stray_pids}")
    steps = step_records(run, method.name, cfg.rl_steps)
    final = ckpt / f"global_step_{cfg.rl_steps}" / "actor" / "huggingface"
    trained = AutoModelForCausalLM.from_pretrained(final, local_files_only=True, dtype=torch.float32)
    policy.load_state_dict(trained.state_dict())
    policy.eval()
    ev = eval_fn(policy)
    evals.append({"step": cfg.rl_steps, **ev})
    last = steps[-1]
    log(
        f"  step {cfg.rl_steps:3d}  eval acc {ev['accuracy']:.3f}  len {ev['length']:.1f}  "
        f"train acc {last['train/accuracy']:.3f}  len {last['train/length']:.1f}  "
        f"({sum(s['time/step_s'] for s in steps) / len(steps):.2f} s/step in verl, wall {run.wall_s:.0f} s)"
    )
    return {
        "steps": steps,
        "evals": evals,
        "verl": {"wall_s": run.wall_s, "checkpoint": str(final), "peak_tree_rss_gib": run.peak_tree_rss_gib},
    }
