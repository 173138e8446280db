r"""ALP, adaptive length penalty ("Just Enough Thinking", arXiv 2506.05256).

The per-token penalty scales with how easily the prompt is solved, measured online by its
accuracy :math:`p_q` over its :math:`K_q` rollouts in the batch:

.. math:: r_i = c_i - \beta\, l_i \max(p_q, 1 / K_q)

for every rollout, correct or not (the ``1/K`` floor keeps a small penalty on unsolved prompts);
the advantage is the GRPO z-score. The paper writes the length as ``N`` (the response's token
count) and uses ``beta = 1e-7``.
"""

from __future__ import annotations

import torch

from lead.core.groups import group_count, group_mean
from lead.core.knobs import AlpConfig
from lead.core.methods._base import Stateless, normalise, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def solve_rate_weights(c: torch.Tensor, gid: torch.Tensor, num_groups: int) -> torch.Tensor:
    """``max(p_q, 1/K_q)`` per group, ``[G]``."""
    rate = group_mean(c, gid, num_groups)
    return torch.maximum(rate, 1.0 / group_count(gid, num_groups, dtype=c.dtype))


@register_method("alp")
class AlpMethod(Stateless):
    """Correctness minus a per-token penalty scaled by the prompt's solve rate, GRPO advantage."""

    config_cls = AlpConfig

    def __init__(self, config: AlpConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        scale = solve_rate_weights(ro.c, ro.gid, ro.num_groups)
        penalty = cfg.beta * ro.lengths * scale[ro.gid]
        rewards = ro.c - penalty
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "penalty_mean": penalty.mean(),
                "solve_rate_weight_mean": scale.mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics
