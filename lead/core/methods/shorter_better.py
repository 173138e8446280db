r"""ShorterBetter (arXiv 2504.21370): reward closeness to the shortest correct length of the group.

The sample optimal length of prompt ``q`` is its shortest correct rollout, or the mean length
of all its rollouts when none is correct:

.. math:: \mathrm{SOL}_q = \begin{cases} \min_{i \in q,\, c_i = 1} l_i & \text{some } c_i = 1 \\
          \mathrm{mean}_{i \in q}\, l_i & \text{otherwise} \end{cases}, \qquad
          r_i = \alpha c_i - \beta\, |l_i - \mathrm{SOL}_q|

for every rollout, correct or not; the advantage is the GRPO z-score.
"""

from __future__ import annotations

import torch

from lead.core.groups import group_count, group_mean, group_min
from lead.core.knobs import ShorterBetterConfig
from lead.core.methods._base import Stateless, normalise, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def sample_optimal_lengths(
    lengths: torch.Tensor, correct: torch.Tensor, gid: torch.Tensor, num_groups: int
) -> torch.Tensor:
    """``SOL_q`` per group, ``[G]``: shortest correct length, or the mean length if none is correct."""
    solved = group_count(gid, num_groups, correct) > 0
    shortest = group_min(lengths, gid, num_groups, correct)
    return torch.where(solved, shortest, group_mean(lengths, gid, num_groups))


@register_method("shorter_better")
class ShorterBetterMethod(Stateless):
    """``alpha * correct - beta * |length - SOL|``, GRPO advantage."""

    config_cls = ShorterBetterConfig

    def __init__(self, config: ShorterBetterConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        sol = sample_optimal_lengths(ro.lengths, ro.correct, ro.gid, ro.num_groups)
        distance = (ro.lengths - sol[ro.gid]).abs()
        rewards = cfg.alpha * ro.c - cfg.beta * distance
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "sol_mean": sol.mean(),
                "distance_mean": distance.mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics
