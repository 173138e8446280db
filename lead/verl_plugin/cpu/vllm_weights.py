"""vLLM general plugin: keep linear weights loadable on vLLM's CPU platform, so verl can sync them.

On a CPU, vLLM's ``UnquantizedLinearMethod.process_weights_after_loading`` packs each linear weight
for its GEMM kernel (oneDNN or sgl-kernel) and replaces ``layer.weight`` with an empty parameter
that has no ``weight_loader``. verl's rollout syncs the trained weights with ``model.load_weights``
after every step, which then fails in the worker (``'Parameter' object has no attribute
'weight_loader'``), and the trainer waits for ever on the reply. Keeping the weight fixes it: verl
calls ``process_weights_after_loading`` again after each sync, which packs the new weights. The cost
is a second copy of each linear weight in CPU memory.

vLLM runs every ``vllm.general_plugins`` entry point in its engine and in each worker process; this
one changes nothing on any other platform (a GPU keeps vLLM's behaviour exactly).
"""

from __future__ import annotations


def _keep_weight_after_packing(self, layer) -> None:
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    dispatch_cpu_unquantized_gemm(layer, remove_weight=False)


def register() -> None:
    """Entry point of ``vllm.general_plugins`` (idempotent: vLLM may call it more than once)."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod

    UnquantizedLinearMethod.process_weights_after_loading = _keep_weight_after_packing
