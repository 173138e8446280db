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
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from lead.core.config import MethodConfig
from lead.core.groups import group_count, group_sum
from lead.core.methods._base import (
    Stateless,
    check_state_keys,
    normalise,
    read_step,
    to_metrics,
)
from lead.core.registry import RolloutBatch, register_method
from lead.core.rollouts import prepare

BUCKETS = ("low", "medium", "high")


def step_rewards(lengths: torch.Tensor, c: torch.Tensor, targets: torch.Tensor | float, alpha: float) -> torch.Tensor:
    r""":math:`c_i + \alpha 1[c_i \wedge l_i \le L_T]`, ``[N]`` (``targets`` scalar or per rollout)."""
    return c + alpha * c * (lengths <= targets).to(lengths.dtype)


def _check_common(cfg: MethodConfig) -> None:
    if cfg.number("alpha") < 0:
        cfg.invalid("alpha", "expected alpha >= 0")
    cfg.positive("epsilon")


@dataclass
class LaserConfig(MethodConfig):
    """Knobs of ``laser`` (``algorithm.laser.*``); defaults are the paper's 1.5B runs."""

    method = "laser"
    token_knobs = ("target_length",)

    alpha: float = 0.5
    """Bonus for a correct rollout within the target (the release's ``length_reward_scalar``)."""
    target_length: float = 4096.0
    """``L_T`` in response tokens; the paper trains with 2048, 4096 and 8192 at a 16384 cap."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        _check_common(self)
        if self.number("target_length") <= 0:
            self.invalid("target_length", "expected a target > 0 (tokens)")


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
        metrics = to_metrics(self.name, {
            **ro.base_metrics(),
            "bonus_frac": (ro.c * (ro.lengths <= cfg.target_length)).mean(),
            "reward_mean": rewards.mean(),
        })
        return adv.to(ro.out_dtype), metrics


@dataclass
class LaserDConfig(MethodConfig):
    """Knobs of ``laser_d`` (``algorithm.laser_d.*``); defaults follow the paper's 1.5B runs."""

    method = "laser_d"
    cap_knob = "max_length"
    token_knobs = ("max_length", "lower_bound", "interval")

    alpha: float = 0.5
    """Bonus for a correct rollout within its bucket's target."""
    max_length: float = 8000.0
    """``L_max``: top of the target grid and the target when no grid length fits. Set it to
    ``data.max_response_length`` (the paper: 16384)."""
    lower_bound: float = 2048.0
    """``L_low``, the shortest target; the paper's variants use 1024, 2048 and 4096."""
    interval: float = 1024.0
    """``Delta``, the step of the target grid."""
    monitor_freq: int = 20
    """Targets are re-chosen every this many steps, starting with the first."""
    expected_correct: int = 1
    """``k``: expected correct rollouts per prompt that must fit under the target."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        _check_common(self)
        if self.number("max_length") <= 0:
            self.invalid("max_length", "expected a cap > 0 (tokens)")
        if not 0 < self.number("lower_bound") <= self.max_length:
            self.invalid("lower_bound", f"expected 0 < lower_bound <= max_length ({self.max_length})")
        if self.number("interval") <= 0:
            self.invalid("interval", "expected an interval > 0 (tokens)")
        if self.integer("monitor_freq") < 1:
            self.invalid("monitor_freq", "expected an integer >= 1")
        if self.integer("expected_correct") < 1:
            self.invalid("expected_correct", "expected an integer >= 1")

    def grid(self, device: torch.device | None = None) -> torch.Tensor:
        """Candidate targets ``L_low + j * Delta <= L_max``, ascending."""
        count = math.floor((self.max_length - self.lower_bound) / self.interval) + 1
        return self.lower_bound + self.interval * torch.arange(count, dtype=torch.float64, device=device)


def difficulty_buckets(c: torch.Tensor, gid: torch.Tensor, num_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket of each prompt, ``[G]`` (0 low, 1 medium, 2 high: ``p >= 1/3``, ``p >= 2/3``, compared
    exactly as ``3k >= n``, ``3k >= 2n`` on the counts), and the group sizes ``n``, ``[G]``."""
    k = group_sum(c, gid, num_groups)
    n = group_count(gid, num_groups, dtype=c.dtype)
    return (3 * k >= n).long() + (3 * k >= 2 * n).long(), n


def choose_targets(lengths: torch.Tensor, bucket: torch.Tensor, rollouts_per_prompt: int, previous: torch.Tensor,
                   cfg: LaserDConfig) -> torch.Tensor:
    r"""New ``[low, medium, high]`` targets from one batch: the smallest grid length ``L`` with
    :math:`\mathrm{cov}_b(L) C_b \ge k` (tested exactly as ``fit_b(L) C_b >= k n_b`` on counts),
    ``L_max`` if none; ``previous`` for a bucket with no rollout. ``bucket`` is per rollout."""
    grid = cfg.grid(lengths.device)
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
        metrics = to_metrics(self.name, {
            **ro.base_metrics(),
            "step": float(self.step),
            "refreshed": float(refresh),
            **{f"target_{b}": targets[j] for j, b in enumerate(BUCKETS)},
            **{f"prompt_frac_{b}": share[j] for j, b in enumerate(BUCKETS)},
            "bonus_frac": (ro.c * (ro.lengths <= targets[bucket])).mean(),
            "reward_mean": rewards.mean(),
        })
        return adv.to(ro.out_dtype), metrics

    def state_dict(self) -> dict[str, Any]:
        return {"step": int(self.step), "targets": [float(t) for t in self.targets]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_keys(self.name, state, ("step", "targets"))
        step = read_step(self.name, state)
        targets = state["targets"]
        if (not isinstance(targets, (list, tuple)) or len(targets) != 3
                or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0
                           for t in targets)):
            raise ValueError(f"{self.name} state has targets={targets!r}; expected 3 numbers > 0 "
                             f"(low, medium, high)")
        self.step = step
        self.targets = [float(t) for t in targets]
