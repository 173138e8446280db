r"""GRPO on the correctness reward alone: the length-blind reference.

.. math:: A_i = (c_i - \mathrm{mean}_g c) / (\mathrm{std}_g c + \epsilon)

with the unbiased group std (verl's ``grpo``). Used by the CPU lab and the benchmarks; in verl
runs use verl's own ``grpo`` / ``grpo_vectorized`` estimators, which compute the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from lead.core.config import MethodConfig
from lead.core.groups import group_index, group_zscore
from lead.core.registry import RolloutBatch, register_method


@dataclass
class GRPOConfig(MethodConfig):
    method = "grpo"

    epsilon: float = 1e-6
    """Added to the group std."""
    scale_by_std: bool = True
    """False removes only the group mean (Dr.GRPO)."""

    def validate(self) -> None:
        if self.number("epsilon") < 0:
            self.invalid("epsilon", "expected a number >= 0")
        self.flag("scale_by_std")


@register_method("grpo")
class GRPOMethod:
    config_cls = GRPOConfig

    def __init__(self, config: GRPOConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        gid, num_groups = group_index(batch.group_ids, device=batch.scores.device)
        scores = batch.scores.to(torch.float64)
        adv = group_zscore(scores, gid, num_groups, self.config.epsilon, self.config.scale_by_std)
        metrics = {"grpo/accuracy_batch": float((scores > 0.5).double().mean()),
                   "grpo/resp_len_mean": float(batch.lengths.double().mean())}
        return adv.to(batch.scores.dtype), metrics

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ValueError(f"grpo has no state, got {dict(state)!r}")
