r"""LEAD: Length-Efficient Adaptive and Dynamic reasoning (arXiv 2605.09806), as pure PyTorch.

One call of :func:`lead_advantages` turns a batch of ``N`` rollouts (``G`` prompts, ``n`` rollouts
each, grouped by prompt id, in any row order) into one advantage per rollout:

1. **Target length** per prompt ``q`` from the group's correct rollouts (:func:`target_lengths`)

   .. math:: L^*_q = \mathrm{clamp}(\mathrm{agg}\{l_i : i \in q, c_i > \theta\},\ L_{floor},\ B_{max})

   and ``L*_q = B_max`` when no rollout of ``q`` is correct.
2. **Efficiency reward** around ``L*`` (:func:`efficiency_rewards`), e.g. ``max_sym``:
   ``r_i = max(-1, 1 - |l_i - L*| / L*)``.
3. **Decoupled normalisation**: correctness ``c`` and efficiency ``r`` are each z-scored in
   their own prompt group (``A^c``, ``A^e``; :func:`~lead.core.groups.group_zscore`).
4. **PSI controller** (:func:`psi_statistics`, :class:`LeadController`): coefficients of
   variation by the law of total variance, potentials ``P_c = (1 - mu_c)^alpha`` and
   ``P_e = ((1 - mu_e) / 2)^alpha``, ``D_k = CVn_k P_k``, targets ``tau_k = D_k / sum D``, an EMA
   ``w <- beta w + (1 - beta) tau`` and the floor ``lambda_c = max(w_c, lambda_min)``,
   ``lambda_e = 1 - lambda_c``.
5. **Combination and whitening**: ``A_i = lambda_c A^c_i + lambda_e A^e_i``, whitened over
   the batch with token weights ``l_i`` (:func:`whiten`).

With the default :class:`~lead.core.knobs.LeadConfig` the result equals the paper release's
estimator; the release's questionable behaviours are kept by default and fixed by opt-in knobs
(see the field docs in :mod:`lead.core.knobs`).
The module imports nothing from verl, so the verl estimator, the CPU lab and the benchmarks all
call these same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lead.core.groups import (
    group_count,
    group_deviations,
    group_max,
    group_mean,
    group_median,
    group_min,
    group_sum,
    group_var,
    member_ids,
    per_member,
    zscore_scale,
)
from lead.core.knobs import EfficiencyKnobs, LeadConfig
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare

# Numeric code of each efficiency mode in the ``lead/lstar_mode`` metric. The release logged 0.0
# for max_asym and 1.0 for both other modes; max_sym and max_asym keep their codes so dashboards
# stay comparable, and upper_only gets its own.
LSTAR_MODE_CODES = {"max_asym": 0.0, "max_sym": 1.0, "upper_only": 2.0}

# The statistics returned by psi_statistics, each for correctness then efficiency.
PSI_KEYS = (
    "mu_corr",
    "mu_eff",
    "sigma_corr",
    "sigma_eff",
    "cv_corr",
    "cv_eff",
    "cv_corr_norm",
    "cv_eff_norm",
    "potential_corr",
    "potential_eff",
    "D_corr",
    "D_eff",
    "target_w_corr",
    "target_w_eff",
)


def target_lengths(
    lengths: torch.Tensor,
    correct: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    cfg: EfficiencyKnobs,
    correct_count: torch.Tensor | None = None,
    correct_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Per-prompt target length ``L*``, ``[G]``.

    .. math:: L^*_q = \mathrm{clamp}(\mathrm{agg}_q,\ \texttt{lstar\_floor},\ \texttt{bmax})

    ``agg`` is the mean / min / median of the correct lengths of ``q`` (``mean_correct``,
    ``min_correct``, ``median_correct``), or the mean of all its lengths (``mean_all``). A prompt
    with no correct rollout gets ``bmax``, except under ``mean_all``, which never falls back.
    ``correct_count``: the number of correct rollouts per prompt, and ``correct_ids``: the
    :func:`~lead.core.groups.member_ids` of ``correct``, when the caller has them.
    """
    if cfg.aggregator == "mean_all":
        return group_mean(lengths, gid, num_groups).clamp(max=cfg.bmax).clamp(min=cfg.lstar_floor)
    ids = member_ids(gid, num_groups, correct) if correct_ids is None else correct_ids
    slots = num_groups + 1
    count = group_count(ids, slots, dtype=lengths.dtype)[:num_groups] if correct_count is None else correct_count
    if cfg.aggregator == "min_correct":
        raw = group_min(lengths, ids, slots)[:num_groups]
    elif cfg.aggregator == "median_correct":
        raw = group_median(lengths, ids, slots)[:num_groups]
    else:
        raw = group_sum(lengths, ids, slots)[:num_groups] / count.clamp_min(1)
    lstar = raw.clamp(max=cfg.bmax).clamp(min=cfg.lstar_floor)
    return torch.where(count > 0, lstar, torch.full_like(lstar, cfg.bmax))


