r"""Kimi k1.5's length reward (arXiv 2501.12599, §2.3.3).

Within each prompt's group, lengths are min-max scaled over *all* rollouts:

.. math:: \lambda_i = \frac12 - \frac{l_i - l^{\min}_q}{l^{\max}_q - l^{\min}_q}
          \quad (\lambda_i = 0 \text{ when } l^{\max}_q = l^{\min}_q)

A correct rollout gets :math:`\lambda_i` (from +1/2 for the shortest to -1/2 for the longest); an
incorrect one gets :math:`\min(0, \lambda_i)`, so it is only ever penalised for being long. The
total reward :math:`r_i = c_i + w\, \mathrm{len}_i` goes through the GRPO z-score.

Warm-up: the paper first trains without the length term and then keeps it at a constant weight.
It publishes no step count, so ``warmup_steps`` defaults to 0, as in the LASER release's
implementation of this baseline (``compute_kimi_penalty``), which also sets ``w = 0.4``. That
implementation adds 1e-6 to the min-max denominator; the paper's form, used here, has none.
"""

from __future__ import annotations

import torch

from lead.core.groups import group_max, group_min
from lead.core.knobs import KimiLenConfig
from lead.core.methods._base import StepCounter, normalise, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def kimi_length_rewards(
    lengths: torch.Tensor, correct: torch.Tensor, gid: torch.Tensor, num_groups: int
) -> torch.Tensor:
    r"""``len_i``: :math:`\lambda_i` if correct, :math:`\min(0, \lambda_i)` otherwise, ``[N]``."""
    lo = group_min(lengths, gid, num_groups)[gid]
    hi = group_max(lengths, gid, num_groups)[gid]
    spread = hi - lo
    lam = torch.where(spread > 0, 0.5 - (lengths - lo) / spread.clamp_min(1e-300), torch.zeros_like(lengths))
    return torch.where(correct, lam, lam.clamp(max=0.0))


@register_method("kimi_len")
class KimiLenMethod(StepCounter):
    """Kimi k1.5's min-max length reward with a warm-up; state: the number of completed steps."""

    config_cls = KimiLenConfig

    def __init__(self, config: KimiLenConfig) -> None:
        self.config = config
        self.step = 0

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        length_reward = kimi_length_rewards(ro.lengths, ro.correct, ro.gid, ro.num_groups)
        weight = cfg.weight if self.step >= cfg.warmup_steps else 0.0
        rewards = ro.c + weight * length_reward
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        self.step += 1
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "step": float(self.step),
                "weight": weight,
                "length_reward_mean": length_reward.mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics
