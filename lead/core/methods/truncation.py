r"""Truncation rewards: a fixed cap or a ThinkPrune cap schedule, and DLER.

``truncation`` (ThinkPrune, arXiv 2504.01296): a rollout earns its correctness reward only if
it fits in the current cap ``L(t)``,

.. math:: r_i = 1[c_i \wedge l_i \le L(t)], \qquad A_i = \frac{r_i - \mathrm{mean}_q r}{\mathrm{std}_q r + \epsilon}

with ``L(t) = max_length`` until the first ``schedule`` stage starts and then the cap of the
latest started stage. ThinkPrune's iterative pruning (4K, then 3K, then 2K tokens) is
``max_length: 4000, schedule: [[180, 3000], [360, 2000]]``; with no schedule it is plain
truncation. ThinkPrune lowers the *generation* limit per stage; scoring against ``L(t)`` gives
the same rewards (a response cut at ``L(t)`` has no answer, so it scores 0 either way) at the
cost of generating up to ``data.max_response_length``.

``dler`` (DLER, "Doing Length pEnalty Right", arXiv 2510.15110): the same truncation reward,
a group-mean baseline without std division, then whitening over every response token of the
batch:

.. math:: \hat A_i = r_i - \mathrm{mean}_q r, \qquad A = \mathrm{whiten}_{token}(\hat A)

(a group of size 1 keeps its raw reward, as in verl's ``reinforce_plus_plus_baseline``, which
DLER's code uses). DLER also drops groups whose rewards are all equal (dynamic sampling); that
is a sampler setting, not part of the estimator.
"""

from __future__ import annotations

import torch

from lead.core.groups import group_zscore
from lead.core.knobs import DlerConfig, TruncationConfig
from lead.core.lead import whiten
from lead.core.methods._base import (
    Stateless,
    StepCounter,
    normalise,
    to_metrics,
)
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def truncation_rewards(lengths: torch.Tensor, c: torch.Tensor, cap: float) -> torch.Tensor:
    r""":math:`1[c_i \wedge l_i \le L]`, ``[N]``: a correct answer counts only within the cap."""
    return c * (lengths <= cap).to(lengths.dtype)


@register_method("truncation")
class TruncationMethod(StepCounter):
    """Correctness within a (scheduled) length cap, GRPO advantage; state: completed steps."""

    config_cls = TruncationConfig

    def __init__(self, config: TruncationConfig) -> None:
        self.config = config
        self.step = 0

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        cap = cfg.cap_at(self.step)
        rewards = truncation_rewards(ro.lengths, ro.c, cap)
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        self.step += 1
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "step": float(self.step),
                "cap": cap,
                "over_cap_frac": (ro.lengths > cap).to(torch.float64).mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics


@register_method("dler")
class DlerMethod(Stateless):
    """Truncation reward, group-mean baseline, batch whitening."""

    config_cls = DlerConfig

    def __init__(self, config: DlerConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        rewards = truncation_rewards(ro.lengths, ro.c, cfg.max_length)
        centred = group_zscore(rewards, ro.gid, ro.num_groups, scale_by_std=False)
        adv = whiten(centred, ro.lengths, cfg.whiten_weighting, cfg.whiten_eps)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "over_cap_frac": (ro.lengths > cfg.max_length).to(torch.float64).mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics
