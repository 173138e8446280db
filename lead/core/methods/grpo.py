r"""GRPO on the correctness reward alone: the length-blind reference.

.. math:: A_i = (c_i - \mathrm{mean}_g c) / (\mathrm{std}_g c + \epsilon)

with the unbiased group std (verl's ``grpo``). Used by the CPU lab and the benchmarks; in verl
runs use verl's own ``grpo`` / ``grpo_vectorized`` estimators, which compute the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lead.core.groups import group_zscore
from lead.core.knobs import GRPOConfig
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


@register_method("grpo")
class GRPOMethod:
    config_cls = GRPOConfig

    def __init__(self, config: GRPOConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        ro = prepare(batch, self.config.correct_threshold, self.name)
        adv = group_zscore(ro.scores, ro.gid, ro.num_groups, self.config.epsilon, self.config.scale_by_std)
        metrics = {"grpo/accuracy_batch": float(ro.c.mean()), "grpo/resp_len_mean": float(ro.lengths.mean())}
        return adv.to(ro.out_dtype), metrics

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ValueError(f"grpo has no state, got {dict(state)!r}")