def efficiency_rewards(
    lengths: torch.Tensor, correct: torch.Tensor, lstar: torch.Tensor, cfg: EfficiencyKnobs
) -> torch.Tensor:
    r"""Efficiency reward of each rollout, ``[N]``, given its prompt's ``L*`` (``lstar``, ``[N]``).

    * ``max_sym``:    :math:`r = \max(-1,\ 1 - |l - L^*| / L^*)` for every rollout.
    * ``upper_only``: :math:`r = \max(-1,\ \min(0,\ 1 - l / L^*))` for every rollout.
    * ``max_asym``:   correct: :math:`r = \max(0,\ 1 - l / L^*)`, or 0 when ``l < min_correct_len``;
      incorrect: :math:`r = \mathrm{clamp}(1 - l / L^*,\ -1,\ 0)`.
    """
    if cfg.lstar_mode == "max_sym":
        return (1.0 - (lengths - lstar).abs() / lstar).clamp(min=-1.0)
    ratio = lengths / lstar
    if cfg.lstar_mode == "upper_only":
        return (1.0 - ratio).clamp(min=-1.0, max=0.0)
    correct_r = torch.where(lengths < cfg.min_correct_len, 0.0, (1.0 - ratio).clamp(min=0.0))
    return torch.where(correct, correct_r, (1.0 - ratio).clamp(min=-1.0, max=0.0))


def lead_efficiency(
    lengths: torch.Tensor,
    correct: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    cfg: EfficiencyKnobs,
    correct_count: torch.Tensor | None = None,
    correct_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target lengths ``L*`` (``[G]``) and efficiency rewards (``[N]``) of a batch: the
    :func:`target_lengths` / :func:`efficiency_rewards` pipeline, with the rewards of prompts no
    rollout solved set to 0 when ``zero_unsolved_efficiency`` is on. ``correct_count`` and
    ``correct_ids``: as in :func:`target_lengths`, when the caller has them."""
    if correct_ids is None:
        correct_ids = member_ids(gid, num_groups, correct)
    if correct_count is None:
        correct_count = group_count(correct_ids, num_groups + 1, dtype=lengths.dtype)[:num_groups]
    lstar = target_lengths(lengths, correct, gid, num_groups, cfg, correct_count, correct_ids)
    r_eff = efficiency_rewards(lengths, correct, per_member(lstar, gid), cfg)
    if cfg.zero_unsolved_efficiency:
        r_eff = torch.where(per_member(correct_count > 0, gid), r_eff, 0.0)
    return lstar, r_eff


def _total_variance_stats(
    means: torch.Tensor, variances: torch.Tensor, count: torch.Tensor, sigma_eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column of the per-group ``means`` and population ``variances`` (``[G, k]``, ``count``
    members per group): the prompt-weighted mean and law-of-total-variance std over the groups
    with a member, ``mu = mean_g m_g``, ``sigma = sqrt(mean_g v_g + popvar_g(m_g) + sigma_eps)``;
    (0, 0) for a column without any. Both ``[k]``."""
    present = (count > 0).to(means.dtype)
    groups = present.sum(0)
    weight = present / groups.clamp_min(1)
    mu = (weight * means).sum(0)
    sigma = ((weight * variances).sum(0) + (weight * (means - mu) ** 2).sum(0) + sigma_eps).sqrt()
    some = groups > 0
    return torch.where(some, mu, 0.0), torch.where(some, sigma, 0.0)


def psi_statistics(
    scores: torch.Tensor,
    r_eff: torch.Tensor,
    correct: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    cfg: LeadConfig,
    counts: torch.Tensor | None = None,
    moments: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    r"""Potential-Scaled Instability of both rewards, and the controller's targets.

    Correctness uses every rollout (the scores, or their indicator with ``indicator_stats``),
    efficiency only correct rollouts (and only prompts with one). For each reward ``k``:
    ``CV_k = sigma_k / (|mu_k| + eps)``, ``CVn_k = CV_k / (CV_c + CV_e + eps)``,
    ``P_c = (1 - clip(mu_c, 0, 1))^alpha``, ``P_e = (1 - (clip(mu_e, -1, 1) + 1) / 2)^alpha``,
    ``D_k = CVn_k P_k`` and the targets ``tau_k = D_k / (D_c + D_e + eps)``. ``counts``: the
    rollouts and the correct rollouts per prompt, ``[G, 2]``, and ``moments``: the per-prompt
    means and population variances of both rewards over those members, ``([G, 2], [G, 2])``,
    when the caller has them.
    """
    eps = cfg.epsilon
    if counts is None or moments is None:
        mask = torch.stack([torch.ones_like(correct), correct], 1)
        if counts is None:
            counts = group_count(gid, num_groups, mask, dtype=scores.dtype)
        if moments is None:
            x = torch.stack([correct.to(scores.dtype) if cfg.indicator_stats else scores, r_eff], 1)
            means = group_mean(x, gid, num_groups, mask, count=counts)
            moments = means, group_var(x, gid, num_groups, mask, count=counts, mean=means)
    mu, sigma = _total_variance_stats(*moments, counts, cfg.sigma_eps)
    cv = sigma / (mu.abs() + eps)
    cv_sum = cv.sum() + eps
    cv_norm = cv / cv_sum
    potential = torch.stack([1.0 - mu[0].clamp(0.0, 1.0), 1.0 - (mu[1].clamp(-1.0, 1.0) + 1.0) / 2.0]) ** cfg.alpha
    d = cv_norm * potential
    target = d / (d.sum() + eps)
    table = torch.stack([mu, sigma, cv, cv_norm, potential, d, target])
    return dict(zip(PSI_KEYS, table.reshape(-1).unbind()))


class LeadController:
    """The PSI controller's memory: the EMA weights, whether they are initialised, and the step.

    ``state_dict()`` is plain JSON-serialisable data; checkpointing it and calling
    ``load_state_dict`` on resume makes the next advantages identical to an uninterrupted run.
    """

    def __init__(self) -> None:
        self.weights: list[float] | None = None
        self.initialized = False
        self.step = 0

    def update(self, target_corr: float, target_eff: float, cfg: LeadConfig) -> tuple[float, float]:
        r"""Advance one step and return the weights to use, ``(lambda_c, lambda_e)``.

        Dynamic: ``w = beta w_prev + (1 - beta) tau`` with ``w_prev = (0.5, 0.5)`` on the first
        step; ``lambda_c = max(w_c, lambda_min)``, ``lambda_e = 1 - lambda_c``. The stored ``w`` is
        the unfloored EMA. Static: ``lambda_c = static_lambda_corr`` (floored only with
        ``static_floor``), and the stored weights become the pair used.
        """
        self.step += 1
        if cfg.static_lambda_corr is not None:
            lam_c = float(cfg.static_lambda_corr)
            if cfg.static_floor:
                lam_c = max(lam_c, cfg.lambda_min)
            self.weights = [lam_c, 1.0 - lam_c]
        else:
            prev = self.weights if (self.initialized and self.weights is not None) else [0.5, 0.5]
            self.weights = [
                cfg.beta * prev[0] + (1.0 - cfg.beta) * target_corr,
                cfg.beta * prev[1] + (1.0 - cfg.beta) * target_eff,
            ]
            lam_c = max(self.weights[0], cfg.lambda_min)
        self.initialized = True
        return lam_c, 1.0 - lam_c

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": None if self.weights is None else [float(w) for w in self.weights],
            "initialized": bool(self.initialized),
            "step": int(self.step),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"weights", "initialized", "step"} - set(state)
        if missing:
            raise ValueError(f"LEAD controller state is missing {sorted(missing)}: {dict(state)!r}")
        weights = state["weights"]
        if weights is not None and len(weights) != 2:
            raise ValueError(f"LEAD controller weights must have 2 entries, got {weights!r}")
        self.weights = None if weights is None else [float(w) for w in weights]
        self.initialized = bool(state["initialized"])
        self.step = int(state["step"])


def whiten(
    values: torch.Tensor, lengths: torch.Tensor, weighting: str = "token", eps: float = 1e-8, total: float | None = None
) -> torch.Tensor:
    r"""Whiten per-sequence values as if they were broadcast over each response's tokens.

    ``token``: with weights ``w_i = l_i`` and ``T = sum l_i``,
    ``mean = sum w_i x_i / T``, ``var = sum w_i (x_i - mean)^2 / (T - 1)`` (verl's ``masked_whiten``
    over the response mask, without materialising ``[N, L]``); ``sequence``: ``w_i = 1`` for every
    non-empty response. Returns ``(x - mean) / sqrt(var + eps)``; with fewer than two weighted units
    the variance is taken as 0. ``total``: ``T``, when the caller has it.
    """
    weights = lengths.to(values.dtype) if weighting == "token" else (lengths > 0).to(values.dtype)
    if total is None:
        total = float(weights.sum())
    if total <= 0:
        raise ValueError("cannot whiten advantages: every response in the batch is empty")
    mean = (weights * values).sum() / total
    centred = values - mean
    sq = (weights * centred**2).sum()
    var = sq / (total - 1) if total > 1 else torch.zeros_like(sq)
    return centred * torch.rsqrt(var + eps)


def _masked_summary(x: torch.Tensor, mask: torch.Tensor) -> tuple[int, list[torch.Tensor]]:
    """How many values ``mask`` selects, and their mean, median (of the two middle values for an
    even count), min and max; all 0 when nothing is selected (the release's convention)."""
    picked = x[mask]
    n = picked.numel()
    if n == 0:
        return 0, [x.new_zeros(())] * 4
    ordered = picked.sort().values
    return n, [(x * mask).sum() / n, 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2]), ordered[0], ordered[-1]]


def lead_advantages(
    scores: torch.Tensor, lengths: torch.Tensor, group_ids: Any, cfg: LeadConfig, controller: LeadController
) -> tuple[torch.Tensor, dict[str, float]]:
    """LEAD's per-rollout advantage, ``[N]``, and its ``lead/*`` metrics.

    Args:
        scores: summed reward of each rollout (``c_i``), ``[N]``.
        lengths: response length in tokens (``l_i``, the response-mask sum), ``[N]``.
        group_ids: prompt id of each rollout (uid strings, ints or a tensor), length ``N``.
        cfg: the knobs.
        controller: advanced by one step (the only state that crosses steps).

    Bad input (a non-finite score, a negative length, a batch of empty responses) raises
    ``ValueError`` before the controller changes. The advantage is constant along a response;
    broadcast it with ``adv[:, None] * response_mask``.
    """
    ro = prepare(RolloutBatch(scores, lengths, group_ids), cfg.correct_threshold, "lead")
    if ro.total_length <= 0:
        raise ValueError(
            f"lead: all {ro.lengths.numel()} responses of the batch are empty (response mask all zero); "
            "nothing was updated"
        )
    s, length, correct, gid, num_groups, n = ro.scores, ro.lengths, ro.correct, ro.gid, ro.num_groups, ro.counts
    # Cost follows the number of passes over [N] vectors, not their size: the correct rollouts are
    # selected once (correct_ids, reduced over one extra group), every per-prompt statistic is
    # reduced from values already at hand, and each metric comes from a per-prompt sum.
    correct_ids, slots = member_ids(gid, num_groups, correct), num_groups + 1
    k_all = group_count(correct_ids, slots, dtype=s.dtype)
    k = k_all[:num_groups]
    lstar, r_eff = lead_efficiency(length, correct, gid, num_groups, cfg, correct_count=k, correct_ids=correct_ids)
    r_sums = group_sum(r_eff, gid, num_groups)
    d_c, mean_c, sq_c = group_deviations(s, gid, num_groups, n, sums=ro.score_sums)
    d_e, _, sq_e = group_deviations(r_eff, gid, num_groups, n, sums=r_sums)
    scale = zscore_scale(torch.stack([sq_c, sq_e], 1), n, cfg.group_std_eps)
    adv_c, adv_e = d_c / per_member(scale[:, 0], gid), d_e / per_member(scale[:, 1], gid)

    # The controller's statistics: correctness over every rollout (the z-score's own moments
    # unless indicator_stats), efficiency over the correct ones.
    if cfg.indicator_stats:
        mean_c = group_mean(ro.c, gid, num_groups, count=n)
        var_c = group_var(ro.c, gid, num_groups, count=n, mean=mean_c)
    else:
        var_c = sq_c / n
    r_correct_sums = group_sum(r_eff, correct_ids, slots)
    mean_e = r_correct_sums / k_all.clamp_min(1)
    var_e = group_var(r_eff, correct_ids, slots, count=k_all, mean=mean_e)[:num_groups]
    moments = torch.stack([mean_c, mean_e[:num_groups]], 1), torch.stack([var_c, var_e], 1)
    psi = psi_statistics(s, r_eff, correct, gid, num_groups, cfg, counts=torch.stack([n, k], 1), moments=moments)
    tau_c, tau_e, num_correct = torch.stack([psi["target_w_corr"], psi["target_w_eff"], k.sum()]).tolist()
    lam_c, lam_e = controller.update(tau_c, tau_e, cfg)

    total = ro.total_length if cfg.whiten_weighting == "token" else None
    adv = whiten(lam_c * adv_c + lam_e * adv_e, length, cfg.whiten_weighting, cfg.whiten_eps, total)

    num = length.numel()
    solved = k > 0
    solvable = lstar < cfg.bmax
    num_solvable, lstar_solvable = _masked_summary(lstar, solvable)
    if num_correct:
        r_correct = [
            r_correct_sums[:num_groups].sum() / num_correct,
            group_min(r_eff, correct_ids, slots)[:num_groups].min(),
            group_max(r_eff, correct_ids, slots)[:num_groups].max(),
            group_sum(length, correct_ids, slots)[:num_groups].sum() / num_correct,
        ]
    else:
        r_correct = [s.new_zeros(())] * 4
    tensors = dict(
        zip(
            (
                "lstar_mean_solvable",
                "lstar_median_solvable",
                "lstar_min_solvable",
                "lstar_max_solvable",
                "r_eff_mean_correct",
                "r_eff_min_correct",
                "r_eff_max_correct",
                "resp_len_mean_correct",
            ),
            lstar_solvable + r_correct,
        )
    )
    tensors.update(
        {
            "lstar_mean": lstar.mean(),
            "num_unsolved_prompts": (~solved).sum(),
            "num_clamped_prompts": (solved & ~solvable).sum(),
            "r_eff_mean": r_sums.sum() / num,
            **psi,
        }
    )
    values = torch.stack([t.to(torch.float64) for t in tensors.values()]).tolist()
    metrics = {f"lead/{k}": v for k, v in zip(tensors, values)}
    metrics.update(
        {
            "lead/num_solvable_prompts": float(num_solvable),
            "lead/accuracy_batch": num_correct / num,
            "lead/resp_len_mean": ro.total_length / num,
            "lead/step": float(controller.step),
            "lead/lstar_mode": LSTAR_MODE_CODES[cfg.lstar_mode],
            "lead/w_corr": lam_c,
            "lead/w_eff": lam_e,
        }
    )
    if cfg.static_lambda_corr is not None:
        metrics["lead/static_w_corr"] = lam_c
    return adv.to(ro.out_dtype), metrics


@register_method("lead")
class LeadMethod:
    """LEAD behind the common method interface (:mod:`lead.core.registry`)."""

    config_cls = LeadConfig

    def __init__(self, config: LeadConfig) -> None:
        self.config = config
        self.controller = LeadController()

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        return lead_advantages(batch.scores, batch.lengths, batch.group_ids, self.config, self.controller)

    def state_dict(self) -> dict[str, Any]:
        return self.controller.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.controller.load_state_dict(state)
