r"""GRPO-λ, "Stable Reinforcement Learning for Efficient Reasoning" (arXiv 2505.18086).

Each step the prompts of the batch are ranked by their accuracy :math:`p_q`; the top
:math:`\lceil \lambda G \rceil` of the ``G`` prompts get Arora & Zanette's length-penalised reward
(:func:`~lead.core.methods.efficient_reasoning.sigmoid_length_rewards`), all others plain 0/1
correctness, and the advantage is the GRPO z-score:

.. math:: r_i = \begin{cases} c_i \left(1 - \alpha\, \sigma(z_i)\right) & q \in \mathrm{top}_\lambda \\
          c_i & \text{otherwise} \end{cases}

with :math:`z_i` the length z-score among the correct rollouts of ``q`` (population std). So the
length penalty only applies where the policy is already accurate.

Ties in :math:`p_q` at the cut are broken by the order of the group labels. verl's labels are
random per step, so this is a random tie-break, and it does not depend on the row order.

The paper publishes no code. Following it, incorrect rollouts of selected prompts get 0 (a
third-party implementation also gives them the length term). ``fraction = 0.2`` is the paper's
example; it gives no value for ``alpha`` that could be checked, so the default is Arora &
Zanette's 0.1 (the reward GRPO-λ adopts).
"""

from __future__ import annotations

import math

import torch

from lead.core.groups import group_mean
from lead.core.knobs import GrpoLambdaConfig
from lead.core.methods._base import Stateless, normalise, to_metrics
from lead.core.methods.efficient_reasoning import sigmoid_length_rewards
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def top_fraction_groups(accuracy: torch.Tensor, fraction: float) -> torch.Tensor:
    r"""Mask ``[G]`` of the :math:`\lceil fraction \cdot G \rceil` most accurate groups; ties go to
    the lower group id (group ids follow the sorted labels, see :func:`~lead.core.groups.group_index`)."""
    num_groups = accuracy.numel()
    k = math.ceil(round(fraction * num_groups, 9))
    order = torch.argsort(-accuracy, stable=True)
    selected = torch.zeros(num_groups, dtype=torch.bool, device=accuracy.device)
    selected[order[:k]] = True
    return selected


@register_method("grpo_lambda")
class GrpoLambdaMethod(Stateless):
    """Sigmoid length penalty for the most accurate ``fraction`` of prompts, 0/1 for the rest."""

    config_cls = GrpoLambdaConfig

    def __init__(self, config: GrpoLambdaConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        accuracy = group_mean(ro.c, ro.gid, ro.num_groups)
        selected = top_fraction_groups(accuracy, cfg.fraction)
        penalised, _ = sigmoid_length_rewards(
            ro.lengths, ro.correct, ro.gid, ro.num_groups, cfg.alpha, cfg.length_std_eps
        )
        rewards = torch.where(selected[ro.gid], penalised, ro.c)
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        values = {**ro.base_metrics(), "penalised_prompts": selected.sum(), "reward_mean": rewards.mean()}
        if bool(selected.any()):  # no penalised prompt (fraction=0) has no lowest accuracy to report
            values["penalised_min_accuracy"] = accuracy[selected].min()
        metrics = to_metrics(self.name, values)
        return adv.to(ro.out_dtype), metrics
