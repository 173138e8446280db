"""Run a CPU-mode verl command (``lead-train``, a launch script) as a subprocess and read its console.

:func:`run_cpu` starts the command in its own session with its own short Ray temp folder (Ray's
socket paths must fit), records wall time and peak memory, can send the command a signal once its
output shows a given line (an interrupt), kills the whole process group past a timeout, and then
waits for, and if need be kills, any process of the run (found by its Ray temp folder, in its command
line or environment: the launcher's trainer runs in a session of its own) that outlived it, and
removes the shared-memory files the run left. :class:`Run` parses verl's console logger: one
``step:N - key:value - ...`` line per training step (and validation), and the ``hfcpu`` rollout
server's weight-sync lines.

This module imports nothing from verl.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

STEP_LINE = re.compile(r"step:(\d+) - (.*)$")
SYNC_LINE = re.compile(r"hfcpu_server_0_0 weights updated: (.*)$")
STRAY_WAIT_S = 30
# What verl's shared-memory weight transfer (the vLLM rollout on a CPU) leaves behind when a process
# of the run is killed: segments and ZMQ sockets that nothing else removes.
LEFTOVER_GLOBS = ("/dev/shm/psm_*", "/dev/shm/verl_weights_*", "/tmp/rl-colocate-zmq-*.sock")


@dataclass
class Run:
    returncode: int
    output: str
    wall_s: float
    peak_driver_rss_gib: float
    peak_tree_rss_gib: float
    timed_out: bool = False
    stray_pids: list[int] = field(default_factory=list)
    """Processes of the run that were still alive after it ended (then killed)."""
    left_at_exit: list[int] = field(default_factory=list)
    """Processes of the run alive the moment the command exited."""
    signal_sent_at_s: float | None = None
    """Seconds into the run when the signal was sent (``signal_after``)."""
    leftover_files: list[str] = field(default_factory=list)
    """Shared-memory segments and sockets the run left behind (then removed)."""
    steps: dict[int, dict[str, float]] = field(default_factory=dict)
    validations: dict[int, dict[str, float]] = field(default_factory=dict)
    syncs: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for line in self.output.splitlines():
            if m := STEP_LINE.search(line):
                metrics = {}
                for item in m.group(2).split(" - "):
                    key, _, value = item.partition(":")
                    number = re.sub(r"^np\.\w+\((.*)\)$", r"\1", value.strip())
                    try:
                        metrics[key.strip()] = float(number)
                    except ValueError:
                        pass
                target = self.steps if "training/global_step" in metrics else self.validations
                target[int(m.group(1))] = metrics
            elif m := SYNC_LINE.search(line):
                self.syncs.append({k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split()) if v != "None"})

    def seconds_per_step(self) -> list[float]:
        return [round(s["timing_s/step"], 2) for _, s in sorted(self.steps.items())]


def ray_processes(marker: str):
    """Live processes whose command line mentions ``marker`` (a run's Ray temp folder) or whose
    environment has it as ``RAY_TMPDIR``."""
    import psutil

    from lead.launch.processes import marked_processes

    found = {p.pid: p for p in marked_processes("RAY_TMPDIR", marker)}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.setdefault(proc.pid, proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return list(found.values())


def leftover_files() -> set[str]:
    return {path for pattern in LEFTOVER_GLOBS for path in glob.glob(pattern)}


def run_cpu(
    command: list[str],
    env: dict[str, str],
    cwd: str | Path,
    timeout_s: float,
    signal_after: str | None = None,
    signum: int = signal.SIGINT,
) -> Run:
    """Run ``command`` with ``DEVICE=cpu`` and ``env`` over this process's environment.

    ``VERL_PLATFORM``, ``BASE_MODEL`` and ``DATA_DIR`` are not inherited: the command line and
    ``env`` say what the run uses. With ``signal_after`` (a regular expression), ``signum`` goes to
    the command's process alone (not its group) once a line of its output matches."""
    import psutil

    ray_dir = tempfile.mkdtemp(prefix="lr", dir="/tmp")
    child_env = {**os.environ, "DEVICE": "cpu", "RAY_TMPDIR": ray_dir, "WANDB_MODE": "disabled"}
    for key in ("BASE_MODEL", "DATA_DIR", "VERL_PLATFORM"):
        child_env.pop(key, None)
    child_env.update(env)
    timed_out, sent_at, seen, read_at = False, None, "", 0
    existing = leftover_files()
    pattern = re.compile(signal_after, re.MULTILINE) if signal_after else None
    # Appending: the command's writes never move with this process's reads.
    with tempfile.TemporaryFile("a+") as log:
        start = time.monotonic()
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=cwd, start_new_session=True
        )
        driver, peak_driver, peak_tree = psutil.Process(proc.pid), 0, 0
        try:
            while proc.poll() is None:
                if time.monotonic() - start > timeout_s:
                    timed_out = True
                    break
                if pattern is not None and sent_at is None:
                    log.seek(read_at)
                    seen += log.read()
                    read_at = log.tell()
                    if pattern.search(seen):
                        proc.send_signal(signum)
                        sent_at = time.monotonic() - start
                try:
                    tree = [driver, *driver.children(recursive=True)]
                    rss = [p.memory_info().rss for p in tree if p.is_running()]
                    peak_driver, peak_tree = max(peak_driver, rss[0]), max(peak_tree, sum(rss))
                except psutil.Error:
                    pass
                time.sleep(0.5)
        finally:  # past the timeout, or the caller stopped (a test's timeout, Ctrl-C)
            left = [p.pid for p in ray_processes(ray_dir)]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall = time.monotonic() - start
        log.seek(0)
        output = log.read()
    deadline = time.monotonic() + STRAY_WAIT_S
    while (stray := ray_processes(ray_dir)) and time.monotonic() < deadline:
        time.sleep(1)
    for p in stray:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    shutil.rmtree(ray_dir, ignore_errors=True)
    leftovers = sorted(leftover_files() - existing)
    for path in leftovers:
        Path(path).unlink(missing_ok=True)
    return Run(
        proc.returncode,
        output,
        round(wall, 1),
        round(peak_driver / 2**30, 2),
        round(peak_tree / 2**30, 2),
        timed_out=timed_out,
        stray_pids=[p.pid for p in stray],
        left_at_exit=left,
        leftover_files=leftovers,
        signal_sent_at_s=None if sent_at is None else round(sent_at, 1),
    )
