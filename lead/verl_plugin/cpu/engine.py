"""verl's FSDP engine and process group on the CPU.

* verl registers its FSDP engine for "cuda"/"npu" only; :class:`CPUFSDPEngineWithLMHead` is the
  same engine for device "cpu". The one change: verl gives forward-only modules (the reference
  model) a pinned-memory CPU offload policy, which needs an accelerator; on the CPU the module
  already lives in host memory, so it is built without one.
* verl's workers create the default process group with ``"cpu:gloo,<device>:<backend>"``, which
  is ``"cpu:gloo,cpu:gloo"`` here and rejected by torch (duplicate device type). It skips that
  step when a default group exists, so :func:`lead.verl_plugin.cpu.init_process_group` creates
  a plain gloo group first, in the worker-group actors.

The engine registers itself when this module is imported (see :func:`lead.verl_plugin.cpu.register`).
"""

from __future__ import annotations

import copy

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


EngineRegistry.register(model_type="language_model", backend=["fsdp", "fsdp2"], device=PLATFORM)(
    CPUFSDPEngineWithLMHead
)
