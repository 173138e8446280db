r"""GDPO with static weights over (correctness, LEAD's efficiency reward): LEAD minus its controller.

GDPO (arXiv 2601.05242) normalises each reward in its own prompt group, sums them with fixed
weights and whitens the sum over the batch. With LEAD's efficiency reward as the second reward:

.. math:: A = \mathrm{whiten}_{token}\!\left(w_c\, \frac{s - \mathrm{mean}_q s}{\mathrm{std}_q s + \epsilon}
          + w_e\, \frac{r^{eff} - \mathrm{mean}_q r^{eff}}{\mathrm{std}_q r^{eff} + \epsilon}\right)

where ``s`` is the summed reward and :math:`r^{eff}` LEAD's efficiency reward around the
per-prompt target :math:`L^*` (:func:`lead.core.lead.lead_efficiency`). This is LEAD with the PSI controller replaced by
constant weights: the ablation that isolates the controller. Whitening removes any common scale,
so only :math:`w_c / w_e` matters, and ``(w_c, w_e)`` gives the same advantages as LEAD with
``static_lambda_corr = w_c / (w_c + w_e)`` (up to the whitening epsilon).

verl's built-in ``gdpo`` estimator reads per-rollout reward components from the reward
function; :math:`r^{eff}` depends on the whole group (through :math:`L^*`), so a per-response
reward function cannot produce it, and this estimator computes it itself.
"""

from __future__ import annotations

import torch

from lead.core.groups import group_zscore
from lead.core.knobs import GdpoStaticConfig
from lead.core.lead import lead_efficiency, whiten
from lead.core.methods._base import Stateless, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


@register_method("gdpo_static")
class GdpoStaticMethod(Stateless):
    """Static-weight GDPO over (correctness, LEAD's efficiency reward)."""

    config_cls = GdpoStaticConfig

    def __init__(self, config: GdpoStaticConfig) -> None:
        self.config = config

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        lstar, r_eff = lead_efficiency(ro.lengths, ro.correct, ro.gid, ro.num_groups, cfg)
        adv_c = group_zscore(ro.scores, ro.gid, ro.num_groups, eps=cfg.group_std_eps)
        adv_e = group_zscore(r_eff, ro.gid, ro.num_groups, eps=cfg.group_std_eps)
        adv = whiten(cfg.w_corr * adv_c + cfg.w_eff * adv_e, ro.lengths, cfg.whiten_weighting, cfg.whiten_eps)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "lstar_mean": lstar.mean(),
                "r_eff_mean": r_eff.mean(),
                "r_eff_mean_correct": (r_eff * ro.c).sum() / ro.c.sum().clamp_min(1.0),
                "w_corr": cfg.w_corr,
                "w_eff": cfg.w_eff,
            },
        )
        return adv.to(ro.out_dtype), metrics
