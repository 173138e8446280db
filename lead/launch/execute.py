"""Launching checked runs one after the other, each in its own ``lead-train`` process.

Before a run starts, its folder gets the records a later launch reads: ``lead_config.yaml``, the
configuration the launcher composed, checked and resolved (what a resume is checked against), and
``wandb_run_id`` (one wandb run per training run, continued on resume; a fresh start gets a fresh id
so it never appends to the history of a deleted attempt). ``lead-train --config <run>/lead_config.yaml``
trains that file as it is, without composing or checking it again: the recorded configuration is
the one that trains. A CPU run's settings of ``device/cpu.yaml`` open its log.
The trainer writes every step's metrics to ``metrics.jsonl`` (:mod:`lead.metrics`).

The run's whole output goes to ``<run>/train.log``; the console gets it without verl's printed
configuration (recorded in ``lead_config.yaml``) and the known harmless warnings of
:data:`QUIET_PATTERNS` (``VERBOSE=1`` shows everything). A finished run ends with its checkpoint,
its validation scores and the commands that come next.

``lead-train`` runs in a session of its own, marked with ``LEAD_RUN_ID`` in its environment, which
every process of the run inherits (Ray's, the rollout servers', the grader's pool). SIGINT (Ctrl-C),
SIGTERM or SIGHUP to the launcher stops all of them within seconds (SIGTERM, then SIGKILL) and
ends the launch with one line saying how to resume; no further step is trained or checkpointed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lead.launch.check import RunReport, checkpoint_step, record_settings
from lead.launch.processes import marked_processes, stop_processes

RUN_MARK = "LEAD_RUN_ID"
# Seconds the run's processes get to exit after SIGTERM before SIGKILL.
STOP_GRACE_S = 3.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Ray's prefix of a worker's line: "(TaskRunnerV1 pid=123)", "(pid=123, ip=10.0.0.2)".
RAY_PREFIX = re.compile(r"^(\([^()]*pid=\d+[^()]*\)) ?(.*)$")
# verl's TaskRunner pprints the whole resolved configuration (about 1,000 lines), a dict literal.
CONFIG_START = re.compile(r"^\{'[a-z_]+': ")
# Known warnings that say nothing about the run, and why each is harmless. A match hides the line
# (and, for a Python warning, the source line printed under it) from the console only.
QUIET_PATTERNS = {
    # verl probes its optional training engines at import, in every process; FSDP is the one used.
    "optional engine": re.compile(
        r"UserWarning: (torchtitan|veomni|automodel|mindspeed|megatron) engine is not "
        r"available: ModuleNotFoundError\("
    ),
    # verl's agent loop, once per rollout: models without a builder of their own use the default one.
    "token builder": re.compile(
        r"No model-specific Continuous Token builder is registered for config\.json "
        r"model_type="
    ),
    # TransferQueue caps its threads at the machine's cores, on every call.
    "queue threads": re.compile(
        r"target_num_threads \d+ should not exceed total physical CPU cores \d+\. "
        r"Setting to \d+\."
    ),
    # Every method here runs without a critic, as intended.
    "no critic": re.compile(r"UserWarning: Disabled critic as algorithm\.adv_estimator != gae\."),
}


# The same Python warnings, and verl's note that a machine without a GPU falls back to the
# 'nvidia' platform, when the launcher imports verl to check the runs (no run needs a GPU for that).
LAUNCHER_WARNINGS = r"(torchtitan|veomni|automodel|mindspeed|megatron) engine is not available: ModuleNotFoundError"
PLATFORM_LOGGER = "verl.plugin.platform.platform_manager"
PLATFORM_NOTES = ("No supported accelerator detected", "Platform '%s' (%s) is registered but not available")


@contextmanager
def launcher_warnings_quieted() -> Iterator[None]:
    """Checking the runs in this process without the known warnings of verl's import."""
    import logging
    import warnings

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(PLATFORM_NOTES)

    platform = logging.getLogger(PLATFORM_LOGGER)
    platform.addFilter(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=LAUNCHER_WARNINGS)
            yield
    finally:
        platform.removeFilter(keep)


class _Literal:
    """Where a Python literal printed over several lines ends: brackets outside strings balance.
    Ray cuts a worker's long output at arbitrary points, so lines are not the literal's own."""

    def __init__(self) -> None:
        self.depth, self.quote, self.escaped = 0, "", False

    def feed(self, text: str) -> bool:
        """Read one more piece; True while the literal goes on."""
        for char in text:
            if self.quote:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == self.quote:
                    self.quote = ""
            elif char in "'\"":
                self.quote = char
            elif char in "{[(":
                self.depth += 1
            elif char in "}])":
                self.depth -= 1
        return self.depth > 0


# A line that cannot be part of the configuration: a log record or a step's metrics.
NOT_CONFIG = re.compile(r"^(INFO|WARNING|ERROR|DEBUG|CRITICAL)[:\s]|^step:\d+ ")


class ConsoleFilter:
    """Which of the trainer's lines reach the console; counts what it holds back."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.hidden = 0
        self._config: dict[str, _Literal] = {}
        self._source_of: set[str] = set()

    def keep(self, line: str) -> bool:
        if self.verbose:
            return True
        match = RAY_PREFIX.match(ANSI.sub("", line.rstrip("\n")))
        prefix, text = match.groups() if match else ("", ANSI.sub("", line.rstrip("\n")))
        hide = False
        if prefix in self._config:
            hide = not NOT_CONFIG.match(text)
            if not hide or not self._config[prefix].feed(text):
                del self._config[prefix]
        if not hide and prefix in self._source_of:
            self._source_of.discard(prefix)
            hide = text.startswith("  ")
        if not hide and "TaskRunner" in prefix and CONFIG_START.match(text):
            literal = _Literal()
            if literal.feed(text):
                self._config[prefix] = literal
            hide = True
        if not hide and any(p.search(text) for p in QUIET_PATTERNS.values()):
            hide = True
            if "Warning: " in text:
                self._source_of.add(prefix)
        self.hidden += hide
        return not hide


class RunInterrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """Turn the stop signals into :class:`RunInterrupted` in this (the main) thread."""

    def handler(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def wandb_run_id(folder: Path, name: str, fresh: bool) -> str:
    path = folder / "wandb_run_id"
    if fresh or not path.is_file() or not path.read_text().strip():
        path.write_text(f"{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-{time.strftime('%Y%m%d%H%M%S')}\n")
    return path.read_text().strip()


def train_command(record: Path, python: str = sys.executable) -> list[str]:
    """``lead-train`` on the configuration recorded in ``record`` (Hydra's files go beside it, in ``hydra/``)."""
    return [python, "-m", "lead.verl_plugin.main", "--config", str(record)]


def opening_lines(report: RunReport) -> list[str]:
    """What a run's log starts with before ``lead-train``'s output: a CPU run's settings of the CPU
    group, the keys the run's overrides set listed apart."""
    if report.run.device != "cpu":
        return []
    from lead.verl_plugin.main import cpu_settings_report, override_key

    user = {override_key(o) for o in report.run.overrides} - {None, "device"}
    return [line + "\n" for line in cpu_settings_report(report.config, user).splitlines()]


def stop_run(process: subprocess.Popen | None, mark: str) -> None:
    """Stop ``lead-train`` and every process carrying its mark, and reap it."""
    for _ in range(3):  # a process may start while the others stop
        found = marked_processes(RUN_MARK, mark)
        if not found and (process is None or process.poll() is not None):
            break
        stop_processes(found, STOP_GRACE_S, group=process.pid if process is not None else None)
    if process is not None:
        process.wait()


def launch_run(
    report: RunReport, env: Mapping[str, str], python: str = sys.executable, console: ConsoleFilter | None = None
) -> int:
    """Start one checked run and wait for it; returns its exit code. Raises :class:`RunInterrupted`
    after stopping the whole run when a stop signal arrives."""
    folder = Path(report.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    mark = uuid.uuid4().hex
    run_env = {
        **env,
        "PYTHONUNBUFFERED": "1",
        "WANDB_RESUME": "allow",
        "DEVICE": report.run.device,
        "WANDB_RUN_ID": wandb_run_id(folder, report.run.name, fresh=report.state == "new"),
        RUN_MARK: mark,
    }
    record = record_settings(folder, report.config)
    console = console or ConsoleFilter()
    process = None
    with (folder / "train.log").open("a", encoding="utf-8", buffering=1) as log, interrupts_raised():

        def show(line: str) -> None:
            log.write(line)
            if console.keep(line):
                sys.stdout.write(line)
                sys.stdout.flush()

        try:
            for line in opening_lines(report):
                show(line)
            process = subprocess.Popen(
                train_command(record, python),
                env=run_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
            assert process.stdout is not None
            for line in process.stdout:
                show(line)
            return process.wait()
        except RunInterrupted:
            for s in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
                signal.signal(s, signal.SIG_IGN)
            stop_run(process, mark)
            if process is not None and process.stdout is not None:
                log.write(_remaining(process.stdout))
            raise
        finally:
            if process is not None and process.stdout is not None:
                process.stdout.close()


def after_failure(report: RunReport) -> str:
    """What to do after ``report``'s run failed: resume only when it checkpointed a step this time;
    otherwise a rerun would fail the same way (bad data, a bad setting, a crash before a save)."""
    try:
        step = checkpoint_step(report.output_dir)
    except ValueError as err:
        return str(err)
    if step is not None and (report.step is None or step > report.step):
        return f"rerun to resume it from step {step}"
    start = f"resume from step {report.step}" if report.step is not None else "start from step 1"
    return f"it wrote no checkpoint, so a rerun would {start} again: fix the cause in the log first"


def _remaining(stream: TextIO, timeout_s: float = 2.0) -> str:
    """What is left in a stopped run's pipe, without waiting on a writer that outlived it."""
    import select

    chunks, deadline = [], time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0 and select.select([stream], [], [], left)[0]:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@dataclass
class Rerun:
    """How the user reruns this launch: the launch script and their overrides, or ``LEAD_RERUN``
    (a command taking the overrides as ``ARGS="..."``, e.g. ``make train``)."""

    script: str | None = None
    overrides: list[str] = field(default_factory=list)
    command: str | None = None

    def with_overrides(self, extra: Sequence[str] = ()) -> str:
        keys = {o.split("=", 1)[0] for o in extra}
        args = [o for o in self.overrides if o.split("=", 1)[0].lstrip("+~") not in keys] + list(extra)
        if self.command:
            return f'{self.command} ARGS="{" ".join(args)}"' if args else self.command
        if self.script:
            return shlex.join(["bash", _shown_path(self.script), *args])
        return "the same command" + (f" with {' '.join(extra)}" if extra else "")


def _shown_path(path: str) -> str:
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


def lead_command() -> str:
    """How to call ``lead`` from here: its name where PATH finds this installation, else its path."""
    beside = Path(sys.executable).parent / "lead"
    found = shutil.which("lead")
    if found and Path(found).resolve() == beside.resolve():
        return "lead"
    return _shown_path(str(beside)) if beside.is_file() else f"{_shown_path(sys.executable)} -m lead"


def longer(report: RunReport) -> tuple[str, str]:
    """The override that trains ``report``'s run further, and what it changes."""
    trainer = report.config.trainer
    if trainer.get("total_training_steps") is not None:
        steps = int(trainer.total_training_steps)
        return f"trainer.total_training_steps={2 * steps}", f"{steps} -> {2 * steps} steps"
    epochs = int(trainer.total_epochs)
    return f"trainer.total_epochs={epochs + 1}", f"{epochs} -> {epochs + 1} epochs"


def next_steps(report: RunReport, rerun: Rerun, hidden: int = 0) -> list[str]:
    """What a finished run leaves and what to do next, a few indented lines."""
    from lead.metrics import read_metrics, validation_change

    folder = Path(report.output_dir)
    step = checkpoint_step(folder)
    lines = []
    if step is not None:
        lines.append(f"   checkpoint: {folder / f'global_step_{step}'}")
    try:
        steps = read_metrics(folder)
    except (FileNotFoundError, ValueError):
        steps = {}
    if steps:
        lines += [f"   validation {line}" for line in validation_change(steps)]
        lines.append(f"   metrics: {folder / 'metrics.jsonl'} ({len(steps)} steps)")
    if hidden:
        lines.append(
            f"   console: {hidden} lines of verl's configuration and known warnings left out "
            f"(all in {folder / 'train.log'}; VERBOSE=1 shows them)"
        )
    lead = lead_command()
    name = report.run.name
    cpu = report.run.device == "cpu"
    extra = f" --max-tokens {report.config.data.max_response_length} --limit 20" if cpu else ""
    override, change = longer(report)
    lines += ["   next:"]
    if step is not None:
        lines += [
            f"     evaluate it:  {lead} data eval --out data/eval   (once: the benchmarks)",
            f"                   {lead} eval --model {folder / f'global_step_{step}'} --out runs/{name}{extra}",
        ]
    lines += [
        f"     plot curves:  {lead} curves {folder} --out {folder / 'curves'}",
        f"     train longer: {rerun.with_overrides([override])}   ({change}"
        + (f", resumes from step {step})" if step is not None else ")"),
    ]
    return lines


def _interrupted_line(report: RunReport, stop: RunInterrupted, rerun: Rerun) -> str:
    try:
        step = checkpoint_step(report.output_dir)
    except ValueError:
        step = None
    kept = f"the last checkpoint is step {step}" if step is not None else "no checkpoint was written"
    return (
        f"== {report.run.name}: interrupted ({stop}); every process of the run stopped, {kept}; "
        f"resume with: {rerun.with_overrides()}"
    )


def launch_all(
    reports: Sequence[RunReport],
    env: Mapping[str, str],
    python: str = sys.executable,
    rerun: Rerun | None = None,
    out: TextIO | None = None,
) -> int:
    """Launch every run not finished yet, in order; an interrupted run resumes from its latest
    checkpoint on the next launch. Returns 0, 1 when any run failed (the others still ran), or
    128 + the signal's number when a stop signal ended the launch."""
    out = out or sys.stdout
    rerun = rerun or Rerun(command=env.get("LEAD_RERUN") or None)
    verbose = env.get("VERBOSE", "0").strip() not in ("", "0")
    failed = []
    for report in reports:
        name = report.run.name
        if report.state == "done":
            override, change = longer(report)
            print(
                f"== {name}: finished, skipped (final step {report.final_step} checkpointed); to train "
                f"longer: {rerun.with_overrides([override])}   ({change})",
                file=out,
                flush=True,
            )
            continue
        print(f"== {name}: {report.state} (log: {Path(report.output_dir) / 'train.log'})", file=out, flush=True)
        console = ConsoleFilter(verbose)
        try:
            code = launch_run(report, env, python, console)
        except RunInterrupted as stop:
            print(_interrupted_line(report, stop, rerun), file=sys.stderr, flush=True)
            return 128 + stop.signum
        if code == 0:
            print(f"== {name}: finished", file=out, flush=True)
            print("\n".join(next_steps(report, rerun, console.hidden)), file=out, flush=True)
        else:
            failed.append(name)
            print(
                f"== {name}: FAILED (see {Path(report.output_dir) / 'train.log'}); {after_failure(report)}",
                file=sys.stderr,
                flush=True,
            )
    if failed:
        print(f"{len(failed)} run(s) failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0
