"""Validate many ``lead-train`` runs in one process, and say where each one stands.

A sweep plans several runs; checking each with ``DRY_RUN=1 lead-train`` would pay verl's
import (seconds) once per run. This module composes every run's Hydra config in one process,
applies the checks a run does before starting Ray (:func:`lead.verl_plugin.main.check_config`),
resolves what the run loads by name (the advantage estimator and the reward function), and
reads the run's checkpoint marker to tell whether it is new, to be resumed, or finished.

Plan file (``-`` reads stdin): one run per line, tab-separated, the run's name first and then
its Hydra overrides exactly as they would be passed to ``lead-train``::

    math_lead_ratio0p5<TAB>algorithm.lead.static_lambda_corr=0.6667<TAB>trainer.default_local_dir=/ckpt/a ...

Blank lines and lines starting with ``#`` are ignored. A launch records a run's overrides in
``<trainer.default_local_dir>/lead_overrides.txt``; a run whose folder holds a checkpoint made
with other settings is invalid (resuming would silently mix two runs), and the error names the
settings that changed. Run states:

* ``new``: no ``latest_checkpointed_iteration.txt`` in ``trainer.default_local_dir``;
* ``resume``: the marker names step ``k`` < the final step; verl's ``resume_mode=auto``
  continues from ``global_step_k``;
* ``done``: the marker names the final step. verl 0.9.1 runs steps ``1..T`` with
  ``T = (rows // data.train_batch_size) * trainer.total_epochs`` (or
  ``trainer.total_training_steps``) and always checkpoints step ``T``, whatever ``save_freq``
  (the paper's release stopped one step early and never saved its last step);
* ``unknown``: there is a checkpoint, but ``T`` cannot be computed without loading the data (a
  missing or remote train file, ``filter_overlong_prompts``, a custom dataset class); launching
  is still safe: verl, resuming a finished run, validates it once and stops.

``python -m lead.verl_plugin.validate PLAN [--print-config] [--launch] [--states FILE]``
prints one line per run and exits 1 when any run is invalid (all runs are checked first).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

TRACKER_FILE = "latest_checkpointed_iteration.txt"
SETTINGS_FILE = "lead_overrides.txt"
# wandb.init never contacts the server in these modes, so no API key is needed.
OFFLINE_WANDB_MODES = ("offline", "disabled", "dryrun")


@dataclass
class PlannedRun:
    name: str
    overrides: list[str]


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


def read_plan(lines: Iterable[str]) -> list[PlannedRun]:
    """Parse a plan (see the module docstring). Raises ``ValueError`` naming the line for an
    empty run name, a run without overrides, or a name used twice."""
    runs: list[PlannedRun] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, *overrides = line.split("\t")
        name = name.strip()
        if not name:
            raise ValueError(f"plan line {number}: the run name (first tab-separated field) is empty")
        if name in seen:
            raise ValueError(f"plan line {number}: run {name!r} is already planned on line {seen[name]}")
        overrides = [o for o in overrides if o.strip()]
        if not overrides:
            raise ValueError(f"plan line {number}: run {name!r} has no overrides")
        seen[name] = number
        runs.append(PlannedRun(name, overrides))
    return runs


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


def _override_items(overrides: Iterable[str]) -> dict[str, str]:
    """``{key: value}`` of Hydra overrides (the last one of a key wins; ``~key`` deletes)."""
    items: dict[str, str] = {}
    for override in overrides:
        key, _, value = override.partition("=")
        items[key.lstrip("~+")] = value if not override.startswith("~") else "<deleted>"
    return items


def settings_changes(output_dir: str | os.PathLike, overrides: list[str]) -> list[str]:
    """How ``overrides`` differ from those recorded in ``output_dir`` by an earlier launch
    (one ``key: recorded -> now`` line each; empty when nothing was recorded or nothing changed)."""
    recorded_file = Path(output_dir) / SETTINGS_FILE
    if not recorded_file.is_file():
        return []
    recorded = _override_items(line for line in recorded_file.read_text().splitlines() if line.strip())
    now = _override_items(overrides)
    return [f"{key}: {recorded.get(key, '<unset>')} -> {now.get(key, '<unset>')}"
            for key in sorted(set(recorded) | set(now)) if recorded.get(key) != now.get(key)]


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


def _check_reward_loadable(config: Any) -> None:
    """Resolve the reward function the run looks up by name at start-up (the estimator name is
    checked by ``check_config``)."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    try:
        get_custom_reward_fn(config)
    except (OSError, ImportError, AttributeError, RuntimeError) as err:
        path = config.reward.custom_reward_function.get("path")
        raise ValueError(f"reward.custom_reward_function.path={path!r} cannot be loaded: {err}") from None


def _wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="replace")


def launch_problems(config: Any) -> list[str]:
    """What a real (non-dry) launch of ``config`` is missing on this machine, with how to fix it."""
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


def check_run(run: PlannedRun, *, launch: bool = False) -> RunReport:
    """Compose ``run``'s config, check it as a launch would, and find its state. Never raises
    for a bad run: the report carries the error, so every run of a plan gets checked."""
    from hydra import compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from lead.verl_plugin.main import check_config

    report = RunReport(run)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always")
            # verl notes that estimators other than GAE run without a critic: true of every
            # method here, so it says nothing about this run.
            warnings.filterwarnings("ignore", message="Disabled critic")
            config = compose("lead_trainer", overrides=run.overrides)
            check_config(config)
            _check_reward_loadable(config)
        report.warnings = list(dict.fromkeys(str(w.message) for w in caught))
        report.config = config
        report.output_dir = str(config.trainer.default_local_dir)
        report.state, report.step, report.final_step, report.final_step_note = run_state(config)
        changes = settings_changes(report.output_dir, run.overrides) if report.state != "new" else []
        if changes:
            raise ValueError(
                f"{report.output_dir} holds a checkpoint of a run with other settings:\n  " + "\n  ".join(changes)
                + f"\nGive this run another name (RUN_NAME for a single run, OUTPUT_ROOT for a sweep), or delete "
                f"{Path(report.output_dir) / SETTINGS_FILE} to resume it with the new settings.")
        if launch:
            problems = launch_problems(config)
            if problems:
                report.error = "\n".join(problems)
    except (HydraException, OmegaConfBaseException, ValueError, TypeError, AssertionError) as err:
        report.error = _describe(err)
    except Exception as err:  # noqa: BLE001 - reported for this run; the other runs still get checked
        report.error = f"{type(err).__name__}: {_describe(err)}"
    return report


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


def check_plan(runs: list[PlannedRun], *, launch: bool = False) -> list[RunReport]:
    """Check every run of a plan in this process (one Hydra initialisation for all)."""
    from hydra import initialize_config_module

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        return [check_run(run, launch=launch) for run in runs]


def describe_state(report: RunReport) -> str:
    final = report.final_step
    if report.state == "new":
        return f"new, {final} steps" if final is not None else f"new (number of steps unknown: {report.final_step_note})"
    if report.state == "resume":
        return f"resume from step {report.step} of {final}"
    if report.state == "done":
        return f"done (final step {final} checkpointed)"
    return f"resume from step {report.step} (final step unknown: {report.final_step_note})"


def write_states(reports: list[RunReport], out: TextIO) -> None:
    """``name<TAB>state<TAB>step<TAB>final`` per valid run (``-`` for an unknown number)."""
    for r in reports:
        if r.ok:
            out.write("\t".join([r.run.name, r.state, *("-" if v is None else str(v) for v in (r.step, r.final_step))])
                      + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lead.verl_plugin.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", help="plan file (one run per line: name<TAB>override<TAB>...), or - for stdin")
    parser.add_argument("--print-config", action="store_true", help="print each valid run's resolved config")
    parser.add_argument("--launch", action="store_true",
                        help="also check what a real launch needs on this machine (data files, model, wandb login)")
    parser.add_argument("--states", type=Path, help="write name<TAB>state<TAB>step<TAB>final per valid run here")
    args = parser.parse_args(argv)
    try:
        if args.plan == "-":
            runs = read_plan(sys.stdin)
        else:
            with open(args.plan, encoding="utf-8") as handle:
                runs = read_plan(handle)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not runs:
        print(f"error: the plan {args.plan} holds no runs", file=sys.stderr)
        return 2

    reports = check_plan(runs, launch=args.launch)
    from omegaconf import OmegaConf

    for r in reports:
        if not r.ok:
            print(f"[invalid] {r.run.name}:\n    " + r.error.replace("\n", "\n    "), file=sys.stderr)
            continue
        if args.print_config:
            print(OmegaConf.to_yaml(r.config, resolve=True))
        print(f"[ok] {r.run.name}: {describe_state(r)} ({r.output_dir})")
        for message in r.warnings:
            print(f"    warning: {message}")
    if args.states:
        with args.states.open("w", encoding="utf-8") as out:
            write_states(reports, out)
    bad = [r.run.name for r in reports if not r.ok]
    if bad:
        print(f"{len(bad)} of {len(reports)} planned run(s) invalid: {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"all {len(reports)} planned run(s) valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
