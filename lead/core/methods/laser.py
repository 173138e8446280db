r"""LASER and LASER-D, "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping"
(arXiv 2505.15612).

``laser``: a step reward at a target length :math:`L_T` on top of correctness,

.. math:: r_i = c_i + \alpha\, 1[c_i \wedge l_i \le L_T], \qquad
          A_i = \frac{r_i - \mathrm{mean}_q r}{\mathrm{std}_q r + \epsilon}

``laser_d`` (dynamic and difficulty-aware): the target depends on the prompt's difficulty bucket,
taken from its accuracy :math:`p_q` in the batch: *high* if :math:`p_q \ge 2/3`, *medium* if
:math:`p_q \ge 1/3`, *low* otherwise. Every ``monitor_freq`` steps (starting with the first) the
bucket targets are re-chosen: with :math:`\mathrm{cov}_b(L)` the fraction of bucket ``b``'s
rollouts with :math:`l \le L` and :math:`C_b` its expected number of correct rollouts per prompt
(:math:`\lfloor 2n/3 \rfloor`, :math:`\lfloor n/3 \rfloor` and 1 for high, medium and low, with
``n`` rollouts per prompt),

.. math:: L_T(b) = \min\{L \in \{L_{low}, L_{low} + \Delta, \dots\} \cap [0, L_{max}] :
          \mathrm{cov}_b(L)\, C_b \ge k\}

(``k = expected_correct``), i.e. the shortest length at which ``k`` expected correct answers
still fit; :math:`L_{max}` when none does. A bucket with no prompt at an update keeps its target.

Differences from the paper's release: the release measures coverage on a separate 500-problem
monitor set that it generates every ``monitor_freq`` steps; an advantage estimator cannot
generate, so the coverage is measured on the training rollouts of the update step, which come
from the same current policy. The release's monitor puts ``p = 1/3`` and ``p = 2/3`` in the lower
bucket while its reward puts them in the upper one; one rule (the reward's) is used for both.
The correctness base is 1/0 (the release scored +1 / -0.5 / -1 for correct / wrong / unboxed).
LASER-DE (a bonus for long non-repetitive wrong answers) needs the response tokens and is not
provided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from lead.core.groups import group_count, group_sum
from lead.core.knobs import LaserConfig, LaserDConfig
from lead.core.methods._base import (
    Stateless,
    check_state_keys,
    normalise,
    read_step,
    to_metrics,
)
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare

BUCKETS = ("low", "medium", "high")


def step_rewards(lengths: torch.Tensor, c: torch.Tensor, targets: torch.Tensor | float, alpha: float) -> torch.Tensor:
    r""":math:`c_i + \alpha 1[c_i \wedge l_i \le L_T]`, ``[N]`` (``targets`` scalar or per rollout)."""
    return c + alpha * c * (lengths <= targets).to(lengths.dtype)


@register_method("laser")
class LaserMethod(Stateless):
    """Correctness plus a step bonus for correct rollouts within ``target_length``, GRPO advantage."""

    config_cls = LaserConfig

    def __init__(self, config: LaserConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        rewards = step_rewards(ro.lengths, ro.c, cfg.target_length, cfg.alpha)
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "bonus_frac": (ro.c * (ro.lengths <= cfg.target_length)).mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics


def target_grid(cfg: LaserDConfig, device: torch.device | None = None) -> torch.Tensor:
    """Candidate targets ``L_low + j * Delta <= L_max``, ascending."""
    count = math.floor((cfg.max_length - cfg.lower_bound) / cfg.interval) + 1
    return cfg.lower_bound + cfg.interval * torch.arange(count, dtype=torch.float64, device=device)


def difficulty_buckets(c: torch.Tensor, gid: torch.Tensor, num_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket of each prompt, ``[G]`` (0 low, 1 medium, 2 high: ``p >= 1/3``, ``p >= 2/3``, compared
    exactly as ``3k >= n``, ``3k >= 2n`` on the counts), and the group sizes ``n``, ``[G]``."""
    k = group_sum(c, gid, num_groups)
    n = group_count(gid, num_groups, dtype=c.dtype)
    return (3 * k >= n).long() + (3 * k >= 2 * n).long(), n


def choose_targets(
    lengths: torch.Tensor, bucket: torch.Tensor, rollouts_per_prompt: int, previous: torch.Tensor, cfg: LaserDConfig
) -> torch.Tensor:
    r"""New ``[low, medium, high]`` targets from one batch: the smallest grid length ``L`` with
    :math:`\mathrm{cov}_b(L) C_b \ge k` (tested exactly as ``fit_b(L) C_b >= k n_b`` on counts),
    ``L_max`` if none; ``previous`` for a bucket with no rollout. ``bucket`` is per rollout."""
    grid = target_grid(cfg, lengths.device)
    fits = (lengths[:, None] <= grid[None, :]).to(torch.float64)
    fit_counts = torch.zeros(3, grid.numel(), dtype=torch.float64, device=lengths.device).index_add_(0, bucket, fits)
    totals = torch.bincount(bucket, minlength=3).to(torch.float64)
    n = rollouts_per_prompt
    expected = torch.tensor([1.0, n // 3, (2 * n) // 3], dtype=torch.float64, device=lengths.device)
    ok = fit_counts * expected[:, None] >= cfg.expected_correct * totals[:, None]
    first = ok.to(torch.int64).argmax(dim=1)
    chosen = torch.where(ok.any(dim=1), grid[first], torch.full_like(totals, float(cfg.max_length)))
    return torch.where(totals > 0, chosen, previous.to(torch.float64))


@register_method("laser_d")
class LaserDMethod:
    """LASER with difficulty-bucket targets re-chosen every ``monitor_freq`` steps.

    State: the completed steps and the current ``[low, medium, high]`` targets.
    """

    config_cls = LaserDConfig

    def __init__(self, config: LaserDConfig) -> None:
        self.config = config
        self.step = 0
        self.targets = [float(config.max_length)] * 3

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        bucket_q, sizes = difficulty_buckets(ro.c, ro.gid, ro.num_groups)
        bucket = bucket_q[ro.gid]
        targets = torch.tensor(self.targets, dtype=torch.float64, device=ro.lengths.device)
        refresh = self.step % cfg.monitor_freq == 0
        if refresh:
            targets = choose_targets(ro.lengths, bucket, int(sizes.max()), targets, cfg)
        rewards = step_rewards(ro.lengths, ro.c, targets[bucket], cfg.alpha)
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        self.targets = targets.tolist()
        self.step += 1
        share = torch.bincount(bucket_q, minlength=3).to(torch.float64) / ro.num_groups
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "step": float(self.step),
                "refreshed": float(refresh),
                **{f"target_{b}": targets[j] for j, b in enumerate(BUCKETS)},
                **{f"prompt_frac_{b}": share[j] for j, b in enumerate(BUCKETS)},
                "bonus_frac": (ro.c * (ro.lengths <= targets[bucket])).mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics

    def state_dict(self) -> dict[str, Any]:
        return {"step": int(self.step), "targets": [float(t) for t in self.targets]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_keys(self.name, state, ("step", "targets"))
        step = read_step(self.name, state)
        targets = state["targets"]
        if (
            not isinstance(targets, (list, tuple))
            or len(targets) != 3
            or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0 for t in targets
            )
        ):
            raise ValueError(f"{self.name} state has targets={targets!r}; expected 3 numbers > 0 (low, medium, high)")
        self.step = step
        self.targets = [float(t) for t in targets]
