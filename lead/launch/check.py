"""Checking planned runs in one process: compose, validate, and say where each run stands.

A sweep plans several runs; checking each with ``DRY_RUN=1 lead-train`` would pay verl's import
(seconds) once per run. Here every run's Hydra config is composed in one process and gets the
checks a launch makes before Ray starts (:func:`lead.verl_plugin.main.check_config`, the reward
function resolved by name, the multi-node layout), plus what a launch needs on this machine (data,
model, wandb login): a dry run reports exactly the problems a launch would. They are the run's
only checks: ``lead-train`` then trains the recorded configuration (below) without composing or
checking it again.

A run's state comes from verl's checkpoint marker in ``trainer.default_local_dir``:

* ``new``: no ``latest_checkpointed_iteration.txt``;
* ``resume``: the marker names step ``k`` < the final step; verl's ``resume_mode=auto`` continues
  from ``global_step_k``;
* ``done``: the marker names the final step. verl 0.9.1 runs steps ``1..T`` with
  ``T = (rows // data.train_batch_size) * trainer.total_epochs``, or ``trainer.total_training_steps``
  when that is smaller: its loop ends with the last epoch whatever ``total_training_steps`` says.
  It checkpoints every ``trainer.save_freq`` steps and at step ``trainer.total_training_steps``,
  and never when ``save_freq <= 0``; so a launch refuses ``save_freq <= 0`` and, when the epochs
  end first, runs with ``trainer.total_training_steps=T`` so that step ``T`` is checkpointed;
* ``unknown``: there is a checkpoint, but ``T`` cannot be computed without loading the data (a
  missing or remote train file, ``filter_overlong_prompts``, a custom dataset class); launching is
  still safe: verl, resuming a finished run, validates it once and stops.

A launch records the run's resolved configuration in ``<run>/lead_config.yaml``, the file
``lead-train --config`` trains (:mod:`lead.launch.execute`); resuming with
settings that change the training (anything but logging, checkpointing and run length) is refused,
naming each changed key, since it would silently mix two runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lead.launch.plan import PlannedRun
from lead.verl_plugin.preflight import cuda_available, runtime_problems

TRACKER_FILE = "latest_checkpointed_iteration.txt"
SETTINGS_FILE = "lead_config.yaml"
# wandb.init never contacts the server in these modes, so no API key is needed.
OFFLINE_WANDB_MODES = ("offline", "disabled", "dryrun")
# Keys a resumed run may change without mixing two runs: what is logged, how often it is
# checkpointed or validated, how long it goes on, and the recipe's cost figures (lead/launch/cost.py).
RESUMABLE_CHANGES = (
    "cost",
    "trainer.logger",
    "trainer.project_name",
    "trainer.save_freq",
    "trainer.test_freq",
    "trainer.val_before_train",
    "trainer.max_actor_ckpt_to_keep",
    "trainer.total_epochs",
    "trainer.total_training_steps",
    "trainer.resume_mode",
    "ray_kwargs",
    "hydra",
)


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
        raise ValueError(
            f"{tracker} names step {step} but {folder / f'global_step_{step}'} is missing: restore "
            f"that checkpoint, or remove the marker (and the folder) to start the run again"
        )
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


def train_rows(config: Any) -> tuple[int | None, str]:
    """The training rows verl's dataset will hold (``data.train_max_samples`` applied), and why
    it is None when only loading the data could tell."""
    data = config.data
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
            return None, (
                f"cannot count the rows of {path} (not .parquet or .jsonl)" if exists else f"{path} is not here"
            )
        rows += count
    max_samples = data.get("train_max_samples", -1) or -1
    return (max_samples if 0 < max_samples < rows else rows), ""


def final_step(config: Any) -> tuple[int | None, str]:
    """The last training step verl 0.9.1 will run for ``config``, and a note: why it is None if
    unknown, or that the data's epochs end before ``trainer.total_training_steps``.

    verl's v1 trainer: ``steps_per_epoch = len(train_dataset) // data.train_batch_size`` (the
    loader drops the last partial batch), and its loop stops after ``trainer.total_epochs`` epochs
    or at ``trainer.total_training_steps``, whichever comes first."""
    trainer = config.trainer
    steps = trainer.get("total_training_steps")
    rows, note = train_rows(config)
    if rows is None:
        return None, note + (f" (at most trainer.total_training_steps={steps})" if steps is not None else "")
    per_epoch = rows // int(config.data.train_batch_size)
    by_epochs = per_epoch * int(trainer.total_epochs)
    if steps is None or int(steps) <= by_epochs:
        return (by_epochs if steps is None else int(steps)), ""
    return by_epochs, (
        f"trainer.total_training_steps={steps} is more than the data gives ({rows} rows // "
        f"data.train_batch_size={config.data.train_batch_size} = {per_epoch} steps per epoch x "
        f"trainer.total_epochs={trainer.total_epochs}): the run ends, and is checkpointed, at step "
        f"{by_epochs}; raise trainer.total_epochs to train longer"
    )


def run_state(config: Any) -> tuple[str, int | None, int | None, str]:
    """``(state, checkpointed step, final step, note)`` of the run ``config`` describes."""
    step = checkpoint_step(config.trainer.default_local_dir)
    final, note = final_step(config)
    if step is None:
        return "new", None, final, note
    if final is None:
        return "unknown", step, None, note
    if step > final:
        raise ValueError(
            f"{config.trainer.default_local_dir} holds step {step}, beyond this run's final step "
            f"{final}: it belongs to a different run (data, batch size or epochs changed)"
        )
    return ("done" if step == final else "resume"), step, final, note


def check_checkpointing(config: Any) -> None:
    """A launched run must checkpoint: resuming and skipping finished runs read verl's checkpoints."""
    save_freq = config.trainer.save_freq
    if int(save_freq) <= 0:
        raise ValueError(
            f"trainer.save_freq={save_freq}: verl then writes no checkpoint, so the run can neither "
            "resume nor be seen as finished; set trainer.save_freq to a number of steps (the recipes: 50)"
        )


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

    return [
        f"{key}: {recorded.get(key, '<unset>')} -> {now.get(key, '<unset>')}"
        for key in sorted(set(recorded) | set(now))
        if kept(key) and recorded.get(key) != now.get(key)
    ]


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
        raise ValueError(
            f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp} must divide the GPUs per node "
            f"(N_GPUS={gpus}): a vLLM engine runs on the GPUs of one node"
        )
    world = gpus * nodes
    n = int(rollout.n)
    for what, prompts in (
        ("data.train_batch_size", config.data.train_batch_size),
        ("actor_rollout_ref.actor.ppo_mini_batch_size", config.actor_rollout_ref.actor.ppo_mini_batch_size),
    ):
        if (int(prompts) * n) % world:
            raise ValueError(
                f"{what}={prompts} x actor_rollout_ref.rollout.n={n} = {int(prompts) * n} responses do not "
                f"split evenly over {world} GPU(s) ({nodes} node(s) x N_GPUS={gpus}): choose sizes "
                f"divisible by {world}"
            )
    if nodes > 1 and not ray_address:
        raise ValueError(
            f"NNODES={nodes} needs a Ray cluster spanning the nodes: start one (`ray start --head` on "
            f"the head, `ray start --address <head>:6379` on the others; scripts/slurm/ does both) "
            f"and set RAY_ADDRESS, or run on one node"
        )


def _wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="replace")


DATA_FORMATS = (".parquet", ".json", ".jsonl")
DATA_FIX = "`lead data math --out DIR` writes files of this form"


def _first_record(local: Path, columns: list[str]) -> tuple[list[str], int, dict[str, Any] | None, Any]:
    """``(columns, rows, first row, arrow schema or None)`` of a ``.parquet`` or ``.jsonl`` file;
    of a parquet file only its footer and the first row of ``columns`` are read."""
    if local.suffix == ".parquet":
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(local)
        schema = handle.schema_arrow
        rows = handle.metadata.num_rows
        wanted = [c for c in columns if c in schema.names]
        batch = next(handle.iter_batches(batch_size=1, columns=wanted), None) if rows and wanted else None
        return list(schema.names), rows, (batch.to_pylist()[0] if batch is not None else None), schema
    import json

    first, rows = None, 0
    with local.open("rb") as handle:
        for line in handle:
            if line.strip():
                rows += 1
                first = json.loads(line) if first is None else first
    if first is not None and not isinstance(first, dict):
        raise ValueError("its first line is not a JSON object")
    return sorted(first or {}), rows, first, None


def _chat_problem(prompt: Any) -> str | None:
    """What keeps ``prompt`` (one row's value) from being chat messages, or None."""
    if isinstance(prompt, str):
        return "holds plain text"
    if prompt is None or prompt == []:
        return "is empty"
    if not isinstance(prompt, list):
        return f"holds a {type(prompt).__name__}"
    for message in prompt:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or message.get("content") is None:
            return f"holds {message!r} where a message {{'role': ..., 'content': ...}} belongs"
    return None


def data_file_problems(key: str, path: str, config: Any) -> list[str]:
    """What keeps the local data file ``path`` (of ``data.<key>``) from being read by verl's
    dataset and scored by its reward: the format, no rows, the prompt column in chat form
    (``data.prompt_key``), ``data_source``, ``reward_model.ground_truth``, and ``extra_info.index``
    for a method that remembers prompts across steps. Reads the schema and the first row only."""
    local = Path(os.path.expanduser(path))
    where = f"data.{key}: {path}"
    if local.suffix not in DATA_FORMATS:
        return [
            f"{where} is not a data file verl reads ({', '.join(DATA_FORMATS)}); convert it to parquet ({DATA_FIX})"
        ]
    if local.suffix == ".json":
        return []  # one JSON document or one object per line: only loading it all tells
    prompt_key = str(config.data.get("prompt_key") or "prompt")
    try:
        columns, rows, first, schema = _first_record(local, [prompt_key, "reward_model"])
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported the same way
        return [f"{where} cannot be read ({' '.join(str(err).split()) or type(err).__name__}); rewrite it ({DATA_FIX})"]
    if not rows:
        return [f"{where} has no rows; point DATA_DIR at the prepared data ({DATA_FIX})"]
    needed = {
        prompt_key: "the prompt, as chat messages",
        "data_source": "passed to the reward",
        "reward_model": "reward_model.ground_truth, the answer the reward checks",
    }
    from lead.core.methods import load_methods

    name = config.algorithm.adv_estimator
    method = load_methods().get(name)
    if key == "train_files" and getattr(method, "needs_prompt_keys", False):
        needed["extra_info"] = f"extra_info.index, the stable prompt id {name} remembers prompts by"
    missing = [f"{column} ({why})" for column, why in needed.items() if column not in columns]
    if missing:
        return [f"{where} lacks the column(s) {'; '.join(missing)}; it has {', '.join(columns) or 'none'} ({DATA_FIX})"]
    problems = []
    chat = _chat_problem(first.get(prompt_key)) if first is not None else None
    if chat:
        problems.append(
            f"{where}: column {prompt_key} {chat}; verl needs chat messages, a list of {{role, content}} "
            f"(e.g. [{{'role': 'user', 'content': '<problem>'}}]) ({DATA_FIX})"
        )
    reward = first.get("reward_model") if first is not None else None
    if not isinstance(reward, dict) or reward.get("ground_truth") is None:
        problems.append(
            f"{where}: reward_model of the first row is {reward!r}; the reward reads "
            f"reward_model.ground_truth, the gold answer ({DATA_FIX})"
        )
    if "extra_info" in needed and not _has_index(schema, first):
        problems.append(
            f"{where}: extra_info has no index, the stable prompt id {name} remembers prompts by "
            f"(verl would give every prompt id 0) ({DATA_FIX})"
        )
    return problems


def _has_index(schema: Any, first: dict[str, Any] | None) -> bool:
    if schema is not None:
        info = schema.field("extra_info").type
        return hasattr(info, "get_field_index") and info.get_field_index("index") >= 0
    return isinstance(first, dict) and isinstance(first.get("extra_info"), dict) and "index" in first["extra_info"]


def data_problems(config: Any) -> list[str]:
    """What keeps the run's data from training: missing or unreadable files (:func:`data_file_problems`)
    and fewer training rows than one batch (verl trains on full batches only)."""
    problems = []
    for key in ("train_files", "val_files"):
        for path in _data_files(config.data.get(key)):
            if "://" in path:
                continue
            if not Path(os.path.expanduser(path)).is_file():
                problems.append(
                    f"data.{key}: {path} does not exist. Prepare the data first "
                    f"(`lead data math --out {Path(path).parent}`) or point DATA_DIR at it."
                )
            else:
                problems += data_file_problems(key, path, config)
    rows, _ = train_rows(config)
    batch = int(config.data.train_batch_size)
    if not problems and rows is not None and rows < batch:
        problems.append(
            f"data.train_files: {rows} training rows are fewer than data.train_batch_size={batch}, and "
            f"verl trains on full batches only: use more data or a data.train_batch_size of at most {rows}"
        )
    return problems


def launch_problems(config: Any) -> list[str]:
    """What a launch of ``config`` is missing on this machine, with how to fix it."""
    problems = data_problems(config) + runtime_problems(config)
    model = str(config.actor_rollout_ref.model.path)
    if model.startswith(("/", "./", "../", "~")) and not Path(os.path.expanduser(model)).exists():
        problems.append(
            f"actor_rollout_ref.model.path: {model} does not exist; set BASE_MODEL to a local "
            f"model folder or a Hugging Face model id"
        )
    loggers = config.trainer.logger
    loggers = [loggers] if isinstance(loggers, str) else list(loggers)
    offline = os.environ.get("WANDB_MODE", "").lower() in OFFLINE_WANDB_MODES
    if "wandb" in loggers and not offline and not _wandb_credentials():
        problems.append(
            "WANDB_API_KEY is not set and `wandb login` has not been run, but trainer.logger "
            "includes wandb. Put WANDB_API_KEY=<key> in .env (see .env.example), run "
            "`wandb login`, set WANDB_MODE=offline, or log to the console only with "
            "trainer.logger='[console]'."
        )
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

    from lead.verl_plugin.overrides import check_release_names, explain_override_error

    check_release_names(overrides)
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
    from omegaconf import OmegaConf
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
        check_checkpointing(config)
        report.state, report.step, report.final_step, report.final_step_note = run_state(config)
        steps = config.trainer.get("total_training_steps")
        if report.final_step is not None and steps is not None and report.final_step < int(steps):
            # verl checkpoints its "last step" only when it reaches trainer.total_training_steps.
            report.warnings.append(report.final_step_note)
            OmegaConf.update(config, "trainer.total_training_steps", report.final_step)
            report.run = replace(run, overrides=[*run.overrides, f"trainer.total_training_steps={report.final_step}"])
        changes = settings_changes(report.output_dir, config) if report.state != "new" else []
        if changes:
            raise ValueError(
                f"{report.output_dir} holds a checkpoint of a run with other settings:\n  "
                + "\n  ".join(changes)
                + f"\nGive this run another name (RUN_NAME for a single run, OUTPUT_ROOT for a sweep), or delete "
                f"{Path(report.output_dir) / SETTINGS_FILE} to resume it with the new settings."
            )
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
        return (
            f"new, {final} steps" if final is not None else f"new (number of steps unknown: {report.final_step_note})"
        )
    if report.state == "resume":
        return f"resume from step {report.step} of {final}"
    if report.state == "done":
        return f"done (final step {final} checkpointed)"
    return f"resume from step {report.step} (final step unknown: {report.final_step_note})"


def method_changes(config: Any) -> list[str]:
    """``knob=value`` for each knob of the run's method that differs from the method's default."""
    from omegaconf import OmegaConf

    from lead.core.knobs import CONFIGS

    name = config.algorithm.adv_estimator
    config_cls = CONFIGS.get(name)
    # verl's own estimators (grpo) have no block of ours: their knobs are verl's algorithm keys.
    if config_cls is None or config.algorithm.get(name) is None:
        return []
    block = OmegaConf.to_container(config.algorithm[name], resolve=True)
    defaults = config_cls().to_dict()
    return [f"{key}={value}" for key, value in block.items() if defaults.get(key) != value]
