"""LEAD's core: hand-computed examples, agreement with the release's behaviour, properties."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lead.core.groups import group_index
from lead.core.knobs import AGGREGATORS, LSTAR_MODES, LeadConfig
from lead.core.lead import (
    LeadController,
    efficiency_rewards,
    lead_advantages,
    psi_statistics,
    target_lengths,
    whiten,
)
from tests.helpers import make_batch
from tests.release_oracle import release_step


def seq(scores, mask):
    return (scores * mask).sum(-1), mask.sum(-1)


# --- target lengths ---------------------------------------------------------------------------


def test_target_lengths_each_aggregator_by_hand():
    lengths = torch.tensor([1200.0, 3000.0, 2000.0, 2600.0, 900.0, 4000.0, 5000.0, 100.0, 7000.0])
    correct = torch.tensor([1, 0, 1, 1, 1, 0, 0, 0, 0], dtype=torch.bool)
    gid = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    expect = {
        "mean_correct": [(1200 + 2000 + 2600) / 3, 1000.0, 6000.0],  # group 1 clamps up to the floor
        "min_correct": [1200.0, 1000.0, 6000.0],
        "median_correct": [2000.0, 1000.0, 6000.0],
        "mean_all": [(1200 + 3000 + 2000 + 2600) / 4, (900 + 4000) / 2, 12100 / 3],  # no bmax fallback
    }
    for agg, want in expect.items():
        got = target_lengths(lengths, correct, gid, 3, LeadConfig(aggregator=agg, bmax=6000))
        assert got.tolist() == pytest.approx(want), agg


def test_median_of_even_count_is_mean_of_middle_values():
    lengths = torch.tensor([1500.0, 3000.0, 2000.0, 2500.0])
    correct = torch.ones(4, dtype=torch.bool)
    got = target_lengths(lengths, correct, torch.zeros(4, dtype=torch.long), 1, LeadConfig(aggregator="median_correct"))
    assert got.item() == pytest.approx(2250.0)


def test_unsolved_prompt_gets_bmax_except_under_mean_all():
    lengths = torch.tensor([1500.0, 2500.0])
    correct = torch.zeros(2, dtype=torch.bool)
    gid = torch.zeros(2, dtype=torch.long)
    assert target_lengths(lengths, correct, gid, 1, LeadConfig(bmax=7000)).item() == 7000
    assert target_lengths(lengths, correct, gid, 1, LeadConfig(bmax=7000, aggregator="mean_all")).item() == 2000


# --- efficiency rewards -----------------------------------------------------------------------


def test_efficiency_reward_shapes_by_hand():
    lengths = torch.tensor([1000.0, 2000.0, 3000.0, 5000.0, 400.0, 3000.0])
    correct = torch.tensor([1, 1, 1, 1, 1, 0], dtype=torch.bool)
    lstar = torch.full((6,), 2000.0)
    sym = efficiency_rewards(lengths, correct, lstar, LeadConfig(lstar_mode="max_sym"))
    assert sym.tolist() == pytest.approx([0.5, 1.0, 0.5, -0.5, 0.2, 0.5])
    upper = efficiency_rewards(lengths, correct, lstar, LeadConfig(lstar_mode="upper_only"))
    assert upper.tolist() == pytest.approx([0.0, 0.0, -0.5, -1.0, 0.0, -0.5])
    asym = efficiency_rewards(lengths, correct, lstar, LeadConfig(lstar_mode="max_asym"))
    # correct: max(0, 1 - l/L*), but 0 under min_correct_len (400 < 500); incorrect: clamp(1 - l/L*, -1, 0)
    assert asym.tolist() == pytest.approx([0.5, 0.0, 0.0, 0.0, 0.0, -0.5])
    short_rule_off = efficiency_rewards(lengths, correct, lstar, LeadConfig(lstar_mode="max_asym", min_correct_len=0))
    assert short_rule_off[4].item() == pytest.approx(0.8)


def test_max_asym_short_answer_rule_is_strictly_below_min_correct_len():
    lstar = torch.full((4,), 2000.0)
    lengths = torch.tensor([499.0, 500.0, 499.0, 500.0])
    correct = torch.tensor([1, 1, 0, 0], dtype=torch.bool)
    got = efficiency_rewards(lengths, correct, lstar, LeadConfig(lstar_mode="max_asym", min_correct_len=500))
    # 499 < 500 is "too short" (0); 500 itself is scored, 1 - 500/2000; incorrect rollouts never get a bonus
    assert got.tolist() == [0.0, 0.75, 0.0, 0.0]


def test_zero_unsolved_efficiency_removes_length_signal_of_unsolved_prompts():
    scores = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    lengths = torch.tensor([1000.0, 3000.0, 6000.0, 1500.0, 2500.0, 4000.0])
    uids = ["u", "u", "u", "s", "s", "s"]
    release = LeadController()
    _, m_release = lead_advantages(scores, lengths, uids, LeadConfig(), release)
    fixed = LeadController()
    adv, m_fixed = lead_advantages(scores, lengths, uids, LeadConfig(zero_unsolved_efficiency=True), fixed)
    # Release: r = l / bmax for the unsolved prompt, so its rollouts differ by length.
    assert m_release["lead/r_eff_mean"] != pytest.approx(m_fixed["lead/r_eff_mean"])
    # Fixed: all three unsolved rollouts have identical c and r, hence identical advantages.
    assert adv[0].item() == pytest.approx(adv[1].item()) == pytest.approx(adv[2].item())


# --- PSI statistics and controller ------------------------------------------------------------


def test_psi_statistics_by_hand():
    # Two prompts of 2 rollouts: c = [1, 0 | 1, 1]; r = [0.5, -1 | 1.0, 0.0].
    c = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    r = torch.tensor([0.5, -1.0, 1.0, 0.0], dtype=torch.float64)
    correct = c > 0.5
    gid = torch.tensor([0, 0, 1, 1])
    cfg = LeadConfig()
    s = psi_statistics(c, r, correct, gid, 2, cfg)
    # correctness: means (0.5, 1) -> mu 0.75; within var (0.25, 0) mean 0.125; between var 0.0625
    assert s["mu_corr"].item() == pytest.approx(0.75)
    assert s["sigma_corr"].item() == pytest.approx(math.sqrt(0.1875 + 1e-8))
    # efficiency over correct only: group 0 {0.5}, group 1 {1, 0}: means (0.5, 0.5), vars (0, 0.25)
    assert s["mu_eff"].item() == pytest.approx(0.5)
    assert s["sigma_eff"].item() == pytest.approx(math.sqrt(0.125 + 0.0 + 1e-8))
    cv_c, cv_e = math.sqrt(0.1875) / 0.75, math.sqrt(0.125) / 0.5
    p_c, p_e = 0.25, 0.25
    d_c = cv_c / (cv_c + cv_e) * p_c
    d_e = cv_e / (cv_c + cv_e) * p_e
    assert s["D_corr"].item() == pytest.approx(d_c, rel=1e-6)
    assert s["target_w_corr"].item() == pytest.approx(d_c / (d_c + d_e), rel=1e-6)


def test_psi_with_no_correct_rollout_has_zero_efficiency_stats():
    c = torch.zeros(4, dtype=torch.float64)
    s = psi_statistics(c, torch.ones(4, dtype=torch.float64), c > 0.5, torch.tensor([0, 0, 1, 1]), 2, LeadConfig())
    assert s["mu_eff"].item() == 0 and s["sigma_eff"].item() == 0 and s["cv_eff"].item() == 0
    # mu_c = 0 makes CV_c = sigma/eps = 1e-4/1e-8 = 1e4: the whole target goes to correctness.
    assert s["cv_corr"].item() == pytest.approx(1e4)
    assert s["target_w_corr"].item() == pytest.approx(1.0)


def test_controller_ema_floor_and_static_override_over_steps():
    cfg = LeadConfig(beta=0.9, lambda_min=0.3)
    ctl = LeadController()
    assert ctl.update(0.1, 0.9, cfg) == pytest.approx((0.46, 0.54))  # 0.9*0.5 + 0.1*0.1
    assert ctl.update(0.1, 0.9, cfg) == pytest.approx((0.424, 0.576))  # 0.9*0.46 + 0.01
    for _ in range(60):
        lam_c, lam_e = ctl.update(0.0, 1.0, cfg)
    assert (lam_c, lam_e) == pytest.approx((0.3, 0.7))  # floored
    assert ctl.weights[0] < 0.3 and ctl.step == 62  # stored unfloored
    static = LeadConfig(static_lambda_corr=0.2, lambda_min=0.3)
    assert ctl.update(0.9, 0.1, static) == pytest.approx((0.2, 0.8))  # release: floor ignored
    assert ctl.weights == pytest.approx([0.2, 0.8])
    assert ctl.update(0.9, 0.1, LeadConfig(static_lambda_corr=0.2, static_floor=True)) == pytest.approx((0.3, 0.7))


def test_controller_state_dict_is_json_and_restores_exactly():
    cfg = LeadConfig()
    ctl = LeadController()
    for tau in (0.2, 0.7, 0.4):
        ctl.update(tau, 1 - tau, cfg)
    restored = LeadController()
    restored.load_state_dict(json.loads(json.dumps(ctl.state_dict())))
    assert restored.update(0.3, 0.7, cfg) == ctl.update(0.3, 0.7, cfg)
    with pytest.raises(ValueError, match="missing"):
        LeadController().load_state_dict({"weights": None})


# --- whitening --------------------------------------------------------------------------------


def test_whiten_token_weighted_matches_broadcast_masked_whiten():
    values = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    lengths = torch.tensor([3, 1, 5])
    mask = (torch.arange(6)[None] < lengths[:, None]).double()
    tok = values[:, None] * mask
    mean = (tok * mask).sum() / mask.sum()
    var = (((tok - mean) ** 2) * mask).sum() / (mask.sum() - 1)
    expect = ((tok - mean) / torch.sqrt(var + 1e-8)) * mask
    got = whiten(values, lengths)[:, None] * mask
    assert torch.allclose(got, expect)
    seq_w = whiten(values, lengths, weighting="sequence")
    assert seq_w.mean().item() == pytest.approx(0.0, abs=1e-12)


# --- agreement with the release's behaviour ---------------------------------------------------

RELEASE_CASES = (
    [dict(lstar_mode=m) for m in LSTAR_MODES]
    + [dict(aggregator=a) for a in AGGREGATORS]
    + [dict(static_lambda_corr=0.25), dict(alpha=2.0, beta=0.5, lambda_min=0.1), dict(bmax=4000.0)]
)


@pytest.mark.parametrize("knobs", RELEASE_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_matches_release_step_after_step(knobs):
    cfg = LeadConfig(**knobs)
    oracle_knobs = dict(
        alpha=cfg.alpha,
        beta=cfg.beta,
        bmax=cfg.bmax,
        w_min=cfg.lambda_min,
        lstar_mode=cfg.lstar_mode,
        aggregator=cfg.aggregator,
        static_w_corr=cfg.static_lambda_corr,
    )
    ctl, state = LeadController(), {}
    for step in range(4):
        scores, mask, uids = make_batch(num_prompts=6, n=4, max_len=int(cfg.bmax), seed=step, min_len=200)
        expect, m_expect = release_step(scores, mask, uids, state, **oracle_knobs)
        c, lengths = seq(scores, mask)
        adv, metrics = lead_advantages(c, lengths, uids, cfg, ctl)
        got = adv.float()[:, None] * mask
        assert torch.allclose(got, expect, atol=1e-4), f"step {step}: max diff {(got - expect).abs().max()}"
        for key, value in m_expect.items():
            assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
        assert ctl.weights == pytest.approx(state["weights"], abs=1e-6)


def test_metrics_cover_every_documented_name_and_mode_codes_are_distinct():
    scores, mask, uids = make_batch(4, 4, 3000, seed=1)
    c, lengths = seq(scores, mask)
    names = set()
    codes = set()
    for mode in LSTAR_MODES:
        _, metrics = lead_advantages(c, lengths, uids, LeadConfig(lstar_mode=mode), LeadController())
        names |= set(metrics)
        codes.add(metrics["lead/lstar_mode"])
    documented = {
        "step",
        "lstar_mode",
        "lstar_mean",
        "lstar_mean_solvable",
        "lstar_median_solvable",
        "lstar_min_solvable",
        "lstar_max_solvable",
        "num_solvable_prompts",
        "num_unsolved_prompts",
        "num_clamped_prompts",
        "accuracy_batch",
        "r_eff_mean",
        "r_eff_mean_correct",
        "r_eff_min_correct",
        "r_eff_max_correct",
        "resp_len_mean",
        "resp_len_mean_correct",
        "mu_corr",
        "sigma_corr",
        "mu_eff",
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
        "w_corr",
        "w_eff",
    }
    assert {f"lead/{n}" for n in documented} <= names
    assert len(codes) == 3
    _, static = lead_advantages(c, lengths, uids, LeadConfig(static_lambda_corr=0.4), LeadController())
    assert static["lead/static_w_corr"] == 0.4


def test_unsolved_and_clamped_prompts_are_counted_apart():
    # a: solved, correct lengths average 7000 > bmax, so L* is clamped to bmax; b: no correct
    # rollout; c: solved and short.
    scores = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    lengths = torch.tensor([6500.0, 7500.0, 300.0, 800.0, 900.0, 1500.0, 2500.0])
    uids = ["a", "a", "a", "b", "b", "c", "c"]
    for aggregator in AGGREGATORS:
        _, metrics = lead_advantages(
            scores, lengths, uids, LeadConfig(bmax=6000, aggregator=aggregator), LeadController()
        )
        assert metrics["lead/num_unsolved_prompts"] == 1, aggregator
        clamped = 0 if aggregator == "mean_all" else 1  # mean_all: a's mean of all lengths is 4767
        assert metrics["lead/num_clamped_prompts"] == clamped, aggregator
    _, metrics = lead_advantages(scores, lengths, uids, LeadConfig(bmax=6000), LeadController())
    assert metrics["lead/num_solvable_prompts"] == 1  # the release's count: L* < bmax


def test_non_finite_scores_raise_naming_rows_and_uids_before_the_controller_changes():
    scores, mask, uids = make_batch(4, 4, 3000, seed=2)
    c, lengths = seq(scores, mask)
    ctl = LeadController()
    lead_advantages(c, lengths, uids, LeadConfig(), ctl)
    before = json.dumps(ctl.state_dict())
    bad = c.clone()
    bad[[1, 5]] = float("nan")
    bad[9] = float("inf")
    with pytest.raises(ValueError) as err:
        lead_advantages(bad, lengths, uids, LeadConfig(), ctl)
    message = str(err.value)
    assert "3 of 16 rollouts have a non-finite score" in message
    for row in (1, 5, 9):
        assert repr(uids[row]) in message
    assert json.dumps(ctl.state_dict()) == before
    with pytest.raises(ValueError, match="all 3 responses of the batch are empty"):
        lead_advantages(torch.ones(3), torch.zeros(3), ["a"] * 3, LeadConfig(), ctl)
    assert json.dumps(ctl.state_dict()) == before


@pytest.mark.parametrize("key", ["epsilon", "group_std_eps", "sigma_eps", "whiten_eps"])
def test_epsilons_must_be_positive(key):
    with pytest.raises(ValueError, match=rf"algorithm\.lead\.{key}=0 is invalid: expected a value > 0"):
        LeadConfig(**{key: 0})
    # the smallest positive value keeps an all-wrong batch (no variance anywhere) finite
    adv, metrics = lead_advantages(
        torch.zeros(4),
        torch.tensor([100.0, 200, 300, 400]),
        ["a", "a", "b", "b"],
        LeadConfig(**{key: 1e-300}),
        LeadController(),
    )
    assert torch.isfinite(adv).all() and all(math.isfinite(v) for v in metrics.values())


def test_indicator_stats_make_plus_minus_one_rewards_act_like_one_zero():
    base = {"lstar_floor": 100.0, "bmax": 3000.0}
    ctl01, ctl_pm, ctl_raw = LeadController(), LeadController(), LeadController()
    for step in range(3):
        scores, mask, uids = make_batch(6, 4, 3000, seed=10 + step, min_len=200)
        c01, lengths = seq(scores, mask)
        c_pm = torch.where(c01 > 0.5, 1.0, -1.0) * (mask.sum(-1) > 0)
        want, m01 = lead_advantages(c01, lengths, uids, LeadConfig(**base), ctl01)
        got, m_pm = lead_advantages(
            c_pm, lengths, uids, LeadConfig(**base, correct_threshold=0.0, indicator_stats=True), ctl_pm
        )
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
        assert m_pm["lead/mu_corr"] == pytest.approx(m01["lead/mu_corr"])
        assert ctl_pm.weights == pytest.approx(ctl01.weights)
        # on 1/0 rewards the knob changes nothing (the release's default stays exact)
        same, _ = lead_advantages(c01, lengths, uids, LeadConfig(**base, indicator_stats=True), LeadController())
        first, _ = lead_advantages(c01, lengths, uids, LeadConfig(**base), LeadController())
        assert torch.equal(same, first)
        _, m_raw = lead_advantages(c_pm, lengths, uids, LeadConfig(**base, correct_threshold=0.0), ctl_raw)
        assert m_raw["lead/mu_corr"] == pytest.approx(2 * m01["lead/mu_corr"] - 1)  # the raw +-1 mean


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("lstar_mode", "paper", "lstar_mode='paper'"),
        ("aggregator", "max_correct", "aggregator='max_correct'"),
        ("lambda_min", 1.5, "lambda_min=1.5"),
        ("beta", 1.0, "beta=1.0"),
        ("bmax", 0, "bmax=0"),
        ("alpha", float("nan"), "alpha=nan"),
        ("static_lambda_corr", 2.0, "static_lambda_corr=2.0"),
        ("whiten_weighting", "prompt", "whiten_weighting='prompt'"),
    ],
)
def test_bad_knobs_are_rejected_with_key_and_value(key, value, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        LeadConfig(**{key: value})


def test_unknown_key_is_rejected():
    with pytest.raises(ValueError, match="lead_alpha"):
        LeadConfig.from_mapping({"lead_alpha": 1.0})


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\[N\]"):
        lead_advantages(torch.zeros(3, 2), torch.zeros(3, 2), ["a"] * 3, LeadConfig(), LeadController())
    with pytest.raises(ValueError, match="group ids"):
        lead_advantages(torch.zeros(3), torch.ones(3), ["a"] * 2, LeadConfig(), LeadController())


# --- properties over random and degenerate batches --------------------------------------------


@st.composite
def batches(draw):
    num_prompts = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 5), min_size=num_prompts, max_size=num_prompts))
    n = sum(sizes)
    cap = draw(st.sampled_from([8, 1500, 4000]))
    kind = draw(st.sampled_from(["random", "all_correct", "none_correct", "equal_lengths", "at_cap"]))
    lengths = draw(st.lists(st.integers(1, cap), min_size=n, max_size=n))
    correct = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if kind == "all_correct":
        correct = [True] * n
    elif kind == "none_correct":
        correct = [False] * n
    elif kind == "equal_lengths":
        lengths = [lengths[0]] * n
    elif kind == "at_cap":
        lengths = [cap] * n
    uids = [f"q{p}" for p, size in enumerate(sizes) for _ in range(size)]
    knobs = draw(
        st.fixed_dictionaries(
            {
                "lstar_mode": st.sampled_from(LSTAR_MODES),
                "aggregator": st.sampled_from(AGGREGATORS),
                "static_lambda_corr": st.none() | st.floats(0, 1),
                "zero_unsolved_efficiency": st.booleans(),
                "whiten_weighting": st.sampled_from(["token", "sequence"]),
            }
        )
    )
    perm = draw(st.permutations(range(n)))
    return torch.tensor(correct, dtype=torch.float32), torch.tensor(lengths), uids, cap, knobs, perm


@settings(max_examples=150, deadline=None)
@given(batches())
def test_properties_finite_bounded_permutation_invariant(batch):
    scores, lengths, uids, cap, knobs, perm = batch
    cfg = LeadConfig(bmax=float(max(cap, 1000)), **knobs)
    ctl = LeadController()
    adv, metrics = lead_advantages(scores, lengths, uids, cfg, ctl)
    assert torch.isfinite(adv).all()
    mask = (torch.arange(cap)[None] < lengths[:, None]).float()
    token_adv = adv[:, None] * mask
    assert (token_adv[mask == 0] == 0).all()
    assert 0.0 <= metrics["lead/w_corr"] <= 1.0 and metrics["lead/w_corr"] + metrics["lead/w_eff"] == pytest.approx(1)
    if cfg.static_lambda_corr is None:
        assert metrics["lead/w_corr"] >= cfg.lambda_min
    assert all(math.isfinite(v) for v in metrics.values())

    p = torch.tensor(perm)
    adv_p, metrics_p = lead_advantages(scores[p], lengths[p], [uids[i] for i in perm], cfg, LeadController())
    assert torch.allclose(adv_p, adv[p], atol=1e-5)
    assert metrics_p["lead/w_corr"] == pytest.approx(metrics["lead/w_corr"], abs=1e-9)


def test_group_index_is_by_value_not_position():
    gid, g = group_index(["b", "a", "b", "c"])
    assert g == 3 and gid[0] == gid[2] and len({gid[0].item(), gid[1].item(), gid[3].item()}) == 3
