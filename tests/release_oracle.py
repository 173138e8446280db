"""A deliberately naive, loop-per-rollout model of the paper release's LEAD estimator.

Written from the behaviour documented in ``shared/spec/lead-algorithm.md`` §1 (token-level
tensors in, token-level advantages out, Python loops over prompts and rollouts, float32 like
the release), so the vectorised implementation can be checked against an independent
formulation step after step. Test helper only; it is not part of the package.
"""

from __future__ import annotations

import torch


def _grpo(scores: list[float], uids: list[str]) -> list[float]:
    out = []
    groups: dict[str, list[float]] = {}
    for s, u in zip(scores, uids):
        groups.setdefault(u, []).append(s)
    stats = {}
    for u, vals in groups.items():
        t = torch.tensor(vals, dtype=torch.float32)
        stats[u] = (torch.tensor(0.0), torch.tensor(1.0)) if len(vals) == 1 else (t.mean(), t.std())
    for s, u in zip(scores, uids):
        mean, std = stats[u]
        out.append(float((torch.tensor(s) - mean) / (std + 1e-6)))
    return out


def _total_var(groups: list[list[float]]) -> tuple[float, float]:
    means = torch.stack([torch.tensor(g, dtype=torch.float32).mean() for g in groups])
    variances = torch.stack(
        [torch.tensor(g, dtype=torch.float32).var(unbiased=False) if len(g) > 1 else torch.tensor(0.0) for g in groups]
    )
    return float(means.mean()), float(torch.sqrt(variances.mean() + means.var(unbiased=False) + 1e-8))


def release_step(
    token_level_scores: torch.Tensor,
    response_mask: torch.Tensor,
    uids: list[str],
    state: dict,
    alpha=1.0,
    beta=0.95,
    eps=1e-8,
    bmax=8000.0,
    w_min=0.3,
    lstar_mode="max_sym",
    aggregator="mean_correct",
    static_w_corr=None,
) -> tuple[torch.Tensor, dict]:
    """One step of the release estimator; mutates ``state`` ({'weights', 'initialized'})."""
    n = len(uids)
    c = [(token_level_scores[i] * response_mask[i]).sum().item() for i in range(n)]
    lengths = [float(response_mask[i].sum().item()) for i in range(n)]
    correct = [x > 0.5 for x in c]

    lstar = {}
    for u in dict.fromkeys(uids):
        members = [i for i in range(n) if uids[i] == u]
        all_l = [lengths[i] for i in members]
        corr_l = [lengths[i] for i in members if correct[i]]
        if aggregator == "mean_all":
            lstar[u] = max(min(sum(all_l) / len(all_l), bmax), 1000)
        elif corr_l:
            if aggregator == "min_correct":
                raw = min(corr_l)
            elif aggregator == "median_correct":
                s = sorted(corr_l)
                k = len(s)
                raw = s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])
            else:
                raw = sum(corr_l) / len(corr_l)
            lstar[u] = max(min(raw, bmax), 1000)
        else:
            lstar[u] = bmax

    r = []
    for i in range(n):
        ls, length = lstar[uids[i]], lengths[i]
        if lstar_mode == "max_sym":
            r.append(max(-1.0, 1.0 - abs(length - ls) / ls))
        elif lstar_mode == "upper_only":
            r.append(max(-1.0, min(0.0, 1.0 - length / ls)))
        elif correct[i]:
            r.append(0.0 if length < 500 else max(0.0, 1.0 - length / ls))
        else:
            r.append(max(-1.0, min(0.0, 1.0 - length / ls)))
    r_tok = [r[i] if lengths[i] > 0 else 0.0 for i in range(n)]

    a_c = _grpo(c, uids)
    a_e = _grpo(r_tok, uids)

    order = list(dict.fromkeys(uids))
    mu_c, sigma_c = _total_var([[c[i] for i in range(n) if uids[i] == u] for u in order])
    eff_groups = [[r[i] for i in range(n) if uids[i] == u and correct[i]] for u in order]
    eff_groups = [g for g in eff_groups if g]
    mu_e, sigma_e = _total_var(eff_groups) if eff_groups else (0.0, 0.0)
    cv_c = sigma_c / (abs(mu_c) + eps)
    cv_e = sigma_e / (abs(mu_e) + eps)
    cv_sum = cv_c + cv_e + eps
    p_c = (1.0 - min(max(mu_c, 0.0), 1.0)) ** alpha
    p_e = (1.0 - (min(max(mu_e, -1.0), 1.0) + 1.0) / 2.0) ** alpha
    d_c, d_e = cv_c / cv_sum * p_c, cv_e / cv_sum * p_e
    tau_c, tau_e = d_c / (d_c + d_e + eps), d_e / (d_c + d_e + eps)

    if static_w_corr is not None:
        w_c = float(static_w_corr)
        state["weights"], state["initialized"] = [w_c, 1.0 - w_c], True
    else:
        prev = state["weights"] if state.get("initialized") and state.get("weights") is not None else [0.5, 0.5]
        state["weights"] = [beta * prev[0] + (1 - beta) * tau_c, beta * prev[1] + (1 - beta) * tau_e]
        state["initialized"] = True
        w_c = max(state["weights"][0], w_min)
    w_e = 1.0 - w_c

    combined = torch.tensor([w_c * a_c[i] + w_e * a_e[i] for i in range(n)], dtype=torch.float32)
    tok = combined[:, None] * response_mask.float()
    mask = response_mask.float()
    mean = (tok * mask).sum() / mask.sum()
    var = (((tok - mean) ** 2) * mask).sum() / mask.sum() * (mask.sum() / (mask.sum() - 1))
    adv = (tok - mean) * torch.rsqrt(var + 1e-8) * mask
    metrics = {
        "lead/w_corr": w_c,
        "lead/w_eff": w_e,
        "lead/target_w_corr": tau_c,
        "lead/mu_corr": mu_c,
        "lead/sigma_corr": sigma_c,
        "lead/mu_eff": mu_e,
        "lead/sigma_eff": sigma_e,
        "lead/D_corr": d_c,
        "lead/D_eff": d_e,
        "lead/lstar_mean": sum(lstar.values()) / len(lstar),
    }
    return adv, metrics
