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


ROLLOUT = "hfcpu"


def register() -> None:
    """Register the CPU backend with verl's registries (idempotent). Called by the plugin in CPU mode.

    The plugin runs inside the first ``import verl`` of a process, which may come from one of this
    package's own modules while it is still being imported (Ray loads a rollout server's class that
    way). Hence the platform and the engine register themselves when their module finishes
    importing, and the rollout is registered by name, its module loaded only when verl asks.
    """
    import importlib

    platform = importlib.import_module(f"{__name__}.platform")
    if not hasattr(platform, "PlatformCPU"):
        return  # platform.py is being imported; it calls register() once it is done
    importlib.import_module(f"{__name__}.engine")

    from verl.workers.rollout import base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    RolloutReplicaRegistry.register(ROLLOUT, lambda: importlib.import_module(f"{__name__}.rollout").HFCPUReplica)
    base._ROLLOUT_REGISTRY[(ROLLOUT, "async")] = f"{__name__}.rollout.HFCPUServerAdapter"


def init_process_group() -> bool:
    """Create the default gloo process group in a verl worker-group actor (a process Ray started
    with ``WG_BACKEND=ray`` and the rank variables); True when this process is one.

    verl would build ``"cpu:gloo,cpu:gloo"`` on this platform, which torch rejects; it keeps a
    default group that already exists.
    """
    if os.environ.get("WG_BACKEND") != "ray" or not {"RANK", "WORLD_SIZE", "MASTER_PORT"} <= os.environ.keys():
        return False
    import torch.distributed

    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend="gloo", rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"])
        )
    return True
