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

from dataclasses import dataclass

import torch

from lead.core.config import MethodConfig
from lead.core.groups import group_zscore
from lead.core.lead import (
    AGGREGATORS,
    LSTAR_MODES,
    WHITEN_WEIGHTINGS,
    LeadConfig,
    lead_efficiency,
    whiten,
)
from lead.core.methods._base import Stateless, to_metrics
from lead.core.registry import RolloutBatch, register_method
from lead.core.rollouts import prepare


@dataclass
class GdpoStaticConfig(MethodConfig):
    """Knobs of ``gdpo_static`` (``algorithm.gdpo_static.*``). The efficiency-reward knobs mean
    what they mean for LEAD (``algorithm.lead.*``) and have LEAD's defaults."""

    method = "gdpo_static"
    cap_knob = "bmax"
    token_knobs = ("bmax", "lstar_floor", "min_correct_len")

    w_corr: float = 1.0
    """Weight of the normalised correctness reward (GDPO's default weights are all 1)."""
    w_eff: float = 1.0
    """Weight of the normalised efficiency reward."""
    bmax: float = 8000.0
    """Upper clamp of L*, and L* of a prompt with no correct rollout; set it to ``data.max_response_length``."""
    lstar_mode: str = "max_sym"
    """Efficiency reward shape: ``max_sym`` (the paper's), ``max_asym`` or ``upper_only``."""
    aggregator: str = "mean_correct"
    """How L* is estimated from a group: ``mean_correct``, ``min_correct``, ``median_correct`` or ``mean_all``."""
    lstar_floor: float = 1000.0
    """Lower clamp of L* in tokens."""
    min_correct_len: float = 500.0
    """``max_asym`` only: a correct rollout shorter than this gets efficiency reward 0."""
    zero_unsolved_efficiency: bool = False
    """Give prompts with no correct rollout efficiency reward 0 (see LEAD's knob of the same name)."""
    group_std_eps: float = 1e-6
    """Added to the group std in both normalisations."""
    whiten_eps: float = 1e-8
    """Added to the batch variance before whitening."""
    whiten_weighting: str = "token"
    """``token`` (verl's ``masked_whiten``, as in GDPO and LEAD) or ``sequence``."""

    def validate(self) -> None:
        for key in ("w_corr", "w_eff"):
            if self.number(key) < 0:
                self.invalid(key, "expected a weight >= 0")
        if self.w_corr == 0 and self.w_eff == 0:
            self.invalid("w_eff", "w_corr and w_eff are both 0, so every advantage would be 0")
        if self.number("bmax") <= 0:
            self.invalid("bmax", "expected bmax > 0 (tokens)")
        if not 0 < self.number("lstar_floor") <= self.bmax:
            self.invalid("lstar_floor", f"expected 0 < lstar_floor <= bmax ({self.bmax})")
        if self.number("min_correct_len") < 0:
            self.invalid("min_correct_len", "expected min_correct_len >= 0 (tokens)")
        self.choice("lstar_mode", LSTAR_MODES)
        self.choice("aggregator", AGGREGATORS)
        self.choice("whiten_weighting", WHITEN_WEIGHTINGS)
        self.flag("zero_unsolved_efficiency")
        for key in ("group_std_eps", "whiten_eps"):
            self.positive(key)

    def lead_config(self) -> LeadConfig:
        """The LEAD config whose efficiency reward this one uses."""
        return LeadConfig(bmax=self.bmax, lstar_mode=self.lstar_mode, aggregator=self.aggregator,
                          lstar_floor=self.lstar_floor, min_correct_len=self.min_correct_len,
                          correct_threshold=self.correct_threshold, group_std_eps=self.group_std_eps,
                          whiten_eps=self.whiten_eps, zero_unsolved_efficiency=self.zero_unsolved_efficiency,
                          whiten_weighting=self.whiten_weighting)


@register_method("gdpo_static")
class GdpoStaticMethod(Stateless):
    """Static-weight GDPO over (correctness, LEAD's efficiency reward)."""

    config_cls = GdpoStaticConfig

    def __init__(self, config: GdpoStaticConfig) -> None:
        self.config = config
        self.lead_config = config.lead_config()

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, lead_cfg = self.config, self.lead_config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        lstar, r_eff = lead_efficiency(ro.lengths, ro.correct, ro.gid, ro.num_groups, lead_cfg)
        adv_c = group_zscore(ro.scores, ro.gid, ro.num_groups, eps=cfg.group_std_eps)
        adv_e = group_zscore(r_eff, ro.gid, ro.num_groups, eps=cfg.group_std_eps)
        adv = whiten(cfg.w_corr * adv_c + cfg.w_eff * adv_e, ro.lengths, cfg.whiten_weighting, cfg.whiten_eps)
        metrics = to_metrics(self.name, {
            **ro.base_metrics(),
            "lstar_mean": lstar.mean(),
            "r_eff_mean": r_eff.mean(),
            "r_eff_mean_correct": (r_eff * ro.c).sum() / ro.c.sum().clamp_min(1.0),
            "w_corr": cfg.w_corr,
            "w_eff": cfg.w_eff,
        })
        return adv.to(ro.out_dtype), metrics
