r"""The LEAD paper's GRPO baseline: correctness plus a global length-threshold reward.

The paper (arXiv 2605.09806) compares LEAD with GRPO trained on

.. math:: r_i = \lambda_1 c_i + \lambda_2 R_{len}(l_i, c_i), \qquad
          A_i = \frac{r_i - \mathrm{mean}_q r}{\mathrm{std}_q r + \epsilon}

(unbiased group std, no batch whitening), with ``T = threshold`` and ``M = soft_max``:

* ``classic``:          :math:`R_{len} = 1[l \le T]`, whatever the correctness;
* ``conditioned``:      :math:`R_{len} = c \cdot 1[l \le T]`;
* ``soft``:             :math:`R_{len} = 1` for :math:`l \le T`, 0 for :math:`l \ge M`, and
  :math:`(M - l) / (M - T)` in between;
* ``conditioned_soft``: :math:`R_{len} = c \cdot` the ``soft`` value.

The paper's main GRPO run uses ``conditioned`` at ``T = 2000`` with ``lambda1 = lambda2 = 1``;
its ratio sweep uses ``classic`` with ``lambda1 = 1/(1+R)``, ``lambda2 = R/(1+R)``.

Difference from the paper's release: ``l`` is the exact number of response tokens. The release
estimated it as the character count of the decoded prompt *and* response divided by 4, so its
threshold also counted the prompt and chat template.
"""

from __future__ import annotations

import torch

from lead.core.knobs import GrpoLenThresholdConfig
from lead.core.methods._base import Stateless, normalise, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def threshold_length_rewards(lengths: torch.Tensor, c: torch.Tensor, cfg: GrpoLenThresholdConfig) -> torch.Tensor:
    """``R_len`` of each rollout, ``[N]``, for ``cfg.mode`` (see the module docstring)."""
    if cfg.mode in ("classic", "conditioned"):
        r = (lengths <= cfg.threshold).to(lengths.dtype)
    elif cfg.soft_max > cfg.threshold:
        r = ((cfg.soft_max - lengths) / (cfg.soft_max - cfg.threshold)).clamp(0.0, 1.0)
    else:
        r = (lengths <= cfg.threshold).to(lengths.dtype)
    return r * c if cfg.mode.startswith("conditioned") else r


@register_method("grpo_len_threshold")
class GrpoLenThresholdMethod(Stateless):
    """GRPO on ``lambda1 * correctness + lambda2 * length-threshold reward``."""

    config_cls = GrpoLenThresholdConfig

    def __init__(self, config: GrpoLenThresholdConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        r_len = threshold_length_rewards(ro.lengths, ro.c, cfg)
        rewards = cfg.lambda1 * ro.c + cfg.lambda2 * r_len
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "within_threshold_frac": (ro.lengths <= cfg.threshold).to(torch.float64).mean(),
                "length_reward_mean": r_len.mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics
