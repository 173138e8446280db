"""Launching checked runs one after the other, each in its own ``lead-train`` process.

Before a run starts, its folder gets the records a later launch reads: ``lead_config.yaml`` (what
a resume is checked against) and ``wandb_run_id`` (one wandb run per training run, continued on
resume; a fresh start gets a fresh id so it never appends to the history of a deleted attempt).
The run's output goes to the console and to ``<run>/train.log``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from lead.launch.check import RunReport, checkpoint_step, record_settings


def wandb_run_id(folder: Path, name: str, fresh: bool) -> str:
    path = folder / "wandb_run_id"
    if fresh or not path.is_file() or not path.read_text().strip():
        path.write_text(f"{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-{time.strftime('%Y%m%d%H%M%S')}\n")
    return path.read_text().strip()


def train_command(report: RunReport, python: str = sys.executable) -> list[str]:
    folder = Path(report.output_dir)
    return [python, "-m", "lead.verl_plugin.main", *report.run.overrides, f"hydra.run.dir={folder / 'hydra'}"]


def launch_run(report: RunReport, env: Mapping[str, str], python: str = sys.executable) -> int:
    """Start one checked run and wait for it; returns its exit code."""
    folder = Path(report.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    run_env = {**env, "PYTHONUNBUFFERED": "1", "WANDB_RESUME": "allow", "DEVICE": report.run.device,
               "WANDB_RUN_ID": wandb_run_id(folder, report.run.name, fresh=report.state == "new")}
    record_settings(folder, report.config)
    with (folder / "train.log").open("a", encoding="utf-8") as log:
        process = subprocess.Popen(train_command(report, python), env=run_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        return process.wait()


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


def launch_all(reports: Sequence[RunReport], env: Mapping[str, str], python: str = sys.executable) -> int:
    """Launch every run not finished yet, in order; an interrupted run resumes from its latest
    checkpoint on the next launch. Returns 0, or 1 when any run failed (the others still ran)."""
    failed = []
    for report in reports:
        name = report.run.name
        if report.state == "done":
            print(f"== {name}: finished, skipped", flush=True)
            continue
        print(f"== {name}: {report.state} (log: {Path(report.output_dir) / 'train.log'})", flush=True)
        if launch_run(report, env, python) == 0:
            print(f"== {name}: finished", flush=True)
        else:
            failed.append(name)
            print(f"== {name}: FAILED (see {Path(report.output_dir) / 'train.log'}); {after_failure(report)}",
                  file=sys.stderr, flush=True)
    if failed:
        print(f"{len(failed)} run(s) failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0

