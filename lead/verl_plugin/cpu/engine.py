"""verl's FSDP engine and process group on the CPU.

* verl registers its FSDP engine for "cuda"/"npu" only; :class:`CPUFSDPEngineWithLMHead` is the
  same engine for device "cpu". The one change: verl gives forward-only modules (the reference
  model) a pinned-memory CPU offload policy, which needs an accelerator; on the CPU the module
  already lives in host memory, so it is built without one.
* verl's workers create the default process group with ``"cpu:gloo,<device>:<backend>"``, which
  is ``"cpu:gloo,cpu:gloo"`` here and rejected by torch (duplicate device type). It skips that
  step when a default group exists, so :func:`init_process_group` creates a plain gloo group
  first, in the worker-group actors (the processes Ray starts with ``WG_BACKEND=ray``).
"""

from __future__ import annotations

import copy
import os

import torch.distributed
from verl.workers.engine.base import EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead

from lead.verl_plugin.cpu import PLATFORM


class CPUFSDPEngineWithLMHead(FSDPEngineWithLMHead):
    def _build_fsdp_module(self, module):
        if not self.engine_config.forward_only:
            return super()._build_fsdp_module(module)
        # Inside _build_fsdp_module, forward_only only decides the CPU offload (the config is frozen).
        engine_config = self.engine_config
        training_like = copy.copy(engine_config)
        object.__setattr__(training_like, "forward_only", False)
        self.engine_config = training_like
        try:
            return super()._build_fsdp_module(module)
        finally:
            self.engine_config = engine_config


def register() -> None:
    engines = EngineRegistry._engines.get("language_model", {})
    if all(engines.get(b, {}).get(PLATFORM) is CPUFSDPEngineWithLMHead for b in ("fsdp", "fsdp2")):
        return
    EngineRegistry.register(model_type="language_model", backend=["fsdp", "fsdp2"], device=PLATFORM)(
        CPUFSDPEngineWithLMHead)


def init_process_group() -> bool:
    """Create the default gloo group in a verl worker-group actor; True when this process is one."""
    if os.environ.get("WG_BACKEND") != "ray" or "RANK" not in os.environ or "MASTER_PORT" not in os.environ:
        return False
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend="gloo", rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))
    return True
