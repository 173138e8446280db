"""The project's vLLM general plugin keeps linear weights loadable on vLLM's CPU platform."""

from __future__ import annotations

import importlib.metadata

import torch

from lead.verl_plugin.cpu import vllm_weights


def _layer() -> torch.nn.Linear:
    layer = torch.nn.Linear(64, 32, bias=False)
    layer.weight.requires_grad_(False)
    layer.weight.weight_loader = lambda param, loaded: param.data.copy_(loaded)
    return layer


def test_plugin_is_registered_with_vllm():
    names = {e.value for e in importlib.metadata.entry_points(group="vllm.general_plugins")}
    assert "lead.verl_plugin.cpu.vllm_weights:register" in names


def test_packed_layer_keeps_a_loadable_weight_and_repacks_new_weights(monkeypatch):
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from vllm.platforms import current_platform

    assert current_platform.is_cpu()
    current_platform.import_kernels()
    x = torch.randn(3, 64)

    # vLLM's own CPU path: the weight is packed and replaced by an empty parameter, no loader left.
    monkeypatch.setattr(
        UnquantizedLinearMethod,
        "process_weights_after_loading",
        UnquantizedLinearMethod.__dict__["process_weights_after_loading"],
    )
    stock = _layer()
    UnquantizedLinearMethod().process_weights_after_loading(stock)
    assert stock.weight.numel() == 0 and not hasattr(stock.weight, "weight_loader")

    vllm_weights.register()
    method, layer = UnquantizedLinearMethod(), _layer()
    method.process_weights_after_loading(layer)
    assert layer.weight.shape == (32, 64) and hasattr(layer.weight, "weight_loader")
    torch.testing.assert_close(method.apply(layer, x), x @ layer.weight.T, rtol=1e-4, atol=1e-4)
    # A weight sync: load new weights through the loader, then pack again (what verl does).
    new = torch.randn(32, 64)
    layer.weight.weight_loader(layer.weight, new)
    method.process_weights_after_loading(layer)
    torch.testing.assert_close(method.apply(layer, x), x @ new.T, rtol=1e-4, atol=1e-4)
