"""Finding and stopping the processes of one run, wherever they sit in the process tree.

Ray's daemons and workers are not children of the process that started them, and may run in
sessions of their own; what they all share is the environment of the process that started the
cluster. A run is therefore found by a variable of its environment (``LEAD_RUN_ID`` for a
launch, ``RAY_TMPDIR`` for a test run).
"""

from __future__ import annotations

import os
import signal
import time


def marked_processes(variable: str, value: str) -> list:
    """Live processes other than this one whose environment has ``variable=value``."""
    import psutil

    found = []
    needle = f"{variable}={value}".encode()
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(proc)
        except OSError:  # gone, or another user's
            pass
    return found


def stop_processes(processes: list, grace_s: float, group: int | None = None) -> list:
    """SIGTERM ``processes`` (and the process group ``group``), SIGKILL what is left after ``grace_s``
    seconds; returns the processes that needed SIGKILL."""
    import psutil

    def send(sig: int) -> None:
        if group is not None:
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in processes:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass

    send(signal.SIGTERM)
    alive = wait_gone(processes, grace_s)
    if alive or group is not None:
        send(signal.SIGKILL)
        wait_gone(alive, grace_s)
    return alive


def wait_gone(processes: list, timeout_s: float) -> list:
    """Wait until ``processes`` have exited (a zombie has: only its parent's wait is left); returns
    those still running after ``timeout_s`` seconds."""
    import psutil

    def running(proc) -> bool:
        try:
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout_s
    alive = [p for p in processes if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if running(p)]
    return alive
