r"""Arora & Zanette, "Training Language Models to Reason Efficiently" (arXiv 2502.04463).

A correct rollout is rewarded less the longer it is *relative to the other correct rollouts of
its prompt*; an incorrect one gets 0:

.. math:: r_i = c_i \left(1 - \alpha\, \sigma\!\left(\frac{l_i - \mu^+_q}{\sigma^+_q + \epsilon_l}\right)\right),
          \qquad \sigma(x) = \frac{1}{1 + e^{-x}}

where :math:`\mu^+_q` and :math:`\sigma^+_q` are the mean and the *population* (ddof 0) standard
deviation of the lengths of the correct rollouts of prompt ``q``. A prompt with one correct
rollout, or with equally long correct rollouts, has z-score 0, so its correct rollouts get
:math:`1 - \alpha / 2`. :math:`\alpha = 0` is the length-blind baseline.

The advantage is RLOO (the paper's, :math:`A_i = r_i - \frac{1}{n-1}\sum_{j \ne i} r_j`) or the
GRPO z-score (``normalisation: grpo``).
"""

from __future__ import annotations

import torch

from lead.core.groups import group_mean, group_var
from lead.core.knobs import EfficientReasoningConfig
from lead.core.methods._base import (
    Stateless,
    normalise,
    to_metrics,
)
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def sigmoid_length_rewards(
    lengths: torch.Tensor,
    correct: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    alpha: float,
    length_std_eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Arora & Zanette's reward :math:`c_i (1 - \alpha \sigma(z_i))` and the z-scores ``z`` (0 for
    incorrect rollouts), both ``[N]``; ``z`` is taken over the correct rollouts of each group
    with the population std."""
    mean = group_mean(lengths, gid, num_groups, correct)[gid]
    std = group_var(lengths, gid, num_groups, correct).sqrt()[gid]
    z = torch.where(correct, (lengths - mean) / (std + length_std_eps), torch.zeros_like(lengths))
    rewards = torch.where(correct, 1.0 - alpha * torch.sigmoid(z), torch.zeros_like(lengths))
    return rewards, z


@register_method("efficient_reasoning")
class EfficientReasoningMethod(Stateless):
    """Arora & Zanette's sigmoid length penalty among correct rollouts, RLOO or GRPO advantage."""

    config_cls = EfficientReasoningConfig

    def __init__(self, config: EfficientReasoningConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        rewards, z = sigmoid_length_rewards(
            ro.lengths, ro.correct, ro.gid, ro.num_groups, cfg.alpha, cfg.length_std_eps
        )
        adv = normalise(rewards, ro, cfg.normalisation, cfg.epsilon)
        n_correct = ro.c.sum().clamp_min(1.0)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "reward_mean": rewards.mean(),
                "reward_mean_correct": (rewards * ro.c).sum() / n_correct,
                "length_z_abs_mean_correct": (z.abs() * ro.c).sum() / n_correct,
            },
        )
        return adv.to(ro.out_dtype), metrics
