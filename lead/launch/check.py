"""Checking planned runs in one process: compose, validate, and say where each run stands.

A sweep plans several runs; checking each with ``DRY_RUN=1 lead-train`` would pay verl's import
(seconds) once per run. Here every run's Hydra config is composed in one process and gets the
checks a launch makes before Ray starts (:func:`lead.verl_plugin.main.check_config`, the reward
function resolved by name, the multi-node layout), plus what a launch needs on this machine (data,
model, wandb login): a dry run reports exactly the problems a launch would.

A run's state comes from verl's checkpoint marker in ``trainer.default_local_dir``:

* ``new``: no ``latest_checkpointed_iteration.txt``;
* ``resume``: the marker names step ``k`` < the final step; verl's ``resume_mode=auto`` continues
  from ``global_step_k``;
* ``done``: the marker names the final step. verl 0.9.1 runs steps ``1..T`` with
  ``T = (rows // data.train_batch_size) * trainer.total_epochs`` (or ``trainer.total_training_steps``)
  and always checkpoints step ``T``, whatever ``save_freq``;
* ``unknown``: there is a checkpoint, but ``T`` cannot be computed without loading the data (a
  missing or remote train file, ``filter_overlong_prompts``, a custom dataset class); launching is
  still safe: verl, resuming a finished run, validates it once and stops.

A launch records the run's resolved configuration in ``<run>/lead_config.yaml``; resuming with
settings that change the training (anything but logging, checkpointing and run length) is refused,
naming each changed key, since it would silently mix two runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lead.launch.plan import PlannedRun
from lead.verl_plugin.preflight import cuda_available

TRACKER_FILE = "latest_checkpointed_iteration.txt"
SETTINGS_FILE = "lead_config.yaml"
# wandb.init never contacts the server in these modes, so no API key is needed.
OFFLINE_WANDB_MODES = ("offline", "disabled", "dryrun")
# Keys a resumed run may change without mixing two runs: what is logged, how often it is
# checkpointed or validated, how long it goes on, and the recipe's cost figures (lead/launch/cost.py).
RESUMABLE_CHANGES = ("cost", "trainer.logger", "trainer.project_name", "trainer.save_freq", "trainer.test_freq",
                     "trainer.val_before_train", "trainer.max_actor_ckpt_to_keep", "trainer.total_epochs",
                     "trainer.total_training_steps", "trainer.resume_mode", "ray_kwargs", "hydra")


@dataclass
class RunReport:
    """The outcome of checking one planned run."""

    run: PlannedRun
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    state: str | None = None
    step: int | None = None
    final_step: int | None = None
    final_step_note: str = ""
    output_dir: str | None = None
    config: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


def checkpoint_step(output_dir: str | os.PathLike) -> int | None:
    """The step named by verl's checkpoint marker in ``output_dir`` (None when there is none).

    Raises ``ValueError`` when the marker is unreadable or names a missing ``global_step_<k>``
    folder: verl would then silently start from scratch and overwrite the run's later files."""
    folder = Path(output_dir)
    tracker = folder / TRACKER_FILE
    if not tracker.exists():
        return None
    text = tracker.read_text().strip()
    try:
        step = int(text)
    except ValueError:
        raise ValueError(f"{tracker} should hold a step number, found {text!r}") from None
    if not (folder / f"global_step_{step}").is_dir():
        raise ValueError(f"{tracker} names step {step} but {folder / f'global_step_{step}'} is missing: restore "
                         f"that checkpoint, or remove the marker (and the folder) to start the run again")
    return step


def _data_files(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _count_rows(path: str) -> int | None:
    local = Path(os.path.expanduser(path))
    if "://" in path or not local.is_file():
        return None
    if local.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(local).metadata.num_rows
    if local.suffix == ".jsonl":
        with local.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    return None


def final_step(config: Any) -> tuple[int | None, str]:
    """The last training step verl 0.9.1 will run for ``config``, and why it is None if unknown.

    verl's v1 trainer: ``steps_per_epoch = len(train_dataset) // data.train_batch_size`` (the
    loader drops the last partial batch), ``T = steps_per_epoch * trainer.total_epochs`` unless
    ``trainer.total_training_steps`` is set; ``data.train_max_samples > 0`` caps the rows."""
    trainer, data = config.trainer, config.data
    if trainer.get("total_training_steps") is not None:
        return int(trainer.total_training_steps), ""
    if data.get("custom_cls", {}).get("path"):
        return None, "a custom dataset class decides the number of rows"
    if data.get("filter_overlong_prompts", False):
        return None, "data.filter_overlong_prompts drops rows only the tokenizer can count"
    files = _data_files(data.train_files)
    if not files:
        return None, "data.train_files is empty"
    rows = 0
    for path in files:
        count = _count_rows(path)
        if count is None:
            exists = "://" not in path and Path(os.path.expanduser(path)).is_file()
            return None, (f"cannot count the rows of {path} (not .parquet or .jsonl)" if exists
                          else f"{path} is not here")
        rows += count
    max_samples = data.get("train_max_samples", -1) or -1
    if 0 < max_samples < rows:
        rows = max_samples
    return (rows // int(data.train_batch_size)) * int(trainer.total_epochs), ""


def run_state(config: Any) -> tuple[str, int | None, int | None, str]:
    """``(state, checkpointed step, final step, note)`` of the run ``config`` describes."""
    step = checkpoint_step(config.trainer.default_local_dir)
    final, note = final_step(config)
    if step is None:
        return "new", None, final, note
    if final is None:
        return "unknown", step, None, note
    if step > final:
        raise ValueError(f"{config.trainer.default_local_dir} holds step {step}, beyond this run's final step "
                         f"{final}: it belongs to a different run (data, batch size or epochs changed)")
    return ("done" if step == final else "resume"), step, final, note


def flat_settings(config: Any) -> dict[str, Any]:
    """``{dotted key: value}`` of a resolved configuration (lists kept whole)."""
    from omegaconf import OmegaConf

    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(config, resolve=True) if not isinstance(config, dict) else config, "")
    return out


def settings_changes(output_dir: str | os.PathLike, config: Any) -> list[str]:
    """How ``config`` differs from the configuration recorded in ``output_dir`` by an earlier launch,
    leaving out the keys a resume may change (one ``key: recorded -> now`` line each)."""
    import yaml

    recorded_file = Path(output_dir) / SETTINGS_FILE
    if not recorded_file.is_file():
        return []
    recorded = flat_settings(yaml.safe_load(recorded_file.read_text()) or {})
    now = flat_settings(config)

    def kept(key: str) -> bool:
        return not any(key == k or key.startswith(k + ".") for k in RESUMABLE_CHANGES)

    return [f"{key}: {recorded.get(key, '<unset>')} -> {now.get(key, '<unset>')}"
            for key in sorted(set(recorded) | set(now)) if kept(key) and recorded.get(key) != now.get(key)]


def record_settings(output_dir: str | os.PathLike, config: Any) -> Path:
    from omegaconf import OmegaConf

    path = Path(output_dir) / SETTINGS_FILE
    path.write_text(OmegaConf.to_yaml(config, resolve=True))
    return path


def _check_reward_loadable(config: Any) -> None:
    """Resolve the reward function the run looks up by name at start-up (the estimator name is
    checked by ``check_config``)."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    try:
        get_custom_reward_fn(config)
    except (OSError, ImportError, AttributeError, RuntimeError) as err:
        path = config.reward.custom_reward_function.get("path")
        raise ValueError(f"reward.custom_reward_function.path={path!r} cannot be loaded: {err}") from None


def check_layout(config: Any, ray_address: str | None) -> None:
    """The cluster layout: GPUs per node x nodes against vLLM's tensor parallelism (a vLLM engine
    lives on one node) and against the nodes a run can reach."""
    trainer, rollout = config.trainer, config.actor_rollout_ref.rollout
    gpus, nodes = int(trainer.n_gpus_per_node), int(trainer.nnodes)
    tp = int(rollout.get("tensor_model_parallel_size", 1) or 1)
    if tp > gpus or gpus % tp:
        raise ValueError(f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp} must divide the GPUs per node "
                         f"(N_GPUS={gpus}): a vLLM engine runs on the GPUs of one node")
    world = gpus * nodes
    n = int(rollout.n)
    for what, prompts in (("data.train_batch_size", config.data.train_batch_size),
                          ("actor_rollout_ref.actor.ppo_mini_batch_size", config.actor_rollout_ref.actor.ppo_mini_batch_size)):
        if (int(prompts) * n) % world:
            raise ValueError(f"{what}={prompts} x actor_rollout_ref.rollout.n={n} = {int(prompts) * n} responses do not "
                             f"split evenly over {world} GPU(s) ({nodes} node(s) x N_GPUS={gpus}): choose sizes "
                             f"divisible by {world}")
    if nodes > 1 and not ray_address:
        raise ValueError(f"NNODES={nodes} needs a Ray cluster spanning the nodes: start one (`ray start --head` on "
                         f"the head, `ray start --address <head>:6379` on the others; scripts/slurm/ does both) "
                         f"and set RAY_ADDRESS, or run on one node")


def _wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="replace")


def launch_problems(config: Any) -> list[str]:
    """What a launch of ``config`` is missing on this machine, with how to fix it."""
    problems = []
    for key in ("train_files", "val_files"):
        for path in _data_files(config.data.get(key)):
            if "://" not in path and not Path(os.path.expanduser(path)).is_file():
                problems.append(f"data.{key}: {path} does not exist. Prepare the data first "
                                f"(`lead data math --out {Path(path).parent}`) or point DATA_DIR at it.")
    model = str(config.actor_rollout_ref.model.path)
    if model.startswith(("/", "./", "../", "~")) and not Path(os.path.expanduser(model)).exists():
        problems.append(f"actor_rollout_ref.model.path: {model} does not exist; set BASE_MODEL to a local "
                        f"model folder or a Hugging Face model id")
    loggers = config.trainer.logger
    loggers = [loggers] if isinstance(loggers, str) else list(loggers)
    offline = os.environ.get("WANDB_MODE", "").lower() in OFFLINE_WANDB_MODES
    if "wandb" in loggers and not offline and not _wandb_credentials():
        problems.append("WANDB_API_KEY is not set and `wandb login` has not been run, but trainer.logger "
                        "includes wandb. Put WANDB_API_KEY=<key> in .env (see .env.example), run "
                        "`wandb login`, set WANDB_MODE=offline, or log to the console only with "
                        "trainer.logger='[console]'.")
    return problems


def _describe(err: BaseException) -> str:
    """The message of ``err``, with the causes Hydra wraps around the real problem."""
    parts = [str(err).strip() or type(err).__name__]
    cause = err.__cause__
    while cause is not None:
        text = str(cause).strip()
        if text and text not in parts[-1]:
            parts.append(text)
        cause = cause.__cause__
    return "\n".join(parts)


def compose_run(overrides: list[str]) -> Any:
    """The run's composed configuration (inside an initialised Hydra config module)."""
    from hydra import compose

    from lead.verl_plugin.overrides import explain_override_error

    try:
        return compose("lead_trainer", overrides=overrides)
    except Exception as err:
        explained = explain_override_error(err, overrides)
        if explained is err:
            raise
        raise explained from None


def check_run(run: PlannedRun, *, ray_address: str | None = None) -> RunReport:
    """Compose ``run``'s config, check it as a launch would, and find its state. Never raises
    for a bad run: the report carries the error, so every run of a plan gets checked."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from lead.verl_plugin.main import check_config
    from lead.verl_plugin.preflight import prepare_attention

    report = RunReport(run)
    notes = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always")
            # verl notes that estimators other than GAE run without a critic: true of every
            # method here, so it says nothing about this run.
            warnings.filterwarnings("ignore", message="Disabled critic")
            config = compose_run(run.overrides)
            # A machine without a GPU checks a GPU run's config but cannot hold its flash-attn.
            prepare_attention(config, check_import=cuda_available(), stream=notes)
            check_layout(config, ray_address)
            check_config(config)
            _check_reward_loadable(config)
        report.warnings = list(dict.fromkeys([*(str(w.message) for w in caught), *notes.getvalue().splitlines()]))
        report.config = config
        report.output_dir = str(config.trainer.default_local_dir)
        report.state, report.step, report.final_step, report.final_step_note = run_state(config)
        changes = settings_changes(report.output_dir, config) if report.state != "new" else []
        if changes:
            raise ValueError(
                f"{report.output_dir} holds a checkpoint of a run with other settings:\n  " + "\n  ".join(changes)
                + f"\nGive this run another name (RUN_NAME for a single run, OUTPUT_ROOT for a sweep), or delete "
                f"{Path(report.output_dir) / SETTINGS_FILE} to resume it with the new settings.")
        problems = launch_problems(config) if report.state != "done" else []
        if problems:
            report.error = "\n".join(problems)
    except (HydraException, OmegaConfBaseException, ValueError, TypeError, AssertionError) as err:
        report.error = _describe(err)
    except Exception as err:  # noqa: BLE001 - reported for this run; the other runs still get checked
        report.error = f"{type(err).__name__}: {_describe(err)}"
    return report


def check_plan(runs: Iterable[PlannedRun], *, ray_address: str | None = None) -> list[RunReport]:
    """Check every run of a plan in this process (one Hydra initialisation for all)."""
    from hydra import initialize_config_module

    import lead.verl_plugin.plugin  # noqa: F401 - the estimators and resolvers a config names

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        return [check_run(run, ray_address=ray_address) for run in runs]


def describe_state(report: RunReport) -> str:
    final = report.final_step
    if report.state == "new":
        return f"new, {final} steps" if final is not None else f"new (number of steps unknown: {report.final_step_note})"
    if report.state == "resume":
        return f"resume from step {report.step} of {final}"
    if report.state == "done":
        return f"done (final step {final} checkpointed)"
    return f"resume from step {report.step} (final step unknown: {report.final_step_note})"


def method_changes(config: Any) -> list[str]:
    """``knob=value`` for each knob of the run's method that differs from the method's default."""
    from omegaconf import OmegaConf

    from lead.core.registry import load_methods

    name = config.algorithm.adv_estimator
    cls = load_methods().get(name)
    # verl's own estimators (grpo) have no block of ours: their knobs are verl's algorithm keys.
    if cls is None or config.algorithm.get(name) is None:
        return []
    block = OmegaConf.to_container(config.algorithm[name], resolve=True)
    defaults = cls.config_cls().to_dict()
    return [f"{key}={value}" for key, value in block.items() if defaults.get(key) != value]
