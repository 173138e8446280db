"""A pool of grading subprocesses that bounds the time of every math-verify comparison.

math-verify's own timeouts use ``signal.alarm``, which only works in a process's main thread;
verl calls reward functions from a thread pool, and sympy can spend unbounded time (or memory)
on adversarial answers such as ``10^{10^{10}}``, inside C code that no signal interrupts. So each
comparison runs in a separate, long-lived worker process (:mod:`lead.rewards._verify_worker`);
a comparison that has not answered by its deadline gets its worker killed and counts as "not
equivalent". Workers are plain subprocesses (no ``fork`` of a threaded parent, no
``multiprocessing`` re-import of the caller's ``__main__``), started on demand up to
``max_workers`` and reused across calls; any number of threads may call :meth:`check` at once.

Environment: ``LEAD_GRADER_WORKERS`` (pool size, default ``min(8, cpu_count)``) and
``LEAD_GRADER_MEMORY_MB`` (address-space cap of each worker, default 4096; 0 disables it).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 120.0

# The package root goes on the worker's PYTHONPATH so that an uninstalled checkout works too.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


class GraderUnavailableError(RuntimeError):
    """The grading subprocess could not be started (a broken installation, not a bad answer)."""


@dataclass
class VerifierStats:
    """Outcome counts since the pool was created; ``timeouts`` and ``crashes`` scored False."""

    requests: int = 0
    timeouts: int = 0
    crashes: int = 0
    errors: int = 0
    restarts: int = 0


class _Worker:
    def __init__(self, memory_limit_mb: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "lead.rewards._verify_worker", str(memory_limit_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self._buffer = b""
        if self._read_line(time.monotonic() + STARTUP_TIMEOUT_S) != '"ready"':
            self.kill()
            raise GraderUnavailableError(
                f"the math-verify grading process ({sys.executable} -m lead.rewards._verify_worker) "
                "did not start; check that math-verify is installed in this interpreter"
            )

    def _read_line(self, deadline: float) -> str | None:
        """The next line from the worker, or None at EOF or when ``deadline`` passes."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def request(self, payload: bytes, timeout: float) -> str | None:
        try:
            self.proc.stdin.write(payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self._read_line(time.monotonic() + timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class VerifierPool:
    """Thread-safe pool of grading subprocesses (see the module docstring)."""

    def __init__(self, max_workers: int | None = None, memory_limit_mb: int | None = None) -> None:
        if max_workers is None:
            max_workers = _env_int("LEAD_GRADER_WORKERS", 0) or min(8, os.cpu_count() or 1)
        if memory_limit_mb is None:
            memory_limit_mb = _env_int("LEAD_GRADER_MEMORY_MB", 4096)
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers
        self.memory_limit_mb = memory_limit_mb
        self.stats = VerifierStats()
        self._idle: list[_Worker] = []
        self._alive = 0
        self._cond = threading.Condition()
        self._pid = os.getpid()

    def _acquire(self) -> _Worker:
        with self._cond:
            while not self._idle and self._alive >= self.max_workers:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._alive += 1
        try:
            return _Worker(self.memory_limit_mb)
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._cond.notify()
            raise

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            worker.kill()
        with self._cond:
            if healthy:
                self._idle.append(worker)
            else:
                self._alive -= 1
                self.stats.restarts += 1
            self._cond.notify()

    def check(self, pred: str, golds: list[str], timeout: float) -> bool:
        """True iff math-verify finds ``pred`` equivalent to one of ``golds`` within ``timeout`` s.

        Never raises for any content of ``pred``/``golds``; raises
        :class:`GraderUnavailableError` only when no worker process can be started at all.
        """
        payload = (json.dumps([pred, golds]) + "\n").encode()
        worker = self._acquire()
        start = time.monotonic()
        reply = worker.request(payload, timeout)
        if reply not in (None, "0", "1", "-1"):
            logger.error("grading process sent an unexpected reply %r; restarting it", reply[:200])
            reply = None
        healthy = reply is not None
        self._release(worker, healthy)
        with self._cond:
            self.stats.requests += 1
            if reply is None:
                if time.monotonic() - start >= timeout:
                    self.stats.timeouts += 1
                else:
                    self.stats.crashes += 1
            elif reply == "-1":
                self.stats.errors += 1
        if reply is None:
            logger.warning(
                "math-verify gave no verdict within %.1fs (pred %r..., %d chars; gold %r); scored as incorrect",
                timeout,
                pred[:80],
                len(pred),
                golds[:3],
            )
        return reply == "1"

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
        for worker in idle:
            worker.kill()


_POOL: VerifierPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> VerifierPool:
    """The process-wide pool, created on first use (and anew in a forked child)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._pid != os.getpid():
            _POOL = VerifierPool()
        return _POOL


@atexit.register
def _close_pool() -> None:
    if _POOL is not None and _POOL._pid == os.getpid():
        _POOL.close()
