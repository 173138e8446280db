"""verl 0.9.1's real training loop on a CPU: platform, FSDP engine, process group and rollout.

CPU mode is on in a process whose environment has ``VERL_PLATFORM=cpu`` (verl's own platform
switch). ``lead-train`` sets it when ``DEVICE=cpu``; Ray hands it to the TaskRunner, the workers
and the rollout servers, and this package's verl plugin registers the backend in each of them
before verl resolves its platform. Without it nothing of this package is registered with verl.

This module imports nothing from verl, so a launcher can ask :func:`cpu_mode` cheaply.
"""

from __future__ import annotations

import os

PLATFORM_ENV = "VERL_PLATFORM"
PLATFORM = "cpu"
DEVICE_ENV = "DEVICE"


def cpu_mode() -> bool:
    """True when this process runs verl on the CPU backend (``VERL_PLATFORM=cpu``)."""
    return os.environ.get(PLATFORM_ENV, "").strip().lower() == PLATFORM


def select_from_env() -> bool:
    """Apply the user-facing switch ``DEVICE=cpu``: sets ``VERL_PLATFORM=cpu`` for this process
    and the Ray processes it starts. Returns whether CPU mode is on.

    Must run before verl is imported. ``DEVICE`` other than ``cpu``/``gpu``/empty, or a
    ``VERL_PLATFORM`` naming another platform together with ``DEVICE=cpu``, is an error.
    """
    device = os.environ.get(DEVICE_ENV, "").strip().lower()
    if device not in ("", "cpu", "gpu", "cuda"):
        raise ValueError(f"DEVICE={os.environ[DEVICE_ENV]!r} is not a device: use DEVICE=cpu, or leave it unset")
    if device == PLATFORM:
        current = os.environ.get(PLATFORM_ENV, "").strip().lower()
        if current and current != PLATFORM:
            raise ValueError(f"DEVICE=cpu contradicts {PLATFORM_ENV}={os.environ[PLATFORM_ENV]!r}; unset one of them")
        os.environ[PLATFORM_ENV] = PLATFORM
    return cpu_mode()


def register() -> None:
    """Register the CPU backend with verl's registries (idempotent). Called by the plugin in CPU mode."""
    from lead.verl_plugin.cpu import platform

    platform.register()
    from lead.verl_plugin.cpu import engine, rollout

    engine.register()
    rollout.register()
